import { describe, expect, it } from 'vitest';
import { initCrypto } from '../crypto/sodium.ts';
import {
  errorCode,
  FLOAT_CONFIG,
  fixtureKeys,
  fixtureMessages,
  LIMBS_CONFIG,
  toHex,
} from '../testing/message-fixtures.ts';
import { decodeHeader, HEADER_BYTES } from './header.ts';
import { decodePayload, encodeFrame, encodeMessage, encodePayload } from './message.ts';

const crypto = await initCrypto();
const keys = fixtureKeys(crypto);
const messages = fixtureMessages(crypto);

describe('messages (protocol.md §3.1)', () => {
  it('encodes the golden unsigned messages', () => {
    const golden = {
      sum: toHex(crypto.hash(encodeMessage(messages.sum))),
      update: toHex(crypto.hash(encodeMessage(messages.update))),
      sum2: toHex(crypto.hash(encodeMessage(messages.sum2))),
    };
    expect(golden).toEqual({
      sum: 'd99ff012615fad485a7724ca3c62d88eb2b6037316cf293c1e38c842cddaae5e',
      sum2: 'd995fb8d9851ff158d4b5c5292378c4a8c81504d1b75e079b4abacaa525eac4f',
      update: 'bf28993db85ec98003efccbe9e29fcb27b0b3eea54a568cc623a72ed614360fa',
    });
  });

  for (const kind of ['sum', 'update', 'sum2'] as const) {
    it(`frames a ${kind} payload behind a header with a zero signature`, () => {
      const message = messages[kind];
      const bytes = encodeMessage(message);
      const payload = encodePayload(message.payload);
      expect(bytes.length).toBe(HEADER_BYTES + payload.length);
      expect(bytes.subarray(0, 64)).toEqual(new Uint8Array(64));
      expect(bytes.subarray(HEADER_BYTES)).toEqual(payload);
      expect(decodeHeader(bytes.subarray(0, HEADER_BYTES))).toStrictEqual({
        signature: new Uint8Array(64),
        participantPk: keys.participant.publicKey,
        coordinatorPk: keys.coordinator.publicKey,
        length: bytes.length,
        tag: kind,
        multipart: false,
      });
      expect(decodePayload(kind, payload)).toStrictEqual(message.payload);
      expect(decodePayload(kind, payload, { config: FLOAT_CONFIG, modelLength: 16 })).toStrictEqual(message.payload);
    });
  }

  it('checks masked models and masks against the round, and ignores it for sum', () => {
    const round = { config: FLOAT_CONFIG, modelLength: 15 };
    expect(errorCode(() => decodePayload('update', encodePayload(messages.update.payload), round))).toBe(
      'model-length-mismatch',
    );
    expect(
      errorCode(() => decodePayload('sum2', encodePayload(messages.sum2.payload), { ...round, config: LIMBS_CONFIG })),
    ).toBe('config-mismatch');
    expect(errorCode(() => decodePayload('sum', encodePayload(messages.sum.payload), round))).toBe('no error');
    // A payload under the wrong tag does not decode.
    expect(errorCode(() => decodePayload('sum', encodePayload(messages.sum2.payload)))).toBe('trailing-bytes');
  });

  it('frames chunks with the multipart flag', () => {
    const frame = encodeFrame(
      {
        participantPk: keys.participant.publicKey,
        coordinatorPk: keys.coordinator.publicKey,
        tag: 'sum2',
        multipart: true,
      },
      Uint8Array.of(1, 2, 3),
    );
    expect(toHex(frame.subarray(128))).toBe('0000008b03010000010203');
  });
});
