/**
 * The demo's shared initial weights (src/model.ts: seeded Glorot kernels, zero biases) as a
 * training run's initial model (`run.initial_model`, docs/learning.md §4): `npm start -- --strategy
 * …` and the e2e run test write them to a raw little-endian `.f32` file in `modelToVector` order,
 * so the run's round-0 global model is exactly the model every tab and Node participant builds
 * at start. Without it the run would start from zeros, where a ReLU network cannot learn.
 *
 * The seeded initializer draws its numbers in JavaScript (tfjs-core's randomUniform fills a
 * buffer), so the weights are the same bits on every backend; the wasm backend is used here
 * because the cpu one greets Node users on the console.
 */

import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { modelToVector } from '@petfl/tfjs';
import { engine, setBackend } from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { LAYERS } from '../src/demo.ts';
import { buildModel } from '../src/model.ts';

/** Where @tensorflow/tfjs-backend-wasm's binaries are, for `selectBackend` in Node. */
export function nodeWasmPaths(): string {
  return `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;
}

/** The shared initial weights of the dense stack `layers` (the demo's by default). */
export async function demoInitialModel(layers: readonly number[] = LAYERS): Promise<Float32Array> {
  // Typed as a string, but unset until a backend is chosen (tfjs-core engine.ts).
  const chosen = engine().backendName as string | null | undefined;
  if (chosen === undefined || chosen === null) {
    setWasmPaths(nodeWasmPaths());
    if (!(await setBackend('wasm')))
      throw new Error('the initial model: the wasm backend of TensorFlow.js did not start');
  }
  const model = buildModel(layers);
  try {
    return modelToVector(model);
  } finally {
    model.dispose();
  }
}

/** Writes `weights` to `path` as raw little-endian float32 (what `run.initial_model` reads from a `.f32` file). */
export function writeF32(path: string, weights: Float32Array): void {
  const bytes = new Uint8Array(weights.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < weights.length; i++) view.setFloat32(i * 4, weights[i] as number, true);
  writeFileSync(path, bytes);
}
