import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { pseudoRandom, tinyModel, useWasm } from '../test-support/tfjs.ts';
import {
  ModelShapeMismatchError,
  modelToVector,
  modelToVectorAsync,
  NonFiniteWeightError,
  vectorToModel,
  weightCount,
} from './weights.ts';

beforeAll(useWasm);

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Conv-free model with non-trainable weights too (batch norm's moving mean and variance). */
function batchNormModel(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [3], units: 5, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
      tf.layers.batchNormalization(),
      tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
    ],
  });
}

describe('modelToVector', () => {
  it('is every weight in getWeights() order, flattened row-major', () => {
    expect(tf.getBackend()).toBe('wasm');
    const model = tinyModel();
    const weights = model.getWeights();
    expect(weights.map((w) => w.shape)).toEqual([[4, 8], [8], [8, 1], [1]]);
    expect(weightCount(model)).toBe(49);
    const vector = modelToVector(model);
    expect(vector).toBeInstanceOf(Float32Array);
    expect(vector.length).toBe(49);
    const concatenated = new Float32Array(49);
    let offset = 0;
    for (const w of weights) {
      concatenated.set(w.dataSync(), offset);
      offset += w.size;
    }
    expect(bits(vector)).toEqual(bits(concatenated));
    // kernel[0][1] is the second number (row-major).
    expect(vector[1]).toBe((weights[0] as tf.Tensor2D).arraySync()[0]?.[1]);
    model.dispose();
  });

  it('modelToVectorAsync reads the same numbers', async () => {
    const model = batchNormModel();
    expect(bits(await modelToVectorAsync(model))).toEqual(bits(modelToVector(model)));
    model.dispose();
  });
});

describe('vectorToModel', () => {
  it('round-trips bit-exactly, and another model of the same shape then predicts the same', () => {
    const a = tinyModel({ seed: 1 });
    const b = tinyModel({ seed: 99 });
    const va = modelToVector(a);
    expect(bits(modelToVector(b))).not.toEqual(bits(va));
    vectorToModel(b, va);
    expect(bits(modelToVector(b))).toEqual(bits(va));
    const x = tf.tensor2d(pseudoRandom(12, 5), [3, 4]);
    const pa = a.predict(x) as tf.Tensor;
    const pb = b.predict(x) as tf.Tensor;
    expect(bits(pb.dataSync() as Float32Array)).toEqual(bits(pa.dataSync() as Float32Array));
    tf.dispose([x, pa, pb]);
    a.dispose();
    b.dispose();
  });

  it('writes arbitrary values, including non-trainable weights, bit-exactly', () => {
    const model = batchNormModel();
    const n = weightCount(model);
    // 3·5 + 5 + (gamma, beta) 5 + 5 + (moving mean, variance) 5 + 5 + 5·2 + 2
    expect(n).toBe(52);
    const vector = pseudoRandom(n, 11);
    vectorToModel(model, vector);
    expect(bits(modelToVector(model))).toEqual(bits(vector));
    // Non-trainable weights come last (trainable first, getWeights() order).
    const names = model.weights.map((w) => w.name);
    expect(names.slice(-2).every((name) => name.includes('moving'))).toBe(true);
    model.dispose();
  });

  it('takes a Float64Array, rounding each value to float32', () => {
    const model = tinyModel();
    const vector = Float64Array.from(pseudoRandom(49, 2), (v) => v + 1e-12);
    vectorToModel(model, vector);
    expect(bits(modelToVector(model))).toEqual(bits(Float32Array.from(vector)));
    model.dispose();
  });

  it('throws ModelShapeMismatchError naming expected and got, and leaves the model unchanged', () => {
    const model = tinyModel();
    const before = modelToVector(model);
    for (const length of [48, 50, 0]) {
      let error: unknown;
      try {
        vectorToModel(model, new Float32Array(length));
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ModelShapeMismatchError);
      const mismatch = error as ModelShapeMismatchError;
      expect(mismatch.expected).toBe(49);
      expect(mismatch.got).toBe(length);
      expect(mismatch.message).toBe(`model vector: expected 49 weights (shapes [4,8] [8] [8,1] [1]), got ${length}`);
    }
    expect(bits(modelToVector(model))).toEqual(bits(before));
    model.dispose();
  });

  it('throws NonFiniteWeightError for NaN, ±Infinity and values beyond float32, naming index and weight', () => {
    const model = tinyModel();
    const before = modelToVector(model);
    const cases: [number, number][] = [
      [0, Number.NaN],
      [33, Number.POSITIVE_INFINITY],
      [40, Number.NEGATIVE_INFINITY],
      [48, 1e300],
    ];
    for (const [index, value] of cases) {
      const vector = Float64Array.from(before);
      vector[index] = value;
      let error: unknown;
      try {
        vectorToModel(model, vector);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(NonFiniteWeightError);
      const bad = error as NonFiniteWeightError;
      expect(bad.index).toBe(index);
      expect(Object.is(bad.value, value)).toBe(true);
      expect(bad.message).toMatch(`model vector[${index}]`);
      expect(bad.message).toMatch(`expected a finite float32, got ${value}`);
    }
    // Index 33 is in the first layer's bias (32 kernel values come first), 48 in the last bias.
    const name = (index: number): string => {
      try {
        const v = new Float32Array(before);
        v[index] = Number.NaN;
        vectorToModel(model, v);
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    };
    expect(name(33)).toMatch(model.weights[1]?.name as string);
    expect(name(48)).toMatch(model.weights[3]?.name as string);
    expect(bits(modelToVector(model))).toEqual(bits(before));
    model.dispose();
  });

  it('leaks no tensors, on success or failure', async () => {
    const model = batchNormModel();
    const n = weightCount(model);
    const vector = pseudoRandom(n, 3);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      vectorToModel(model, vector);
      modelToVector(model);
      await modelToVectorAsync(model);
      weightCount(model);
      expect(() => vectorToModel(model, vector.subarray(1))).toThrow(ModelShapeMismatchError);
      expect(() => vectorToModel(model, new Float32Array(n).fill(Number.NaN))).toThrow(NonFiniteWeightError);
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
