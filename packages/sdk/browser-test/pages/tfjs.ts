/**
 * The TensorFlow.js test page: `selectBackend` from the built `@petfl/tfjs`, offered only
 * WebGPU, takes it (under --enable-unsafe-webgpu headless Chromium has SwiftShader's software
 * adapter, which selectBackend sets aside whenever another backend passes: here none is
 * offered), then a tiny dense model trains a few steps on it (support/page-api.ts, TfjsPageApi).
 */

import { selectBackend } from '@petfl/tfjs';
import * as tf from '@tensorflow/tfjs';
import type { TfjsPageApi } from '../support/page-api.ts';

const api: TfjsPageApi = {
  async train(steps) {
    const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    const adapter = gpu === undefined ? false : (await gpu.requestAdapter()) !== null;
    const selection = await selectBackend(['webgpu']);
    // y = 2·x₀ − x₁ + 0.5: a dense layer learns it; the loss must fall.
    const xs = tf.tensor2d([0, 0, 1, 0, 0, 1, 1, 1, 0.5, -1, -1, 0.5, 2, 1, -2, -1], [8, 2]);
    const ys = tf.tensor2d([0.5, 2.5, -0.5, 1.5, 2.5, -2, 3.5, -2.5], [8, 1]);
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
    const history = await model.fit(xs, ys, { epochs: steps, batchSize: 8, verbose: 0 });
    const losses = (history.history['loss'] ?? []).map(Number);
    const trainedOn = tf.getBackend();
    tf.dispose([xs, ys]);
    model.dispose();
    return {
      backend: selection.backend,
      trainedOn,
      skipped: selection.skipped.map((s) => `${s.backend}: ${s.reason}`),
      losses,
      adapter,
    };
  },
};

window.petflTfjs = api;
window.petflReady = true;
