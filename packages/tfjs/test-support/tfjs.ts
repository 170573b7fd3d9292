/**
 * Test helpers: the wasm backend's .wasm files from node_modules (nothing is
 * downloaded), a tiny dense model and a synthetic regression data set, both
 * deterministic.
 */

import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

// tfjs's console notices (the tfjs-node banner, "Initialization of backend X failed") stay
// quiet; PROD changes nothing else. (IS_TEST would also turn on a kernel leak check that
// wrongly flags the wasm backend's fused matmul.)
tf.env().set('PROD', true);

/** node_modules/@tensorflow/tfjs-backend-wasm/dist/, with the trailing slash setWasmPaths wants. */
export const WASM_DIR = `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;

/** Activates the wasm backend with the local .wasm files. */
export async function useWasm(): Promise<void> {
  if (tf.engine().registry['wasm'] === undefined) setWasmPaths(WASM_DIR);
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend failed to initialise');
}

/** 4 inputs → dense 8 (relu) → dense 1: 4·8 + 8 + 8·1 + 1 = 49 weights. Seeded initialisers. */
export function tinyModel(options: { seed?: number; compile?: boolean; learningRate?: number } = {}): tf.LayersModel {
  const seed = options.seed ?? 1;
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [4],
        units: 8,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
      }),
      tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
  if (options.compile !== false) {
    model.compile({ optimizer: tf.train.sgd(options.learningRate ?? 0.05), loss: 'meanSquaredError' });
  }
  return model;
}

/** Deterministic numbers in [-1, 1) (xorshift32). */
export function pseudoRandom(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** `count` examples of y = x·[1, -2, 0.5, 3] + 0.25 (the caller owns the tensors). */
export function syntheticData(count: number, seed = 7): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  const x = pseudoRandom(count * 4, seed);
  const y = new Float32Array(count);
  const w = [1, -2, 0.5, 3];
  for (let i = 0; i < count; i++) {
    let s = 0.25;
    for (let j = 0; j < 4; j++) s += (x[i * 4 + j] as number) * (w[j] as number);
    y[i] = s;
  }
  return { xs: tf.tensor2d(x, [count, 4]), ys: tf.tensor2d(y, [count, 1]) };
}

/** Mean squared error of `model` on `data`, as a number (no tensors left behind). */
export async function lossOf(model: tf.LayersModel, data: { xs: tf.Tensor; ys: tf.Tensor }): Promise<number> {
  const loss = tf.tidy(() => tf.losses.meanSquaredError(data.ys, model.predict(data.xs) as tf.Tensor));
  const [value] = await loss.data();
  loss.dispose();
  return value as number;
}
