/**
 * Test support: the fuzzer's message generators (state-machine/fuzz.test.ts runs 10,000 of
 * them in process; bench/adversarial.bench.ts 100,000 over HTTP against the CLI). Each makes a
 * message no honest participant sends — random bytes, truncations, bit flips, replays, messages
 * sealed to the previous round, garbage payloads and headers, ineligible signatures, chunk
 * abuse, oversized bodies — that the coordinator must refuse with a 4xx.
 */

import {
  encodeChunk,
  encodeMessage,
  HEADER_BYTES,
  type PetCrypto,
  type RoundParameters,
  signMessage,
} from '@petfl/core';
import { type SimParticipant, sumMessage } from './sim.ts';

/** A small deterministic PRNG, so a failure reproduces. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

export type Mutator = (rand: () => number) => Uint8Array;

export function mutators(
  crypto: PetCrypto,
  params: RoundParameters,
  stranger: SimParticipant,
  oldParams: RoundParameters,
  seen: Uint8Array[],
  maxBody: number,
): Mutator[] {
  const int = (rand: () => number, n: number) => Math.floor(rand() * n);
  const pick = (rand: () => number) => seen[int(rand, seen.length)] as Uint8Array;
  /** A well-signed frame with the given tag and payload, sealed to `pk`. */
  const frame = (tag: 'sum' | 'update' | 'sum2', payload: Uint8Array, pk = params.coordinatorPk) => {
    const header = encodeMessage({
      participantPk: stranger.keys.publicKey,
      coordinatorPk: pk,
      payload: { kind: 'sum', sum: { sumSignature: new Uint8Array(64), ephemeralPk: new Uint8Array(32) } },
    }).subarray(0, HEADER_BYTES);
    const bytes = new Uint8Array(HEADER_BYTES + payload.length);
    bytes.set(header);
    bytes.set(payload, HEADER_BYTES);
    new DataView(bytes.buffer).setUint32(128, bytes.length);
    bytes[132] = { sum: 1, update: 2, sum2: 3 }[tag];
    return crypto.sealEnvelope(signMessage(crypto, bytes, stranger.keys.secretKey), pk);
  };
  /** A well-signed multipart frame carrying `chunk` as its chunk payload. */
  const frameMultipart = (tag: 'sum' | 'update' | 'sum2', chunk: Uint8Array) => {
    const bytes = new Uint8Array(HEADER_BYTES + chunk.length);
    bytes.set(
      encodeMessage({
        participantPk: stranger.keys.publicKey,
        coordinatorPk: params.coordinatorPk,
        payload: { kind: 'sum', sum: { sumSignature: new Uint8Array(64), ephemeralPk: new Uint8Array(32) } },
      }).subarray(0, HEADER_BYTES),
    );
    bytes.set(chunk, HEADER_BYTES);
    new DataView(bytes.buffer).setUint32(128, bytes.length);
    bytes[132] = { sum: 1, update: 2, sum2: 3 }[tag];
    bytes[133] = 1; // multipart
    return crypto.sealEnvelope(signMessage(crypto, bytes, stranger.keys.secretKey), params.coordinatorPk);
  };
  return [
    // random bytes
    (rand) => crypto.randomBytes(int(rand, 600)),
    // a seen (honest) sealed message, truncated
    (rand) => {
      const m = pick(rand);
      return m.slice(0, int(rand, m.length));
    },
    // a seen sealed message with one bit flipped
    (rand) => {
      const m = pick(rand).slice();
      const i = int(rand, m.length);
      m[i] = (m[i] as number) ^ (1 << int(rand, 8));
      return m;
    },
    // a replay of a seen message
    (rand) => pick(rand),
    // sealed to the previous round's key
    () =>
      sumMessage(crypto, oldParams, {
        ...stranger,
        selection: { task: 'sum', sumSignature: new Uint8Array(64) },
        ephemeral: crypto.encryptKeyPair(),
      }),
    // a signed frame whose payload is garbage of a random tag
    (rand) => frame((['sum', 'update', 'sum2'] as const)[int(rand, 3)] ?? 'sum', crypto.randomBytes(int(rand, 300))),
    // a signed frame with a corrupted header field, then re-signed
    (rand) => {
      const bytes = encodeMessage({
        participantPk: stranger.keys.publicKey,
        coordinatorPk: params.coordinatorPk,
        payload: { kind: 'sum', sum: { sumSignature: crypto.randomBytes(64), ephemeralPk: crypto.randomBytes(32) } },
      });
      const field = int(rand, 4);
      if (field === 0) bytes[132] = 4 + int(rand, 250); // unknown tag
      if (field === 1) bytes[133] = 2 << int(rand, 6); // unknown flag
      if (field === 2) bytes[134 + int(rand, 2)] = 1 + int(rand, 255); // reserved
      if (field === 3) new DataView(bytes.buffer).setUint32(128, bytes.length + 1 + int(rand, 9)); // length
      return crypto.sealEnvelope(signMessage(crypto, bytes, stranger.keys.secretKey), params.coordinatorPk);
    },
    // a validly signed message from a participant that is not eligible (random signatures)
    () =>
      crypto.sealEnvelope(
        signMessage(
          crypto,
          encodeMessage({
            participantPk: stranger.keys.publicKey,
            coordinatorPk: params.coordinatorPk,
            payload: {
              kind: 'sum',
              sum: { sumSignature: crypto.randomBytes(64), ephemeralPk: crypto.randomBytes(32) },
            },
          }),
          stranger.keys.secretKey,
        ),
        params.coordinatorPk,
      ),
    // a multipart frame with a garbage chunk header
    (rand) => {
      const sealedFrame = encodeMessage({
        participantPk: stranger.keys.publicKey,
        coordinatorPk: params.coordinatorPk,
        payload: { kind: 'sum', sum: { sumSignature: new Uint8Array(64), ephemeralPk: new Uint8Array(32) } },
      });
      sealedFrame[133] = 1; // multipart
      sealedFrame.set(crypto.randomBytes(8), HEADER_BYTES);
      sealedFrame[HEADER_BYTES + 4] = 0x80 | int(rand, 0x7f); // unknown chunk flag bits
      return crypto.sealEnvelope(signMessage(crypto, sealedFrame, stranger.keys.secretKey), params.coordinatorPk);
    },
    // chunk abuse: a later chunk of a message that never started (no chunk 0)
    (rand) =>
      frameMultipart(
        (['sum', 'update', 'sum2'] as const)[int(rand, 3)] ?? 'update',
        encodeChunk({
          index: 1 + int(rand, 500),
          messageId: int(rand, 0x10000),
          last: rand() < 0.5,
          data: crypto.randomBytes(int(rand, 2000)),
        }),
      ),
    // chunk abuse: a chunk 0 from a key that is not eligible, with a large body
    (rand) =>
      frameMultipart(
        (['update', 'sum2'] as const)[int(rand, 2)] ?? 'update',
        encodeChunk({
          index: 0,
          messageId: int(rand, 0x10000),
          last: false,
          data: crypto.randomBytes(128 + int(rand, 8000)),
        }),
      ),
    // chunk abuse: a chunk 0 too short to carry the task signatures
    (rand) =>
      frameMultipart(
        'update',
        encodeChunk({ index: 0, messageId: 1, last: false, data: crypto.randomBytes(int(rand, 100)) }),
      ),
    // oversized
    (rand) => new Uint8Array(maxBody + 1 + int(rand, 100)),
  ];
}
