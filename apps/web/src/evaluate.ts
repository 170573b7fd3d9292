/**
 * Accuracy of a flat dense model (the vector the coordinator aggregates,
 * `modelToVector` order: kernel [in, out] row-major then bias, per layer) on
 * a set of MNIST examples, in plain JavaScript: the pages and the Node
 * participants score global models the same way without touching the
 * TensorFlow.js backend that trains (25k weights × 1000 digits is ~25M
 * multiply-adds, a few tens of milliseconds).
 */

import { denseWeightCount } from './demo.ts';
import { type MnistData, PIXELS } from './mnist.ts';

export function accuracy(
  weights: ArrayLike<number>,
  layers: readonly number[],
  data: MnistData,
  indices: readonly number[],
): number {
  const expected = denseWeightCount(layers);
  if (weights.length !== expected) throw new Error(`model: expected ${expected} weights, got ${weights.length}`);
  if (indices.length === 0) return 0;
  const width = Math.max(...layers);
  let input = new Float64Array(width);
  let output = new Float64Array(width);
  let correct = 0;
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
      // relu between layers; the last layer's argmax does not need softmax.
      if (l < layers.length - 1) for (let j = 0; j < m; j++) output[j] = Math.max(0, output[j] as number);
      offset = bias + m;
      [input, output] = [output, input];
    }
    const classes = layers[layers.length - 1] as number;
    let best = 0;
    for (let j = 1; j < classes; j++) if ((input[j] as number) > (input[best] as number)) best = j;
    if (best === data.labels[index]) correct++;
  }
  return correct / indices.length;
}
