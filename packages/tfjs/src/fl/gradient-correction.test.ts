/**
 * trainWithCorrection on the cpu backend: it counts the steps of a `model.fit`, corrects each
 * gradient before the optimizer applies it, and leaves the optimizer as it was — also when
 * training throws.
 */

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticData, tinyModel } from '../../test-support/tfjs.ts';
import { modelToVector } from '../weights.ts';
import { trainWithCorrection } from './gradient-correction.ts';

let data: { xs: tf.Tensor2D; ys: tf.Tensor2D };
beforeAll(async () => {
  await tf.setBackend('cpu');
  data = syntheticData(40);
});
afterAll(() => tf.dispose([data.xs, data.ys]));

describe('trainWithCorrection', () => {
  it('counts the steps (K = epochs · batches) and removes its hook afterwards', async () => {
    const model = tinyModel();
    const { optimizer } = model;
    const seen: string[] = [];
    const { result, steps } = await trainWithCorrection(
      optimizer,
      (name) => {
        seen.push(name);
        return undefined; // leave every gradient as it is
      },
      () => model.fit(data.xs, data.ys, { epochs: 2, batchSize: 16, shuffle: false }),
    );
    expect(result.epoch).toEqual([0, 1]);
    expect(steps).toBe(6); // 40 examples in batches of 16: 3 batches, 2 epochs
    // Every trainable variable (2 kernels, 2 biases) each step.
    expect(seen).toHaveLength(24);
    expect(new Set(seen)).toEqual(new Set(model.trainableWeights.map((w) => (w.read() as tf.Variable).name)));
    expect(Object.hasOwn(optimizer, 'applyGradients')).toBe(false);
  });

  it('applies the corrected gradient: a zero gradient leaves the weights as they were', async () => {
    const model = tinyModel({ seed: 4 });
    const before = modelToVector(model);
    await trainWithCorrection(
      model.optimizer,
      (_name, gradient) => tf.zerosLike(gradient),
      () => model.fit(data.xs, data.ys, { epochs: 1, batchSize: 8 }),
    );
    expect(modelToVector(model)).toEqual(before);
  });

  it('removes its hook when training throws, and refuses to hook an optimizer twice', async () => {
    const model = tinyModel();
    const { optimizer } = model;
    await expect(
      trainWithCorrection(
        optimizer,
        () => undefined,
        () =>
          trainWithCorrection(
            optimizer,
            () => undefined,
            async () => 0,
          ),
      ),
    ).rejects.toThrow(/already being trained with a correction/);
    expect(Object.hasOwn(optimizer, 'applyGradients')).toBe(false);
    const failing = trainWithCorrection(
      optimizer,
      () => undefined,
      async () => {
        throw new Error('fit failed');
      },
    );
    await expect(failing).rejects.toThrow('fit failed');
    expect(Object.hasOwn(optimizer, 'applyGradients')).toBe(false);
  });
});
