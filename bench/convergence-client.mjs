/**
 * The learning side of `npm run bench:convergence` (bench/convergence.bench.ts), shared by the
 * participant processes (bench/convergence-participant.mjs, plain Node on the *built* packages)
 * and the bench's in-process plain replay (which runs it on the sources): one implementation of
 * local training, so a secure round and its replay train the same way by construction.
 *
 * - `initBackend`: TensorFlow.js on the wasm backend (cpu where wasm cannot start), one thread —
 *   the kernels then give the same bits whatever else runs.
 * - `encodeShard`/`decodeShard`: a participant's data as the bench hands it over (a file).
 * - `BenchParticipant`: a `TfjsParticipant` (public API of @petfl/tfjs) in a training run, whose
 *   local data is shuffled by a seed of (participant, round) and fed to `model.fit` with
 *   `shuffle: false`: tfjs's own shuffle draws from Math.random, which no replay can repeat.
 * - `createTester`: the held-out test accuracy of a weight vector.
 *
 * Shard file (little-endian):
 *
 * ```text
 *   0        4            8           12             12+t          12+t+e            12+(t+e)·785
 *   +--------+------------+-----------+--------------+-------------+-----------------+
 *   | "CVSH" | t u32      | e u32     | t labels u8  | e labels u8 | (t+e) × 784 u8  |
 *   +--------+------------+-----------+--------------+-------------+-----------------+
 * ```
 * t training examples, then e evaluation examples (the participant's own validation data, on
 * which it evaluates each global model it starts from); pixel = byte / 255.
 */

import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { selectBackend, TfjsParticipant, vectorToModel } from '@petfl/tfjs';
import * as tf from '@tensorflow/tfjs';

export const PIXELS = 784;
export const CLASSES = 10;
/** The demo's dense model: 784 pixels → 32 hidden units (relu) → 10 classes (softmax). */
export const LAYERS = [784, 32, 10];
const MAGIC = 0x48535643; // "CVSH" little-endian

/** TensorFlow.js on wasm, single-threaded (cpu if wasm cannot start); returns the backend's name. */
export async function initBackend() {
  // One thread: no worker pool competing for the two cores, and one summation order.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const wasmPaths = `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;
  const { backend } = await selectBackend(['wasm', 'cpu'], { wasmPaths });
  return backend;
}

/** The weight count of LAYERS: a kernel [in, out] and a bias [out] per dense layer. */
export function weightCount(layers = LAYERS) {
  let n = 0;
  for (let i = 1; i < layers.length; i++) n += layers[i - 1] * layers[i] + layers[i];
  return n;
}

/** mulberry32: a small seeded PRNG in [0, 1). */
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed from small integers (FNV-1a over them). */
export function seedOf(...parts) {
  let h = 0x811c9dc5;
  for (const part of parts) {
    let x = part >>> 0;
    for (let k = 0; k < 4; k++) {
      h ^= x & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
      x >>>= 8;
    }
  }
  return h >>> 0;
}

/** A permutation of 0..n-1 (Fisher–Yates) drawn from `seed`. */
export function permutation(n, seed) {
  const order = Array.from({ length: n }, (_, i) => i);
  const rand = random(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** FNV-1a over a vector's bytes, as 8 hex digits: which global model a participant trained from. */
export function hashVector(vector) {
  const bytes = new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${vector.BYTES_PER_ELEMENT === 4 ? 'f32' : 'f64'}:${h.toString(16).padStart(8, '0')}`;
}

/** A shard as the file above: `labels` (t + e bytes) and `pixels` ((t + e)·784 bytes, ×255). */
export function encodeShard({ train, evaluation, labels, pixels }) {
  const n = train + evaluation;
  if (labels.length !== n || pixels.length !== n * PIXELS) throw new Error(`shard: expected ${n} examples`);
  const out = new Uint8Array(12 + n + n * PIXELS);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, train, true);
  view.setUint32(8, evaluation, true);
  out.set(labels, 12);
  out.set(pixels, 12 + n);
  return out;
}

/** The file's examples as float32 inputs and labels: { train: {x, labels}, evaluation: {x, labels} }. */
export function decodeShard(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 12 || view.getUint32(0, true) !== MAGIC) throw new Error('shard: expected the "CVSH" magic');
  const train = view.getUint32(4, true);
  const evaluation = view.getUint32(8, true);
  const n = train + evaluation;
  if (bytes.byteLength !== 12 + n + n * PIXELS) {
    throw new Error(`shard: expected ${12 + n + n * PIXELS} bytes, got ${bytes.byteLength}`);
  }
  const labels = bytes.subarray(12, 12 + n);
  const pixels = bytes.subarray(12 + n);
  const part = (from, count) => {
    const x = new Float32Array(count * PIXELS);
    for (let i = 0; i < x.length; i++) x[i] = pixels[from * PIXELS + i] / 255;
    return { x, labels: labels.slice(from, from + count), count };
  };
  return { train: part(0, train), evaluation: part(train, evaluation) };
}

/** One-hot float32 targets. */
function oneHot(labels) {
  const y = new Float32Array(labels.length * CLASSES);
  for (let i = 0; i < labels.length; i++) y[i * CLASSES + labels[i]] = 1;
  return y;
}

/** The dense model, compiled with plain SGD (SCAFFOLD's steps assume it; every strategy uses it). */
export function buildModel(learningRate) {
  const model = tf.sequential();
  for (let i = 1; i < LAYERS.length; i++) {
    const last = i === LAYERS.length - 1;
    model.add(
      tf.layers.dense({
        units: LAYERS[i],
        activation: last ? 'softmax' : 'relu',
        ...(i === 1 ? { inputShape: [LAYERS[0]] } : {}),
        // Every weight is overwritten by the global model before use; zeros draw nothing from Math.random.
        kernelInitializer: 'zeros',
      }),
    );
  }
  model.compile({ optimizer: tf.train.sgd(learningRate), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

/**
 * A participant of a run: `TfjsParticipant` with this round's shuffled training data. `roundOf()`
 * names the round a `trainRound` belongs to (the participant's snapshot in a process, the
 * replayed round in the replay); `onTrained` hears of every local training.
 */
export class BenchParticipant extends TfjsParticipant {
  /**
   * @param {{ index: number, shard: ReturnType<typeof decodeShard>, layout: object, algorithm: object,
   *   scalar: number, learningRate: number, batchSize: number, seed: number,
   *   roundOf?: () => number | null, onTrained?: (info: { round: number, inputHash: string | null }) => void }} o
   */
  constructor(o) {
    const holder = { round: -1 };
    const { train, evaluation } = o.shard;
    const model = buildModel(o.learningRate);
    const trainY = oneHot(train.labels);
    // The app's tensors (TfjsParticipant leaves them alive): disposed by dispose().
    const evaluationData = {
      xs: tf.tensor2d(evaluation.x, [evaluation.count, PIXELS]),
      ys: tf.tensor2d(oneHot(evaluation.labels), [evaluation.count, CLASSES]),
    };
    super({
      model,
      // This round's order: a permutation seeded by (run seed, participant, round).
      data: () => {
        const order = permutation(train.count, seedOf(o.seed, o.index, holder.round));
        const x = new Float32Array(train.count * PIXELS);
        const y = new Float32Array(train.count * CLASSES);
        order.forEach((from, to) => {
          x.set(train.x.subarray(from * PIXELS, (from + 1) * PIXELS), to * PIXELS);
          y.set(trainY.subarray(from * CLASSES, (from + 1) * CLASSES), to * CLASSES);
        });
        return { xs: tf.tensor2d(x, [train.count, PIXELS]), ys: tf.tensor2d(y, [train.count, CLASSES]) };
      },
      fit: { epochs: 1, batchSize: o.batchSize, shuffle: false, verbose: 0 },
      run: {
        layout: o.layout,
        algorithm: o.algorithm,
        scalar: o.scalar,
        evaluationData,
      },
    });
    this.evaluationData = evaluationData;
    this.index = o.index;
    this.queue = Promise.resolve();
    this.holder = holder;
    this.roundOf = o.roundOf ?? (() => null);
    this.onTrained = o.onTrained;
  }

  /**
   * One round's training, after any earlier one has finished: the SDK may start the next round's
   * training while a round that moved on still trains, and one model cannot fit twice at once.
   */
  trainRound(input) {
    const round = this.roundOf();
    if (round === null || round === undefined) {
      return Promise.reject(new Error('bench participant: training outside a known round'));
    }
    const trained = this.queue.then(async () => {
      this.holder.round = round;
      const result = await super.trainRound(input);
      this.onTrained?.({ round, inputHash: input === null ? null : hashVector(input) });
      return result;
    });
    this.queue = trained.catch(() => undefined);
    return trained;
  }

  /**
   * One step of training and an evaluation on a few examples, before joining: the first run of each
   * kernel compiles and allocates, which would otherwise make the first round's update late. The
   * weights it changes are replaced by the global model at every round, and plain SGD keeps no state.
   */
  async warmUp() {
    const xs = tf.zeros([64, PIXELS]);
    const ys = tf.oneHot(tf.zeros([64], 'int32'), CLASSES).toFloat();
    try {
      await this.model.fit(xs, ys, { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 });
      tf.dispose(this.model.evaluate(xs, ys, { batchSize: 32 }));
    } finally {
      tf.dispose([xs, ys]);
    }
  }

  /** Frees the model and the evaluation tensors (the replay makes a set of participants per run). */
  dispose() {
    this.model.dispose();
    tf.dispose([this.evaluationData.xs, this.evaluationData.ys]);
  }

  /** The replay: round `round` from `input`, exactly as a round's trainRound + serializeTrainingResult. */
  async trainPlain(input, round) {
    const previous = this.roundOf;
    this.roundOf = () => round;
    try {
      const result = await this.trainRound(input);
      return this.serializeTrainingResult(result);
    } finally {
      this.roundOf = previous;
    }
  }
}

/**
 * The held-out test split ({x, labels, count}) as a judge of weight vectors: accuracy is the exact
 * share of correctly predicted examples (a count over `count`, not a float32 mean), loss the mean
 * cross-entropy.
 */
export function createTester(test) {
  const model = buildModel(0.1);
  const xs = tf.tensor2d(test.x, [test.count, PIXELS]);
  return {
    evaluate(weights) {
      vectorToModel(model, weights);
      const probabilities = tf.tidy(() => model.predict(xs, { batchSize: 1000 }).dataSync());
      const predicted = new Uint8Array(test.count);
      let correct = 0;
      let loss = 0;
      for (let i = 0; i < test.count; i++) {
        let best = 0;
        for (let k = 1; k < CLASSES; k++)
          if (probabilities[i * CLASSES + k] > probabilities[i * CLASSES + best]) best = k;
        predicted[i] = best;
        if (best === test.labels[i]) correct++;
        // tfjs's categorical cross-entropy clips the probability to [ε, 1 − ε], ε = 1e-7.
        loss -= Math.log(Math.min(Math.max(probabilities[i * CLASSES + test.labels[i]], 1e-7), 1 - 1e-7));
      }
      return { accuracy: correct / test.count, correct, loss: loss / test.count, predicted };
    },
  };
}
