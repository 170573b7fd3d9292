/**
 * The demo model in TensorFlow.js: a dense stack (demo.ts's by default, or another of the
 * participant page's `model=` choices, params.ts), compiled with
 * Adam and cross-entropy, with seeded Glorot initial weights so every
 * participant starts the first round from the same model (averaging models
 * from different random starts would waste that round). Also the local
 * shard as tensors.
 */

import * as tf from '@tensorflow/tfjs';
import { INIT_SEED, LAYERS, LEARNING_RATE } from './demo.ts';
import { CLASSES, exampleArrays, type MnistData, PIXELS } from './mnist.ts';

/**
 * `layers`: the sizes, input first (default: the demo's, demo.ts). `metrics`: what
 * `model.evaluate` computes besides the loss (the Node participants of a training run report
 * `accuracy`, docs/learning.md §2); none by default, so training computes nothing more.
 */
export function buildModel(
  layers: readonly number[] = LAYERS,
  { metrics = [] }: { readonly metrics?: readonly string[] } = {},
): tf.Sequential {
  const model = tf.sequential();
  for (let l = 1; l < layers.length; l++) {
    const last = l === layers.length - 1;
    model.add(
      tf.layers.dense({
        ...(l === 1 ? { inputShape: [layers[0] as number] } : {}),
        units: layers[l] as number,
        activation: last ? 'softmax' : 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: INIT_SEED + l }),
      }),
    );
  }
  model.compile({
    optimizer: tf.train.adam(LEARNING_RATE),
    loss: 'categoricalCrossentropy',
    ...(metrics.length === 0 ? {} : { metrics: [...metrics] }),
  });
  return model;
}

/** The examples `indices` as xs [n, 784] in 0..1 and one-hot ys [n, 10]; the caller disposes them. */
export function toTensors(data: MnistData, indices: readonly number[]): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  const { xs, ys } = exampleArrays(data, indices);
  return { xs: tf.tensor2d(xs, [indices.length, PIXELS]), ys: tf.tensor2d(ys, [indices.length, CLASSES]) };
}
