/**
 * Local training for `npm run bench:privacy`: the demo's dense model, 784 pixels → 32 hidden units
 * (relu) → 10 classes (softmax), categorical cross-entropy, trained by plain minibatch SGD in
 * plain TypeScript over typed arrays — the same layers and weight order as the TensorFlow.js model
 * of the other benches (`modelToVector`: kernel [in, out] then bias, per layer).
 *
 * Why not TensorFlow.js here: the bench trains 100 participants for every round of eleven runs on
 * two cores; a `model.fit` per participant costs more in call overhead than the 80 examples'
 * arithmetic. Hand-written loops do a participant's epoch in a few milliseconds, and with a seeded
 * data order they are deterministic.
 */

import { PIXELS } from './convergence-data.ts';

export const HIDDEN = 32;
export const CLASSES = 10;
export const LAYERS = [PIXELS, HIDDEN, CLASSES] as const;
/** Offsets of the weight vector: W1 [784 × 32], b1 [32], W2 [32 × 10], b2 [10]. */
const W1 = 0;
const B1 = W1 + PIXELS * HIDDEN;
const W2 = B1 + HIDDEN;
const B2 = W2 + HIDDEN * CLASSES;
export const WEIGHTS = B2 + CLASSES;

export interface Examples {
  /** count × 784 inputs in 0..1. */
  readonly x: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
}

/** mulberry32 (as convergence-data.ts): the seeded data order. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Scratch space for one example's forward and backward pass (reused: no per-example allocation). */
class Scratch {
  readonly hidden = new Float64Array(HIDDEN);
  readonly probs = new Float64Array(CLASSES);
  readonly dHidden = new Float64Array(HIDDEN);
}

/** Forward pass of example `k`; fills `s.hidden` (after relu) and `s.probs`; returns the loss. */
function forward(w: Float64Array, data: Examples, k: number, s: Scratch): number {
  const base = k * PIXELS;
  const h = s.hidden;
  for (let j = 0; j < HIDDEN; j++) h[j] = w[B1 + j] as number;
  for (let i = 0; i < PIXELS; i++) {
    const xi = data.x[base + i] as number;
    if (xi === 0) continue; // most MNIST pixels are 0
    const row = W1 + i * HIDDEN;
    for (let j = 0; j < HIDDEN; j++) h[j] = (h[j] as number) + xi * (w[row + j] as number);
  }
  for (let j = 0; j < HIDDEN; j++) if ((h[j] as number) < 0) h[j] = 0;
  const p = s.probs;
  let max = -Infinity;
  for (let c = 0; c < CLASSES; c++) {
    let z = w[B2 + c] as number;
    for (let j = 0; j < HIDDEN; j++) z += (h[j] as number) * (w[W2 + j * CLASSES + c] as number);
    p[c] = z;
    if (z > max) max = z;
  }
  let sum = 0;
  for (let c = 0; c < CLASSES; c++) {
    const e = Math.exp((p[c] as number) - max);
    p[c] = e;
    sum += e;
  }
  for (let c = 0; c < CLASSES; c++) p[c] = (p[c] as number) / sum;
  return -Math.log(Math.max(p[data.labels[k] as number] as number, 1e-300));
}

/**
 * One local epoch of plain SGD from `global` over `data` in a seeded order; returns the update
 * (local − global). The gradient of a batch is its examples' mean.
 */
export function trainEpoch(
  global: Float64Array,
  data: Examples,
  options: { readonly learningRate: number; readonly batchSize: number; readonly seed: number },
): Float64Array {
  const w = Float64Array.from(global);
  const grad = new Float64Array(WEIGHTS);
  const s = new Scratch();
  const order = Array.from({ length: data.count }, (_, i) => i);
  const rand = random(options.seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  for (let start = 0; start < order.length; start += options.batchSize) {
    const batch = order.slice(start, start + options.batchSize);
    grad.fill(0);
    for (const k of batch) {
      forward(w, data, k, s);
      const label = data.labels[k] as number;
      // dL/dz = p − onehot(label).
      s.dHidden.fill(0);
      for (let c = 0; c < CLASSES; c++) {
        const dz = (s.probs[c] as number) - (c === label ? 1 : 0);
        grad[B2 + c] = (grad[B2 + c] as number) + dz;
        for (let j = 0; j < HIDDEN; j++) {
          const hj = s.hidden[j] as number;
          grad[W2 + j * CLASSES + c] = (grad[W2 + j * CLASSES + c] as number) + hj * dz;
          s.dHidden[j] = (s.dHidden[j] as number) + (w[W2 + j * CLASSES + c] as number) * dz;
        }
      }
      for (let j = 0; j < HIDDEN; j++) if ((s.hidden[j] as number) <= 0) s.dHidden[j] = 0;
      for (let j = 0; j < HIDDEN; j++) grad[B1 + j] = (grad[B1 + j] as number) + (s.dHidden[j] as number);
      const base = k * PIXELS;
      for (let i = 0; i < PIXELS; i++) {
        const xi = data.x[base + i] as number;
        if (xi === 0) continue;
        const row = W1 + i * HIDDEN;
        for (let j = 0; j < HIDDEN; j++) grad[row + j] = (grad[row + j] as number) + xi * (s.dHidden[j] as number);
      }
    }
    const step = options.learningRate / batch.length;
    for (let i = 0; i < WEIGHTS; i++) w[i] = (w[i] as number) - step * (grad[i] as number);
  }
  for (let i = 0; i < WEIGHTS; i++) w[i] = (w[i] as number) - (global[i] as number);
  return w;
}

/** Held-out accuracy and mean loss of the weights `w`. */
export function evaluate(w: Float64Array, data: Examples): { accuracy: number; loss: number } {
  const s = new Scratch();
  let correct = 0;
  let loss = 0;
  for (let k = 0; k < data.count; k++) {
    loss += forward(w, data, k, s);
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if ((s.probs[c] as number) > (s.probs[best] as number)) best = c;
    if (best === data.labels[k]) correct += 1;
  }
  return { accuracy: correct / data.count, loss: loss / data.count };
}
