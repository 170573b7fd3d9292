/**
 * `npm run bench`: the core's hot paths, each reported as a ratio to a floor
 * measured in the same run (docs/architecture.md §7.6). Results go to bench/results/core.json.
 *
 * Floors:
 * - masking and mask derivation: the raw ChaCha20 keystream rate of the backend the masks are
 *   drawn with (node:crypto where Node.js offers it, libsodium in browsers; both are measured),
 *   times the keystream bytes the operation actually consumed (including rejected draws);
 * - adding a masked object to an aggregate: a plain Float64Array add of the same length;
 * - sealing and opening a message: the Ed25519 signature `initCrypto()` makes (two SHA-512 passes
 *   over the message; node:crypto's on Node.js), libsodium's crypto_box_seal and their inverses
 *   on the same bytes, without our encoding.
 * Each figure is the median of several repetitions after a warm-up. Mask objects are packed
 * at elementBits bits a weight (docs/decisions/0010-packed-mask-objects.md).
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Aggregation,
  allMaskConfigs,
  configName,
  decodeMaskObject,
  deriveMask,
  encodeMaskObject,
  encodeMessage,
  groupFor,
  initCrypto,
  type MaskConfig,
  Masker,
  maskObjectByteLength,
  maskParams,
  openFrame,
  openMessage,
  type PetCrypto,
  SEED_BYTES,
  sealMessage,
  signMessage,
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

/** Milliseconds of `fn` over REPS runs after two warm-ups, every run (for a median, or a floor's minimum). */
function runs(fn: () => void, reps = REPS): number[] {
  fn();
  fn();
  const xs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    xs.push(performance.now() - t);
  }
  return xs;
}

/** Median milliseconds of `fn` over REPS runs after two warm-ups. */
function time(fn: () => void, reps = REPS): number {
  return median(runs(fn, reps));
}

const round = (x: number, digits = 3) => Number(x.toPrecision(digits));

// Floor 1: the ChaCha20 keystream of the backend the masks are drawn with, in the chunk size the
// mask reader uses. Masking and Sum2 run twice: with `initCrypto()` as Node.js gets it (the
// keystream from node:crypto, crypto/native.ts) and with libsodium alone, as browsers and React
// Native run it (docs/decisions/0013-native-crypto-on-node.md); each against its own floor.
const KEYSTREAM_BYTES = 16 * 1024 * 1024;
const backends = { native: crypto, libsodium: await initCrypto({ native: false }) } as const;

/** The keystream rate of `c` in bytes per ms. */
function keystreamFloor(c: PetCrypto): number {
  // V8 first runs WebAssembly with its baseline compiler and tiers up in the background:
  // keystream for 2 s first, or the floor is measured on baseline code, slower than the masking.
  for (const start = performance.now(); performance.now() - start < 2000; ) {
    const ks = c.keystream(new Uint8Array(SEED_BYTES).fill(9));
    for (let o = 0; o < KEYSTREAM_BYTES; o += KEYSTREAM_CHUNK_BYTES) ks.next(KEYSTREAM_CHUNK_BYTES);
    ks.dispose();
  }
  // The fastest of the runs, not their median: a floor is what the machine can do, and a garbage
  // collection or another process landing in a run only adds to it (medians of this loop ranged
  // 120–565 MB/s run to run on 2 cores, below the derivations they are a floor for).
  const ms = Math.min(
    ...runs(() => {
      const ks = c.keystream(new Uint8Array(SEED_BYTES).fill(7));
      for (let o = 0; o < KEYSTREAM_BYTES; o += KEYSTREAM_CHUNK_BYTES) ks.next(KEYSTREAM_CHUNK_BYTES);
      ks.dispose();
    }, 3 * REPS),
  );
  return KEYSTREAM_BYTES / ms;
}
const keystreamRates = {
  native: keystreamFloor(backends.native),
  libsodium: keystreamFloor(backends.libsodium),
};

/** Keystream bytes that masking `length` weights consumes with a given seed (draws, including rejections). */
function keystreamBytesForMask(config: MaskConfig, seed: Uint8Array, length: number): number {
  const group = groupFor(maskParams(config));
  const reader = new KeystreamReader(crypto.keystream(seed));
  group.draw(reader, group.alloc(1 + length), 0, 1 + length);
  const consumed = reader.consumed;
  reader.dispose();
  return consumed;
}

// 1. Masking a 1,000,000-weight f32 model, with each backend: the default config, a prime one,
// and the demo's b4 (58-bit elements, two limbs: scalars of ~1000 examples need |s·w| ≤ 10⁴).
const MODEL = 1_000_000;
const model = fixtureModel(MODEL, 1);
const masking = (['native', 'libsodium'] as const).flatMap((backend) =>
  [
    { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' },
    { group: 'prime', data: 'f32', bound: 'b0', model: 'm3' },
    { group: 'power2', data: 'f32', bound: 'b4', model: 'm3' },
  ].map((config) => {
    const c = config as MaskConfig;
    const masker = new Masker(backends[backend], c);
    const seed = new Uint8Array(SEED_BYTES).fill(3);
    const ms = time(() => masker.mask(model, 1, seed));
    const bytes = keystreamBytesForMask(c, seed, MODEL);
    const floorMs = bytes / keystreamRates[backend];
    return {
      backend,
      config: configName(c),
      weights: MODEL,
      ms: round(ms),
      keystreamBytes: bytes,
      floorMs: round(floorMs),
      ratioToKeystreamFloor: round(ms / floorMs),
      target: '<= 2',
    };
  }),
);

// 2. Sum participant: derive and add every update's mask (Sum2), at three shapes — 100 updates of
// 100,000 and of 1,000,000 weights, and the breadth case of 1,000 updates of 10,000 — with the
// fused derive-and-add (Aggregation.aggregateDerived, what the SDK runs) and, for comparison,
// deriving each whole mask and adding it; with each backend.
const sumConfig: MaskConfig = { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' };
const sumParticipant = (['native', 'libsodium'] as const).flatMap((backend) =>
  [
    { masks: 100, weights: 100_000, reps: 5 },
    { masks: 100, weights: 1_000_000, reps: 3 },
    { masks: 1000, weights: 10_000, reps: 3 },
  ].map(({ masks, weights, reps }) => {
    const c = backends[backend];
    const seeds = Array.from({ length: masks }, () => crypto.randomBytes(SEED_BYTES));
    const fusedMs = time(() => {
      const acc = new Aggregation(sumConfig, weights);
      for (const seed of seeds) acc.aggregateDerived(c, seed);
    }, reps);
    const wholeMasksMs = time(() => {
      const acc = new Aggregation(sumConfig, weights);
      for (const seed of seeds) acc.aggregate(deriveMask(c, sumConfig, seed, weights));
    }, reps);
    let bytes = 0;
    for (const seed of seeds) bytes += keystreamBytesForMask(sumConfig, seed, weights);
    const floorMs = bytes / keystreamRates[backend];
    return {
      backend,
      config: configName(sumConfig),
      masks,
      weights,
      ms: round(fusedMs),
      keystreamBytes: bytes,
      floorMs: round(floorMs),
      ratioToKeystreamFloor: round(fusedMs / floorMs),
      target: '<= 1.5',
      wholeMasksMs: round(wholeMasksMs),
    };
  }),
);

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

// 3b. The packed mask object codec (protocol.md §3.6): encode, decode (every element checked
// below the order), and decode + add to an aggregate, per path; and the wire size a weight.
const codecConfigs: [MaskConfig, number][] = [
  [sumConfig, MODEL],
  [{ group: 'prime', data: 'f32', bound: 'b0', model: 'm3' }, MODEL],
  [{ group: 'prime', data: 'f64', bound: 'b6', model: 'm6' }, 200_000],
];
const bytesPerWeight = allMaskConfigs().map((c) => maskObjectByteLength(c, MODEL) / MODEL);
const maskObjects = {
  bytesPerWeight: {
    [configName(sumConfig)]: round(maskObjectByteLength(sumConfig, MODEL) / MODEL, 4),
    min240Configs: round(Math.min(...bytesPerWeight), 4),
    max240Configs: round(Math.max(...bytesPerWeight), 4),
  },
  codec: codecConfigs.map(([config, weights]) => {
    const object = new Masker(crypto, config).mask(fixtureModel(weights, 2), 1).masked;
    const bytes = encodeMaskObject(object);
    const into = new Aggregation(config, weights);
    return {
      config: configName(config),
      weights,
      bytes: bytes.length,
      // 21 repetitions: each call allocates megabytes, and a collection lands in some of them.
      encodeMs: round(time(() => encodeMaskObject(object), 21)),
      decodeMs: round(time(() => decodeMaskObject(bytes, { config, length: weights }), 21)),
      decodeAndAddMs: round(time(() => into.aggregate(decodeMaskObject(bytes, { config, length: weights })), 21)),
    };
  }),
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
const openFrameMs = time(() => openFrame(crypto, sealed, roundKey), 5);
// Floors on the same bytes: what the primitives spend alone (the envelope of the signed bytes, ADR 0019).
const plainMessage = signMessage(crypto, encodeMessage(message), identity.secretKey);
const signFloorMs = time(() => crypto.sign(plainMessage.subarray(64), identity.secretKey), 5);
const boxFloorMs = time(() => crypto.sealEnvelope(plainMessage, roundKey.publicKey), 5);
const openBoxFloorMs = time(() => crypto.openEnvelope(sealed, roundKey), 5);
const verifyFloorMs = time(
  () => crypto.verify(plainMessage.subarray(0, 64), plainMessage.subarray(64), identity.publicKey),
  5,
);
// The route before sealing in place: encode, sign and seal through the wrappers, each copying.
const sealByCopiesMs = time(
  () => crypto.sealEnvelope(signMessage(crypto, encodeMessage(message), identity.secretKey), roundKey.publicKey),
  5,
);
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
  sealByCopiesMs: round(sealByCopiesMs),
  signFloorMs: round(signFloorMs),
  sealBoxFloorMs: round(boxFloorMs),
  ratioSealToSignPlusBox: round(sealMs / (signFloorMs + boxFloorMs)),
  openUpdateMs: round(openMs),
  openFrameMs: round(openFrameMs),
  openBoxFloorMs: round(openBoxFloorMs),
  verifyFloorMs: round(verifyFloorMs),
  ratioOpenFrameToOpenPlusVerify: round(openFrameMs / (openBoxFloorMs + verifyFloorMs)),
  signPerSecond: round((SIGN_OPS / signMs) * 1000),
  verifyPerSecond: round((SIGN_OPS / verifyMs) * 1000),
};

const results = {
  date: new Date().toISOString(),
  machine: { node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length },
  repetitions: REPS,
  floor: {
    chunkBytes: KEYSTREAM_CHUNK_BYTES,
    native: {
      keystreamMBPerSecond: round((keystreamRates.native * 1000) / 1e6),
      library: 'node:crypto chacha20 (OpenSSL), through initCrypto()',
    },
    libsodium: {
      keystreamMBPerSecond: round((keystreamRates.libsodium * 1000) / 1e6),
      library: 'libsodium-wrappers-sumo crypto_stream_chacha20_ietf_xor_ic',
    },
  },
  masking,
  sumParticipant,
  coordinator,
  maskObjects,
  messages,
};

const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'core.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
console.log(`\nwritten to ${out}`);
