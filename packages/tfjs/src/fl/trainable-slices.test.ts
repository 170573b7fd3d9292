/**
 * trainableSlices: each trainable variable's range of the weight vector is where modelToVector
 * puts its values — also with a frozen layer and a batch norm's non-trainable statistics.
 */

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../test-support/tfjs.ts'; // quiets TensorFlow.js's console notices
import { modelToVector, weightCount } from '../weights.ts';
import { tensorsBySlice, trainableSlices } from './trainable-slices.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function mixedModel(): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [3], units: 4, trainable: false, biasInitializer: 'ones' }),
      tf.layers.batchNormalization({
        gammaInitializer: tf.initializers.constant({ value: 3 }),
        movingVarianceInitializer: tf.initializers.constant({ value: 2 }),
      }),
      tf.layers.dense({ units: 2 }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  return model;
}

describe('trainableSlices', () => {
  it("gives each trainable variable's range of modelToVector, and skips non-trainable weights", () => {
    const model = mixedModel();
    const vector = modelToVector(model);
    const slices = trainableSlices(model);
    // batch norm gamma, beta; the last dense kernel and bias — not the frozen dense, not the moving statistics.
    expect(slices.map((s) => s.size)).toEqual([4, 4, 8, 2]);
    // model.getWeights() order: the trainable weights first, then the non-trainable ones.
    expect(slices.map((s) => s.offset)).toEqual([0, 4, 8, 16]);
    expect(slices.reduce((n, s) => n + s.size, 0)).toBeLessThan(weightCount(model));
    for (const slice of slices) {
      expect(Array.from(vector.subarray(slice.offset, slice.offset + slice.size))).toEqual(
        Array.from(slice.variable.dataSync()),
      );
      expect(slice.variable.trainable).toBe(true);
    }
    const names = new Set(model.trainableWeights.map((w) => (w.read() as tf.Variable).name));
    expect(new Set(slices.map((s) => s.variable.name))).toEqual(names);
  });

  it('tensorsBySlice cuts a vector into tensors of the variables’ shapes', () => {
    const model = mixedModel();
    const slices = trainableSlices(model);
    const vector = Float64Array.from({ length: weightCount(model) }, (_, i) => i);
    const tensors = tensorsBySlice(slices, vector);
    for (const slice of slices) {
      const { tensor } = tensors.get(slice.variable.name) as { tensor: tf.Tensor };
      expect(tensor.shape).toEqual(slice.shape);
      expect(Array.from(tensor.dataSync())).toEqual(Array.from({ length: slice.size }, (_, i) => slice.offset + i));
      tensor.dispose();
    }
  });
});
