/**
 * Accuracy (and loss) of a flat dense model (the vector the coordinator aggregates,
 * `modelToVector` order: kernel [in, out] row-major then bias, per layer) on
 * a set of MNIST examples, in plain JavaScript: the pages and the Node
 * participants score global models the same way without touching the
 * TensorFlow.js backend that trains (25k weights × 1000 digits is ~25M
 * multiply-adds, a few tens of milliseconds; a million weights take a second or more). A page
 * scores in a Worker of its own (participant/remote-scorer.ts), so scoring never holds its main
 * thread.
 */

import { denseWeightCount } from './demo.ts';
import { type MnistData, PIXELS } from './mnist.ts';

/** A model's mean loss and its accuracy over a set of examples. */
export interface Scores {
  /** Mean categorical cross-entropy of the softmax output, as the demo model's compiled loss computes it. */
  readonly loss: number;
  /** Share of the examples whose most likely class is the label, 0..1. */
  readonly accuracy: number;
}

/**
 * TensorFlow.js's categorical cross-entropy clips probabilities to [ε, 1 − ε] with ε = 1e-7
 * (tfjs-layers losses.ts): the same here, so a tab's loss and a Node participant's
 * (`model.evaluate`) measure the same thing.
 */
const EPSILON = 1e-7;

/**
 * Runs the model over `indices`, calling `visit(output, label)` with the last layer's
 * pre-activation (its logits; the buffer is reused) per example.
 */
function forEachOutput(
  weights: ArrayLike<number>,
  layers: readonly number[],
  data: MnistData,
  indices: readonly number[],
  visit: (logits: Float64Array, label: number) => void,
): void {
  const expected = denseWeightCount(layers);
  if (weights.length !== expected) throw new Error(`model: expected ${expected} weights, got ${weights.length}`);
  const width = Math.max(...layers);
  let input = new Float64Array(width);
  let output = new Float64Array(width);
  for (const index of indices) {
    const base = index * PIXELS;
    for (let p = 0; p < PIXELS; p++) input[p] = (data.pixels[base + p] as number) / 255;
    let offset = 0;
    for (let l = 1; l < layers.length; l++) {
      const n = layers[l - 1] as number;
      const m = layers[l] as number;
      const bias = offset + n * m;
      for (let j = 0; j < m; j++) output[j] = weights[bias + j] as number;
      for (let i = 0; i < n; i++) {
        const x = input[i] as number;
        if (x === 0) continue;
        const row = offset + i * m;
        for (let j = 0; j < m; j++) output[j] = (output[j] as number) + x * (weights[row + j] as number);
      }
      // relu between layers; the last layer's softmax is the caller's.
      if (l < layers.length - 1) for (let j = 0; j < m; j++) output[j] = Math.max(0, output[j] as number);
      offset = bias + m;
      [input, output] = [output, input];
    }
    visit(input, data.labels[index] as number);
  }
}

function argmax(logits: Float64Array, classes: number): number {
  let best = 0;
  for (let j = 1; j < classes; j++) if ((logits[j] as number) > (logits[best] as number)) best = j;
  return best;
}

/** What one pass over examples adds up: correct answers and the summed loss. */
class Tally {
  readonly #classes: number;
  #correct = 0;
  #loss = 0;
  #count = 0;

  constructor(layers: readonly number[]) {
    this.#classes = layers[layers.length - 1] as number;
  }

  readonly visit = (logits: Float64Array, label: number): void => {
    const classes = this.#classes;
    const top = argmax(logits, classes);
    if (top === label) this.#correct++;
    // A stable softmax: shift by the largest logit.
    const max = logits[top] as number;
    let sum = 0;
    for (let j = 0; j < classes; j++) sum += Math.exp((logits[j] as number) - max);
    const p = Math.exp((logits[label] as number) - max) / sum;
    this.#loss -= Math.log(Math.min(1 - EPSILON, Math.max(EPSILON, p)));
    this.#count++;
  };

  get scores(): Scores {
    const n = this.#count;
    return n === 0 ? { loss: 0, accuracy: 0 } : { loss: this.#loss / n, accuracy: this.#correct / n };
  }
}

export function accuracy(
  weights: ArrayLike<number>,
  layers: readonly number[],
  data: MnistData,
  indices: readonly number[],
): number {
  return scores(weights, layers, data, indices).accuracy;
}

/** Loss and accuracy together (one pass): what a participant of a training run reports (docs/learning.md §2). */
export function scores(
  weights: ArrayLike<number>,
  layers: readonly number[],
  data: MnistData,
  indices: readonly number[],
): Scores {
  const tally = new Tally(layers);
  forEachOutput(weights, layers, data, indices, tally.visit);
  return tally.scores;
}
