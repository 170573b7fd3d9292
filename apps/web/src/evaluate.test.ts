import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeWasmPaths } from '../node/initial-model.ts';
import { LAYERS } from './demo.ts';
import { accuracy, scores } from './evaluate.ts';
import { decodeMnist, splitTestPool } from './mnist.ts';
import { loadPackedMnist } from './mnist-files.ts';
import { buildModel, toTensors } from './model.ts';

const data = decodeMnist(loadPackedMnist());
const { test } = splitTestPool(data);
const examples = test.filter((_, i) => i % 10 === 0); // 100 digits, every label

beforeAll(async () => {
  setWasmPaths(nodeWasmPaths());
  await tf.setBackend('wasm');
});

describe('scores', () => {
  it("are the demo model's compiled loss and accuracy (what the Node participants report), for a trained model too", async () => {
    const model = buildModel(LAYERS, { metrics: ['accuracy'] });
    const { xs, ys } = toTensors(data, examples);
    try {
      for (const trained of [false, true]) {
        if (trained) await model.fit(xs, ys, { epochs: 2, batchSize: 32 });
        const weights = Float32Array.from(model.getWeights().flatMap((w) => Array.from(w.dataSync())));
        const [loss, acc] = (model.evaluate(xs, ys) as tf.Scalar[]).map((s) => s.dataSync()[0] as number);
        const mine = scores(weights, LAYERS, data, examples);
        expect(mine.loss).toBeCloseTo(loss as number, 4);
        expect(mine.accuracy).toBeCloseTo(acc as number, 6);
        expect(mine.accuracy).toBe(accuracy(weights, LAYERS, data, examples));
      }
    } finally {
      tf.dispose([xs, ys]);
      model.dispose();
    }
  });

  it('of no examples are zeros; a model of the wrong length is refused, naming both lengths', () => {
    const weights = new Float32Array(25450);
    expect(scores(weights, LAYERS, data, [])).toEqual({ loss: 0, accuracy: 0 });
    expect(() => scores(new Float32Array(3), LAYERS, data, examples)).toThrow('model: expected 25450 weights, got 3');
    expect(() => accuracy(new Float32Array(3), LAYERS, data, [])).toThrow('expected 25450 weights, got 3');
  });
});
