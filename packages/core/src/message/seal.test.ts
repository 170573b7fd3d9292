import { describe, expect, it } from 'vitest';
import { initCrypto, SEAL_OVERHEAD_BYTES } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';
import {
  errorCode,
  FLOAT_CONFIG,
  fixedSeed,
  fixtureKeys,
  fixtureMessages,
  toHex,
} from '../testing/message-fixtures.ts';
import { ChunkAssembler, decodeChunk, encodeChunk } from './chunk.ts';
import { HEADER_BYTES, TAGS } from './header.ts';
import { decodePayload, encodeFrame, encodeMessage, type Message } from './message.ts';
import { openFrame, openMessage, sealChunk, sealFrame, sealMessage, sealMessageChunks, signMessage } from './seal.ts';

const crypto = await initCrypto();
const keys = fixtureKeys(crypto);
const messages = fixtureMessages(crypto);
const round = { config: FLOAT_CONFIG, modelLength: 16 };
const kinds = ['sum', 'update', 'sum2'] as const;

const signed = (message: Message) => signMessage(crypto, encodeMessage(message), keys.participant.secretKey);
const open = (sealed: Uint8Array) => () => openMessage(crypto, sealed, keys.coordinator, round);
/** Seals (already signed or deliberately broken) bytes to the fixture round key. */
const reseal = (bytes: Uint8Array) => crypto.sealEnvelope(bytes, keys.coordinator.publicKey);
/** Re-signs tampered bytes, so that only the tampering itself can be rejected. */
const resign = (bytes: Uint8Array) => signMessage(crypto, bytes, keys.participant.secretKey);

/** The code an unsealed byte flip at `index` must give when the signature is left as it was. */
function expectedFlipCode(index: number, flipped: number): readonly string[] {
  if (index < 96) return ['bad-signature']; // signature, participant pk
  if (index < 128) return ['wrong-coordinator-key'];
  if (index < 132) return ['length-mismatch'];
  if (index === 132) return flipped >= 1 && flipped <= 3 ? ['bad-signature'] : ['unknown-tag'];
  if (index === 133) return flipped === 1 ? ['bad-signature'] : ['invalid-field'];
  if (index < HEADER_BYTES) return ['reserved-nonzero'];
  return ['bad-signature'];
}

describe('signing, sealing and opening messages (protocol.md §3.1–3.2)', () => {
  it('signs the golden messages (Ed25519 is deterministic)', () => {
    const golden = Object.fromEntries(kinds.map((k) => [k, toHex(crypto.hash(signed(messages[k])))]));
    expect(golden).toEqual({
      sum: '4fdb2966d928526ce6a35e827198dd1f27900a0d9cfdd265d8894090b0280b27',
      sum2: '9cbc588296c268393d927863b89d080667a6869bb8f991e20856f29f34b260e4',
      update: '87ccd85ddbe9f2b64e0fb9c0358af91384c3102bfb50d6dc1bef7594cb6faafd',
    });
    const bytes = signed(messages.sum);
    expect(crypto.verify(bytes.subarray(0, 64), bytes.subarray(64), keys.participant.publicKey)).toBe(true);
  });

  for (const kind of kinds) {
    it(`seals and opens a ${kind} message`, () => {
      const sealed = sealMessage(crypto, messages[kind], keys.participant.secretKey);
      expect(sealed.length).toBe(encodeMessage(messages[kind]).length + 48);
      expect(openMessage(crypto, sealed, keys.coordinator, round)).toStrictEqual({
        participantPk: keys.participant.publicKey,
        coordinatorPk: keys.coordinator.publicKey,
        tag: kind,
        signature: signed(messages[kind]).subarray(0, 64).slice(),
        multipart: false,
        payload: messages[kind].payload,
      });
    });

    it(`rejects every truncation and every byte flip of a sealed ${kind} message`, () => {
      const sealed = sealMessage(crypto, messages[kind], keys.participant.secretKey);
      for (let k = 1; k <= sealed.length; k++) {
        expect(errorCode(open(sealed.subarray(0, sealed.length - k)))).toBe('decrypt-failed'); // every prefix
        expect(errorCode(open(sealed.subarray(k)))).toBe('decrypt-failed'); // every suffix
      }
      for (let i = 0; i < sealed.length; i++) {
        for (const mask of [0x01, 0xff]) {
          const bad = sealed.slice();
          bad[i] = (bad[i] as number) ^ mask;
          const fn = open(bad);
          expect(fn).toThrow(PetError);
          expect(errorCode(fn)).toBe('decrypt-failed');
        }
      }
    });

    it(`rejects every byte flip of an unsealed ${kind} message, re-sealed`, () => {
      const bytes = signed(messages[kind]);
      for (let i = 0; i < bytes.length; i++) {
        for (const mask of [0x01, 0xff]) {
          const bad = bytes.slice();
          bad[i] = (bad[i] as number) ^ mask;
          expect(expectedFlipCode(i, bad[i] as number)).toContain(errorCode(open(reseal(bad))));
        }
      }
    });

    it(`decodes or rejects with a PetError every re-signed payload flip of a ${kind} message`, () => {
      const bytes = signed(messages[kind]);
      for (let i = HEADER_BYTES; i < bytes.length; i++) {
        for (const mask of [0x01, 0xff]) {
          const bad = bytes.slice();
          bad[i] = (bad[i] as number) ^ mask;
          const code = errorCode(open(reseal(resign(bad))));
          expect(code.startsWith('not a PetError')).toBe(false);
          expect(code).not.toBe('bad-signature');
        }
      }
    });
  }

  it('checks length, round key, tag, flags and reserved bytes before the signature', () => {
    const bytes = signed(messages.update);
    const patched = (at: number, value: number) => {
      const b = bytes.slice();
      b[at] = value;
      return reseal(b);
    };
    expect(errorCode(open(patched(131, 0)))).toBe('length-mismatch');
    expect(errorCode(open(patched(132, 9)))).toBe('unknown-tag');
    expect(errorCode(open(patched(133, 4)))).toBe('invalid-field');
    expect(errorCode(open(patched(135, 1)))).toBe('reserved-nonzero');
    // A message addressed to another round key, sealed to this one.
    const other = crypto.encryptKeyPair(fixedSeed(99));
    const misaddressed = signMessage(
      crypto,
      encodeMessage({ ...messages.sum, coordinatorPk: other.publicKey }),
      keys.participant.secretKey,
    );
    expect(errorCode(open(reseal(misaddressed)))).toBe('wrong-coordinator-key');
    // Length checked first: a longer message with a stale length field.
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(errorCode(open(reseal(longer)))).toBe('length-mismatch');
    // Signed by someone else.
    const impostor = crypto.signingKeyPair(fixedSeed(98));
    expect(errorCode(open(reseal(signMessage(crypto, encodeMessage(messages.sum), impostor.secretKey))))).toBe(
      'bad-signature',
    );
  });

  it('rejects what is not a message', () => {
    expect(errorCode(open(reseal(new Uint8Array(HEADER_BYTES - 1))))).toBe('truncated');
    expect(errorCode(open(reseal(new Uint8Array(0))))).toBe('truncated');
    const stranger = crypto.encryptKeyPair(fixedSeed(97));
    expect(errorCode(open(crypto.sealEnvelope(signed(messages.sum), stranger.publicKey)))).toBe('decrypt-failed');
    expect(errorCode(open(new Uint8Array(47)))).toBe('decrypt-failed');
  });

  it('checks the payload against the round after the signature', () => {
    const sealed = sealMessage(crypto, messages.update, keys.participant.secretKey);
    expect(errorCode(() => openMessage(crypto, sealed, keys.coordinator, { ...round, modelLength: 17 }))).toBe(
      'model-length-mismatch',
    );
    expect(errorCode(() => openMessage(crypto, sealed, keys.coordinator))).toBe('no error');
  });

  it('signs and seals in place exactly what sign-then-seal gives, opened by the plain crypto_box_seal_open', () => {
    // Sizes across the work buffer's growth and reuse: small after large must not see stale bytes.
    for (const kind of ['update', 'sum', 'sum2', 'update', 'sum'] as const) {
      const sealed = sealMessage(crypto, messages[kind], keys.participant.secretKey);
      expect(crypto.openEnvelope(sealed, keys.coordinator)).toEqual(signed(messages[kind]));
    }
    const fields = {
      participantPk: keys.participant.publicKey,
      coordinatorPk: keys.coordinator.publicKey,
      tag: 'sum2' as const,
      multipart: false, // openFrame then leaves the body undecoded
    };
    for (const length of [0, 1, 200_000, 3]) {
      const body = Uint8Array.from({ length }, (_, i) => (i * 7 + length) & 0xff);
      const sealed = sealFrame(crypto, fields, body, keys.participant.secretKey);
      const expected = signMessage(crypto, encodeFrame(fields, body), keys.participant.secretKey);
      expect(crypto.openEnvelope(sealed, keys.coordinator)).toEqual(expected);
      // and the in-place opening reads it back
      const frame = openFrame(crypto, reseal(expected), keys.coordinator);
      expect(frame.body).toEqual(body);
      expect(frame.signature).toEqual(expected.subarray(0, 64));
    }
  });

  it('opens over the sealed bytes when given them: the same frame, no new array; a failure leaves them', () => {
    for (const kind of kinds) {
      const sealed = sealMessage(crypto, messages[kind], keys.participant.secretKey);
      const copied = openFrame(crypto, sealed.slice(), keys.coordinator);
      const given = sealed.slice();
      const frame = openFrame(crypto, given, keys.coordinator, { inPlace: true });
      expect(frame).toEqual(copied);
      expect(frame.body.buffer).toBe(given.buffer);
      expect(frame.body.byteOffset).toBe(HEADER_BYTES);
      expect(frame.body.byteOffset + frame.body.byteLength).toBe(given.length - SEAL_OVERHEAD_BYTES);
      // Without inPlace the caller's bytes are left alone.
      const kept = sealed.slice();
      openFrame(crypto, kept, keys.coordinator);
      expect(kept).toEqual(sealed);
    }
    // A body large enough for the native signature check (Node.js) too.
    const fields = {
      participantPk: keys.participant.publicKey,
      coordinatorPk: keys.coordinator.publicKey,
      tag: 'update' as const,
      multipart: false,
    };
    const body = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 13) & 0xff);
    const large = sealFrame(crypto, fields, body, keys.participant.secretKey);
    const frame = openFrame(crypto, large, keys.coordinator, { inPlace: true });
    expect(frame.body).toEqual(body);
    expect(frame.body.buffer).toBe(large.buffer);

    const sealed = sealMessage(crypto, messages.update, keys.participant.secretKey);
    // Sealed to another key: it does not open, and the bytes given stay as they were.
    const stranger = crypto.encryptKeyPair(fixedSeed(96));
    const given = sealed.slice();
    expect(errorCode(() => openFrame(crypto, given, stranger, { inPlace: true }))).toBe('decrypt-failed');
    expect(given).toEqual(sealed);
    // A bad signature is still found in the bytes opened in place.
    const forged = signed(messages.update);
    forged[0] = (forged[0] as number) ^ 1;
    expect(errorCode(() => openFrame(crypto, reseal(forged), keys.coordinator, { inPlace: true }))).toBe(
      'bad-signature',
    );
  });

  it('seals a chunk straight from its data exactly as sealFrame seals its encoded chunk payload', () => {
    const fields = {
      participantPk: keys.participant.publicKey,
      coordinatorPk: keys.coordinator.publicKey,
      tag: 'update' as const,
      multipart: true,
    };
    const payload = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 13 + 5) & 0xff);
    // After a larger chunk, a smaller one reuses the work buffer: no stale bytes may show.
    for (const [index, start, end, last] of [
      [0, 0, 200_000, false],
      [1, 200_000, 300_000, true],
      [2, 300_000, 300_000, true],
    ] as const) {
      const chunk = { index, messageId: 0xbeef, last, data: payload.subarray(start, end) };
      const sealed = sealChunk(crypto, fields, chunk, keys.participant.secretKey);
      const expected = signMessage(crypto, encodeFrame(fields, encodeChunk(chunk)), keys.participant.secretKey);
      expect(crypto.openEnvelope(sealed, keys.coordinator)).toEqual(expected);
      const opened = openMessage(crypto, sealed, keys.coordinator);
      if (!opened.multipart) throw new Error('expected a multipart message');
      expect(decodeChunk(opened.chunk)).toEqual({ ...chunk, data: payload.slice(start, end) });
    }
    expect(
      errorCode(() =>
        sealChunk(
          crypto,
          fields,
          { index: 70_000, messageId: 1, last: true, data: payload },
          keys.participant.secretKey,
        ),
      ),
    ).toBe('out-of-range');
    expect(
      errorCode(() =>
        sealChunk(
          crypto,
          { ...fields, multipart: false },
          { index: 0, messageId: 1, last: true, data: payload },
          keys.participant.secretKey,
        ),
      ),
    ).toBe('invalid-field');
  });

  it('refuses bad keys before sealing, and a throwing check leaves the next message intact', () => {
    const fields = {
      participantPk: keys.participant.publicKey,
      coordinatorPk: new Uint8Array(32), // small order
      tag: 'sum' as const,
      multipart: false,
    };
    expect(errorCode(() => sealFrame(crypto, fields, new Uint8Array(96), keys.participant.secretKey))).toBe(
      'invalid-key',
    );
    expect(
      errorCode(() =>
        sealFrame(
          crypto,
          { ...fields, coordinatorPk: keys.coordinator.publicKey },
          new Uint8Array(96),
          new Uint8Array(32),
        ),
      ),
    ).toBe('invalid-field');
    expect(
      errorCode(() =>
        crypto.openSignedSealed(sealMessage(crypto, messages.sum, keys.participant.secretKey), keys.coordinator, () => {
          throw new PetError('truncated', 'check');
        }),
      ),
    ).toBe('truncated');
    expect(
      errorCode(() =>
        crypto.openSignedSealed(new Uint8Array(100), { ...keys.coordinator, secretKey: new Uint8Array(31) }, () => {
          throw new Error('not reached');
        }),
      ),
    ).toBe('invalid-key');
    expect(
      openMessage(crypto, sealMessage(crypto, messages.sum, keys.participant.secretKey), keys.coordinator).tag,
    ).toBe('sum');
  });

  for (const kind of kinds) {
    it(`splits a ${kind} message into sealed chunks that reassemble from chunk 0 in any order`, () => {
      const sealed = sealMessageChunks(crypto, messages[kind], keys.participant.secretKey, {
        maxChunkData: 50,
        messageId: 42,
      });
      const payloadLength = encodeMessage(messages[kind]).length - HEADER_BYTES;
      expect(sealed.length).toBe(Math.ceil(payloadLength / 50));
      const assembler = new ChunkAssembler({ maxBytesPerParticipant: 10_000, maxTotalBytes: 10_000 });
      let payload: Uint8Array | undefined;
      const [first, ...rest] = sealed;
      for (const s of [first as Uint8Array, ...rest.reverse()]) {
        const opened = openMessage(crypto, s, keys.coordinator, round);
        if (!opened.multipart) throw new Error('expected a multipart message');
        expect(opened.tag).toBe(kind);
        expect(decodeChunk(opened.chunk).messageId).toBe(42);
        payload = assembler.add('participant', TAGS[opened.tag], opened.chunk);
      }
      expect(payload).toBeDefined();
      expect(decodePayload(kind, payload as Uint8Array, round)).toStrictEqual(messages[kind].payload);
    });
  }

  it('flags a message that fits in one chunk as multipart too', () => {
    const [only, ...rest] = sealMessageChunks(crypto, messages.sum, keys.participant.secretKey, {
      maxChunkData: 1000,
      messageId: 0,
    });
    expect(rest).toEqual([]);
    const opened = openMessage(crypto, only as Uint8Array, keys.coordinator);
    expect(opened.multipart).toBe(true);
    if (opened.multipart) expect(decodeChunk(opened.chunk).last).toBe(true);
  });

  it('rejects a multipart message whose chunk header is malformed', () => {
    const chunked = sealMessageChunks(crypto, messages.sum, keys.participant.secretKey, {
      maxChunkData: 1000,
      messageId: 0,
    });
    const bytes = crypto.openEnvelope(chunked[0] as Uint8Array, keys.coordinator);
    bytes[HEADER_BYTES + 5] = 1; // chunk reserved byte
    expect(errorCode(open(reseal(resign(bytes))))).toBe('reserved-nonzero');
  });
});
