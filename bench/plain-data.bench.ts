/**
 * Is the SDK's own byte format for saved state (packages/sdk/src/plain-data.ts) needed, or would
 * something simpler do? (issue 13). It is measured against the alternatives a store could use
 * instead, on what the stores are handed:
 *
 * - a saved state record (a participant mid-round: keys, round parameters, a payload reference);
 * - a 1,000,000-weight update's payload (6,375,019 bytes, power2/f32/b2/m3), which the state
 *   saver hands the store once per message (state-saver.ts);
 * - that payload framed as the file store and `serializeState` write it (plain data + CRC-32).
 *
 * Alternatives, each a round trip (encode, then decode back to the same value):
 * - `structuredClone`: what the memory store uses where the platform has it (not Hermes);
 * - JSON with every Uint8Array as base64url (core's `toBase64Url`) and a reviver: the usual
 *   "simpler" codec, text for AsyncStorage and files alike;
 * - `v8.serialize`: Node.js only, for scale.
 *
 * Also the integrity checks a frame could carry: plain-data's CRC-32 (JavaScript), and SHA-256
 * through `PetCrypto.hash` (node:crypto on Node.js, libsodium in browsers).
 *
 *   npx tsx --conditions=@petfl/source bench/plain-data.bench.ts   → bench/results/plain-data.json
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { deserialize, serialize } from 'node:v8';
import { fromBase64Url, initCrypto, maskObjectByteLength, toBase64Url } from '@petfl/core';
import { crc32, decodeFramed, decodePlainData, encodeFramed, encodePlainData } from '../packages/sdk/src/plain-data.ts';
import { stateRecord } from '../packages/sdk/src/state-codec.ts';
import { createInitialState } from '../packages/sdk/src/state-machine/state.ts';

const RESULTS = 'bench/results/plain-data.json';
const REPS = 15;
const crypto = await initCrypto();
const libsodium = await initCrypto({ native: false });

const MASK_CONFIG = { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' } as const;
const payloadBytes = maskObjectByteLength(MASK_CONFIG, 1_000_000);
const payload = crypto.randomBytes(payloadBytes);

// A state as the saver writes it while sending: every field of a real state, the payload by reference.
const initial = createInitialState(crypto);
const round = {
  roundId: 42,
  coordinatorPk: crypto.randomBytes(32),
  sumProbability: 0.1,
  updateProbability: 0.9,
  seed: crypto.randomBytes(32),
  maskConfig: MASK_CONFIG,
  modelLength: 1_000_000,
};
const record = stateRecord(
  {
    ...initial,
    round,
    phase: {
      kind: 'sending',
      tag: 1,
      payload,
      messageId: 7,
      maxChunkData: 1 << 20,
      next: 3,
      after: { kind: 'awaiting' },
    },
  } as never,
  { length: payload.length, sha256: crypto.hash(payload) },
);

/** Median milliseconds of `fn` over REPS runs after two warm-ups. */
function time(fn: () => void): number {
  fn();
  fn();
  const xs: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t = performance.now();
    fn();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)] as number;
}

const r3 = (x: number) => Number(x.toPrecision(3));

const toJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v) => (v instanceof Uint8Array ? { $bytes: toBase64Url(v) } : v));
const fromJson = (text: string): unknown =>
  JSON.parse(text, (_key, v) =>
    v !== null && typeof v === 'object' && typeof v.$bytes === 'string' && Object.keys(v).length === 1
      ? fromBase64Url(v.$bytes, 'bytes')
      : v,
  );

function codecs(value: unknown) {
  const plain = encodePlainData(value);
  const json = toJson(value);
  const v8 = serialize(value);
  return {
    plainData: {
      bytes: plain.length,
      roundTripMs: r3(time(() => decodePlainData(encodePlainData(value)))),
    },
    framedPlainData: {
      bytes: plain.length + 13,
      roundTripMs: r3(time(() => decodeFramed('PFLS', encodeFramed('PFLS', value), 'bench'))),
    },
    structuredClone: { roundTripMs: r3(time(() => structuredClone(value))) },
    jsonBase64url: {
      bytes: Buffer.byteLength(json),
      roundTripMs: r3(time(() => fromJson(toJson(value)))),
    },
    v8Serialize: { bytes: v8.length, roundTripMs: r3(time(() => deserialize(serialize(value)))) },
  };
}

// The codecs must agree on the value before they are timed.
const back = fromJson(toJson(record)) as { phase: { payload: unknown } };
if (JSON.stringify(decodePlainData(encodePlainData(record))) !== JSON.stringify(back)) {
  throw new Error('plain data and JSON disagree on the record');
}

const results = {
  date: new Date().toISOString(),
  node: process.version,
  stateRecord: codecs(record),
  payload: { bytes: payloadBytes, ...codecs(payload) },
  integrity: {
    payloadBytes,
    crc32Ms: r3(time(() => crc32(payload))),
    sha256NativeMs: r3(time(() => crypto.hash(payload))),
    sha256LibsodiumMs: r3(time(() => libsodium.hash(payload))),
  },
};

mkdirSync('bench/results', { recursive: true });
writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
console.log(`\nwritten to ${RESULTS}`);
