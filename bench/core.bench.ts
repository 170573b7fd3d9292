/**
 * `npm run bench`: the core's hot paths, each reported as a ratio to a floor
 * measured in the same run (docs/architecture.md §7.6). Results go to bench/results/core.json.
 *
 * Floors:
 * - masking and mask derivation: the raw ChaCha20 keystream rate of libsodium (the
 *   same library and call the masks are drawn from), times the keystream bytes the
 *   operation actually consumed (including rejected draws);
 * - adding a masked object to an aggregate: a plain Float64Array add of the same length.
 * Each figure is the median of several repetitions after a warm-up.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Aggregation,
  configName,
  decodeMaskObject,
  deriveMask,
  encodeMaskObject,
  groupFor,
  initCrypto,
  type MaskConfig,
  Masker,
  maskParams,
  openMessage,
  SEED_BYTES,
  sealMessage,
  toBase64Url,
} from '../packages/core/src/index.ts';
import { KEYSTREAM_CHUNK_BYTES, KeystreamReader } from '../packages/core/src/mask/sampling.ts';
import { fixtureModel } from '../packages/core/src/testing/index.ts';

const REPS = Number(process.env['BENCH_REPS'] ?? 9);
const crypto = await initCrypto();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Median milliseconds of `fn` over REPS runs after two warm-ups. */
function time(fn: () => void, reps = REPS): number {
  fn();
  fn();
  const xs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

const round = (x: number, digits = 3) => Number(x.toPrecision(digits));

// Floor 1: libsodium's ChaCha20 keystream, in the chunk size the mask reader uses.
const KEYSTREAM_BYTES = 16 * 1024 * 1024;
const keystreamMs = time(() => {
  const ks = crypto.keystream(new Uint8Array(SEED_BYTES).fill(7));
  for (let o = 0; o < KEYSTREAM_BYTES; o += KEYSTREAM_CHUNK_BYTES) ks.next(KEYSTREAM_CHUNK_BYTES);
  ks.dispose();
});
const keystreamBytesPerMs = KEYSTREAM_BYTES / keystreamMs;

/** Keystream bytes that masking `length` weights consumes with a given seed (draws, including rejections). */
function keystreamBytesForMask(config: MaskConfig, seed: Uint8Array, length: number): number {
  const group = groupFor(maskParams(config));
  const reader = new KeystreamReader(crypto.keystream(seed));
  group.draw(reader, group.alloc(1 + length), 0, 1 + length);
  const consumed = reader.consumed;
  reader.dispose();
  return consumed;
}

// 1. Masking a 1,000,000-weight f32 model.
const MODEL = 1_000_000;
const model = fixtureModel(MODEL, 1);
const masking = [
  { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' },
  { group: 'prime', data: 'f32', bound: 'b0', model: 'm3' },
].map((config) => {
  const c = config as MaskConfig;
  const masker = new Masker(crypto, c);
  const seed = new Uint8Array(SEED_BYTES).fill(3);
  const ms = time(() => masker.mask(model, 1, seed));
  const bytes = keystreamBytesForMask(c, seed, MODEL);
  const floorMs = bytes / keystreamBytesPerMs;
  return {
    config: configName(c),
    weights: MODEL,
    ms: round(ms),
    keystreamBytes: bytes,
    floorMs: round(floorMs),
    ratioToKeystreamFloor: round(ms / floorMs),
    target: '<= 2',
  };
});

// 2. Sum participant: derive and add 100 masks of 100,000 weights.
const sumConfig: MaskConfig = { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' };
const SEEDS = 100;
const SUM_LENGTH = 100_000;
const seeds = Array.from({ length: SEEDS }, () => crypto.randomBytes(SEED_BYTES));
const sumMs = time(() => {
  const acc = new Aggregation(sumConfig, SUM_LENGTH);
  for (const seed of seeds) acc.aggregate(deriveMask(crypto, sumConfig, seed, SUM_LENGTH));
}, 5);
let sumBytes = 0;
for (const seed of seeds) sumBytes += keystreamBytesForMask(sumConfig, seed, SUM_LENGTH);
const sumParticipant = {
  config: configName(sumConfig),
  masks: SEEDS,
  weights: SUM_LENGTH,
  ms: round(sumMs),
  keystreamBytes: sumBytes,
  floorMs: round(sumBytes / keystreamBytesPerMs),
  ratioToKeystreamFloor: round(sumMs / (sumBytes / keystreamBytesPerMs)),
};

// 3. Coordinator: add one masked 1M-weight object to an aggregate (and, separately, decode it from bytes).
const masker = new Masker(crypto, sumConfig);
const { masked } = masker.mask(model, 1);
const aggregation = new Aggregation(sumConfig, MODEL);
const addMs = time(() => aggregation.aggregate(masked), 21);
const plainA = new Float64Array(MODEL);
const plainB = Float64Array.from(masked.vector as Float64Array);
const plainMs = time(() => {
  for (let i = 0; i < MODEL; i++) plainA[i] = (plainA[i] as number) + (plainB[i] as number);
}, 21);
const maskedBytes = encodeMaskObject(masked);
const decodeMs = time(() => decodeMaskObject(maskedBytes, { config: sumConfig, length: MODEL }));
const coordinator = {
  config: configName(sumConfig),
  weights: MODEL,
  addMs: round(addMs),
  plainFloat64AddMs: round(plainMs),
  ratioToPlainAdd: round(addMs / plainMs),
  target: '<= 4',
  decodeAndValidateFromBytesMs: round(decodeMs),
  maskObjectBytes: maskedBytes.length,
};

// 4. Seal/open of a 1M-weight update message, and sign/verify.
const identity = crypto.signingKeyPair();
const roundKey = crypto.encryptKeyPair();
const sumKeys = Array.from({ length: 10 }, () => crypto.encryptKeyPair());
const { seed: maskSeed, masked: maskedModel } = masker.mask(model, 1);
const localSeedDict = new Map(sumKeys.map((k) => [toBase64Url(k.publicKey), crypto.seal(maskSeed, k.publicKey)]));
const message = {
  participantPk: identity.publicKey,
  coordinatorPk: roundKey.publicKey,
  payload: {
    kind: 'update' as const,
    update: {
      sumSignature: crypto.randomBytes(64),
      updateSignature: crypto.randomBytes(64),
      maskedModel,
      localSeedDict,
    },
  },
};
let sealed = sealMessage(crypto, message, identity.secretKey);
const sealMs = time(() => {
  sealed = sealMessage(crypto, message, identity.secretKey);
}, 5);
const openMs = time(() => openMessage(crypto, sealed, roundKey, { config: sumConfig, modelLength: MODEL }), 5);
const small = crypto.randomBytes(200);
let sig = crypto.sign(small, identity.secretKey);
const SIGN_OPS = 2000;
const signMs = time(() => {
  for (let i = 0; i < SIGN_OPS; i++) sig = crypto.sign(small, identity.secretKey);
}, 3);
const verifyMs = time(() => {
  for (let i = 0; i < SIGN_OPS; i++) crypto.verify(sig, small, identity.publicKey);
}, 3);
const messages = {
  updateMessageBytes: sealed.length,
  sealUpdateMs: round(sealMs),
  openUpdateMs: round(openMs),
  signPerSecond: round((SIGN_OPS / signMs) * 1000),
  verifyPerSecond: round((SIGN_OPS / verifyMs) * 1000),
};

const results = {
  date: new Date().toISOString(),
  machine: { node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length },
  repetitions: REPS,
  floor: {
    keystreamMBPerSecond: round((keystreamBytesPerMs * 1000) / 1e6),
    chunkBytes: KEYSTREAM_CHUNK_BYTES,
    library: 'libsodium-wrappers-sumo crypto_stream_chacha20_ietf_xor_ic',
  },
  masking,
  sumParticipant,
  coordinator,
  messages,
};

const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'core.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
console.log(`\nwritten to ${out}`);
