/**
 * The demo's MNIST data: real digits from the `mnist` package (10 JSON files,
 * one per label, pixels in 0..1), packed once into a compact binary (one
 * byte per pixel) that the pages fetch as `mnist.bin`, split into a held-out
 * test set and a training pool, and the pool cut into deterministic shards.
 *
 * ```text
 *   0        4          8               8+n                        8+n+784·n
 *   +--------+----------+---------------+--------------------------+
 *   | "MNST" | n u32 LE | n labels (u8) | n × 784 pixels (u8, ×255) |
 *   +--------+----------+---------------+--------------------------+
 * ```
 *
 * The last TEST_PER_LABEL digits of each label are the test set; nobody
 * trains on them. The rest is the training pool, in a fixed pseudo-random
 * order. Shard i of n takes:
 * - `iid`: every n-th example of the pool (round-robin) — all labels, evenly;
 * - `noniid`: label-skewed — shard i has two dominant labels (2i, 2i+1 mod 10);
 *   80% of each label's examples go to the shards dominant in it, the other
 *   20% round-robin to all shards, so every shard sees a few of each label.
 */

export const PIXELS = 784;
/** The digits 0–9. */
export const CLASSES = 10;
export const TEST_PER_LABEL = 100;
const MAGIC = 0x54534e4d; // "MNST" little-endian

export type Split = 'iid' | 'noniid';

export interface MnistData {
  readonly count: number;
  readonly labels: Uint8Array;
  /** count × 784 bytes, row-major per example; pixel = byte / 255. */
  readonly pixels: Uint8Array;
}

/** Packs per-label lists of digits (each a flat list of 784·k values in 0..1) into the binary above. */
export function packMnist(byLabel: readonly (readonly number[])[]): Uint8Array {
  let count = 0;
  for (const values of byLabel) count += values.length / PIXELS;
  const out = new Uint8Array(8 + count + count * PIXELS);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, count, true);
  let n = 0;
  byLabel.forEach((values, label) => {
    for (let k = 0; k < values.length / PIXELS; k++, n++) {
      out[8 + n] = label;
      const base = 8 + count + n * PIXELS;
      for (let p = 0; p < PIXELS; p++) out[base + p] = Math.round((values[k * PIXELS + p] ?? 0) * 255);
    }
  });
  return out;
}

export function decodeMnist(bytes: Uint8Array): MnistData {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 8 || view.getUint32(0, true) !== MAGIC)
    throw new Error('mnist.bin: expected the "MNST" magic');
  const count = view.getUint32(4, true);
  const expected = 8 + count + count * PIXELS;
  if (bytes.byteLength !== expected) throw new Error(`mnist.bin: expected ${expected} bytes, got ${bytes.byteLength}`);
  return {
    count,
    labels: bytes.subarray(8, 8 + count),
    pixels: bytes.subarray(8 + count, expected),
  };
}

/** mulberry32: a small seeded PRNG, so every page and process cuts the same shards. */
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

/** Test set (the last TEST_PER_LABEL of each label) and the training pool (the rest, shuffled with a fixed seed). */
export function splitTestPool(data: MnistData): { test: number[]; pool: number[] } {
  const byLabel: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < data.count; i++) byLabel[data.labels[i] as number]?.push(i);
  const test: number[] = [];
  const pool: number[] = [];
  for (const indices of byLabel) {
    const cut = Math.max(0, indices.length - TEST_PER_LABEL);
    pool.push(...indices.slice(0, cut));
    test.push(...indices.slice(cut));
  }
  const rand = random(20240501);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pool[i], pool[j]] = [pool[j] as number, pool[i] as number];
  }
  return { test, pool };
}

/** The two labels shard `shard` is rich in under the non-IID split. */
export function dominantLabels(shard: number): [number, number] {
  return [(2 * shard) % 10, (2 * shard + 1) % 10];
}

/** Shard `shard` of `shards` of the training pool (indices into `data`), deterministic. */
export function shardIndices(
  data: MnistData,
  pool: readonly number[],
  shard: number,
  shards: number,
  split: Split,
): number[] {
  if (!Number.isInteger(shards) || shards < 1) throw new Error(`shards: expected a positive integer, got ${shards}`);
  if (!Number.isInteger(shard) || shard < 0 || shard >= shards) {
    throw new Error(`shard: expected an integer in 0..${shards - 1}, got ${shard}`);
  }
  if (split === 'iid') return pool.filter((_, position) => position % shards === shard);
  const owners: number[][] = Array.from({ length: 10 }, () => []);
  for (let s = 0; s < shards; s++) for (const label of dominantLabels(s)) owners[label]?.push(s);
  const rand = random(99);
  const seen = new Array<number>(10).fill(0);
  const out: number[] = [];
  pool.forEach((index, position) => {
    const label = data.labels[index] as number;
    const rich = owners[label] ?? [];
    const k = seen[label] ?? 0;
    seen[label] = k + 1;
    const owner = rich.length > 0 && rand() < 0.8 ? (rich[k % rich.length] as number) : position % shards;
    if (owner === shard) out.push(index);
  });
  return out;
}

/**
 * A shard cut for a training run: the last `share` of it (at least one example) is held out to
 * evaluate global models on, the rest is trained on. Shards are in the pool's shuffled order, so
 * the tail is as mixed as the shard.
 */
export function holdOut(shard: readonly number[], share: number): { train: number[]; evaluation: number[] } {
  if (!(share > 0 && share < 1)) throw new Error(`share: expected a number in (0, 1), got ${share}`);
  const held = Math.min(shard.length - 1, Math.max(1, Math.round(shard.length * share)));
  const cut = shard.length - Math.max(0, held);
  return { train: shard.slice(0, cut), evaluation: shard.slice(cut) };
}

/** Labels per class in a set of examples (for the page's "your data" line). */
export function labelHistogram(data: MnistData, indices: readonly number[]): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const i of indices) counts[data.labels[i] as number] = (counts[data.labels[i] as number] ?? 0) + 1;
  return counts;
}

/**
 * The examples `indices` as the arrays a model trains on: xs, `indices.length` rows of 784 pixels
 * in 0..1, and ys, one-hot rows of 10 (model.ts makes tensors of them; the participant page hands
 * them to its training Worker without loading TensorFlow.js itself).
 */
export function exampleArrays(data: MnistData, indices: readonly number[]): { xs: Float32Array; ys: Float32Array } {
  const xs = new Float32Array(indices.length * PIXELS);
  const ys = new Float32Array(indices.length * CLASSES);
  indices.forEach((index, row) => {
    const base = index * PIXELS;
    for (let p = 0; p < PIXELS; p++) xs[row * PIXELS + p] = (data.pixels[base + p] as number) / 255;
    ys[row * CLASSES + (data.labels[index] as number)] = 1;
  });
  return { xs, ys };
}
