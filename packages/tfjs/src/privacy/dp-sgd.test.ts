/**
 * DP-SGD on the cpu backend: a noiseless full-batch step is plain SGD, clipping matches a
 * hand-computed sum of clipped gradients, the noise has standard deviation σ·C/(qN), every step
 * is charged to core's accountant and the budget stops training before ε would exceed it, and a
 * small model still learns under noise.
 */

import {
  type AccountantState,
  accountantEpsilon,
  addAccountantEvent,
  createAccountantState,
  initCrypto,
  type PetCrypto,
  randomSource,
} from '@petfl/core';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lossOf, syntheticData, tinyModel } from '../../test-support/tfjs.ts';
import { trainableSlices } from '../fl/trainable-slices.ts';
import { modelToVector } from '../weights.ts';
import { applyGradientVector, clippedGradientSum } from './clipped-gradients.ts';
import { trainDpSgd } from './dp-sgd.ts';
import { type DpSgdOptions, resolveDpSgd } from './dp-sgd-options.ts';
import { accountedNoiseMultiplier, GRID_STEPS } from './grid-noise.ts';
import { poissonBatch } from './poisson-batch.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  await tf.setBackend('cpu');
  crypto = await initCrypto();
});

const seed = (n: number) => new Uint8Array(32).fill(n);

/** y = w·x + b with w = [0.5, −1], b = 0.25, compiled with SGD at `learningRate`, MSE. */
function linearModel(learningRate: number): tf.LayersModel {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1 })] });
  model.setWeights([tf.tensor2d([[0.5], [-1]]), tf.tensor1d([0.25])]);
  model.compile({ optimizer: tf.train.sgd(learningRate), loss: 'meanSquaredError' });
  return model;
}

/** Four examples whose gradients (at the weights above) have norms from 0.5 to about 12. */
const X = [
  [1, 2],
  [-1, 0.5],
  [2, -1],
  [0, 1],
];
const Y = [0.5, -2, 1, -1];

/** ∂/∂[w₀, w₁, b] of (w·x + b − y)² at the weights of linearModel, in float64. */
function exampleGradient(i: number): number[] {
  const x = X[i] as number[];
  const r = 0.5 * (x[0] as number) - (x[1] as number) + 0.25 - (Y[i] as number);
  return [2 * r * (x[0] as number), 2 * r * (x[1] as number), 2 * r];
}

function norm(v: readonly number[]): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

/** The model's [w₀, w₁, b] (modelToVector order: kernel, then bias). */
function linearWeights(model: tf.LayersModel): number[] {
  return [...modelToVector(model)];
}

function withLinearData<T>(use: (xs: tf.Tensor, ys: tf.Tensor) => Promise<T>): Promise<T> {
  const xs = tf.tensor2d(X);
  const ys = tf.tensor2d(Y.map((y) => [y]));
  return use(xs, ys).finally(() => tf.dispose([xs, ys]));
}

describe('a DP-SGD step without noise', () => {
  it('is the plain SGD step with q = 1 and a clip norm no gradient reaches', async () => {
    const lr = 0.1;
    const model = linearModel(lr);
    const before = linearWeights(model);
    await withLinearData(async (xs, ys) => {
      const source = randomSource(crypto, seed(1));
      const batch = poissonBatch(source, 4, 4); // q = 1: every example, deterministically
      source.dispose();
      expect([...batch]).toEqual([0, 1, 2, 3]);
      const slices = trainableSlices(model);
      const sum = await clippedGradientSum(
        model,
        slices,
        (t, p) => tf.losses.meanSquaredError(t, p),
        { xs, ys },
        batch,
        {
          clipNorm: 1e6,
          microbatchSize: 1,
        },
      );
      applyGradientVector(model.optimizer, slices, sum, 1 / 4);
    });
    // By hand: w ← w − lr·(1/N)·Σᵢ ∇(w·xᵢ + b − yᵢ)².
    const mean = [0, 1, 2].map((j) => [0, 1, 2, 3].reduce((s, i) => s + (exampleGradient(i)[j] as number), 0) / 4);
    const expected = before.map((w, j) => w - lr * (mean[j] as number));
    const after = linearWeights(model);
    for (let j = 0; j < 3; j++) expect(after[j]).toBeCloseTo(expected[j] as number, 5);
    expect(norm(after.map((w, j) => w - (before[j] as number)))).toBeGreaterThan(0.1); // the step moved
    model.dispose();
  });

  it('through trainDpSgd with negligible noise, is that step up to the grid', async () => {
    const lr = 0.1;
    const model = linearModel(lr);
    const before = linearWeights(model);
    const clipNorm = 1.01 * Math.max(...[0, 1, 2, 3].map((i) => norm(exampleGradient(i))));
    const result = await withLinearData((xs, ys) =>
      trainDpSgd(
        model,
        xs,
        ys,
        // σK ≈ 10⁻⁵: the discrete Gaussian is 0 except with probability ~e^(−5·10⁹).
        { clipNorm, noiseMultiplier: 1e-7, delta: 1e-5, expectedBatchSize: 4, epochs: 1 },
        { crypto },
      ),
    );
    expect(result.steps).toBe(1);
    const mean = [0, 1, 2].map((j) => [0, 1, 2, 3].reduce((s, i) => s + (exampleGradient(i)[j] as number), 0) / 4);
    const grid = clipNorm / (GRID_STEPS * Math.sqrt(3));
    const after = linearWeights(model);
    for (let j = 0; j < 3; j++) {
      const expected = (before[j] as number) - lr * (mean[j] as number);
      expect(Math.abs((after[j] as number) - expected)).toBeLessThanOrEqual((lr * grid) / 2 / 4 + 1e-6);
    }
    model.dispose();
  });
});

describe('clipping', () => {
  it('clips each example gradient to C before summing', async () => {
    const model = linearModel(0.1);
    const clipNorm = 2;
    const norms = [0, 1, 2, 3].map((i) => norm(exampleGradient(i)));
    // Some gradients are clipped, some not: both branches of min(1, C/‖g‖) are checked.
    expect(norms.filter((n) => n > clipNorm).length).toBeGreaterThan(0);
    expect(norms.filter((n) => n < clipNorm).length).toBeGreaterThan(0);
    const sum = await withLinearData((xs, ys) =>
      clippedGradientSum(
        model,
        trainableSlices(model),
        (t, p) => tf.losses.meanSquaredError(t, p),
        { xs, ys },
        Int32Array.from([0, 1, 2, 3]),
        { clipNorm, microbatchSize: 1 },
      ),
    );
    const expected = [0, 1, 2].map((j) =>
      [0, 1, 2, 3].reduce(
        (s, i) => s + (exampleGradient(i)[j] as number) * Math.min(1, clipNorm / (norms[i] as number)),
        0,
      ),
    );
    for (let j = 0; j < 3; j++) expect(sum[j]).toBeCloseTo(expected[j] as number, 4);
    model.dispose();
  });

  it('clips the mean gradient of each microbatch with microbatchSize > 1', async () => {
    const model = linearModel(0.1);
    const clipNorm = 1;
    const sum = await withLinearData((xs, ys) =>
      clippedGradientSum(
        model,
        trainableSlices(model),
        (t, p) => tf.losses.meanSquaredError(t, p),
        { xs, ys },
        Int32Array.from([0, 1, 2, 3]),
        { clipNorm, microbatchSize: 2 },
      ),
    );
    let expected = [0, 0, 0];
    for (const [a, b] of [
      [0, 1],
      [2, 3],
    ] as const) {
      const mean = exampleGradient(a).map((g, j) => (g + (exampleGradient(b)[j] as number)) / 2);
      const factor = Math.min(1, clipNorm / norm(mean));
      expected = expected.map((s, j) => s + (mean[j] as number) * factor);
    }
    for (let j = 0; j < 3; j++) expect(sum[j]).toBeCloseTo(expected[j] as number, 4);
    expect(norm([...sum])).toBeLessThanOrEqual(2 * clipNorm);
    model.dispose();
  });
});

describe('noise', () => {
  it('has standard deviation σ·C/(qN) per coordinate when the gradients are zero', async () => {
    // x = 0 and no bias: every gradient is exactly zero, so with SGD at rate 1 the step is −noise/(qN).
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [100], units: 100, useBias: false })] });
    model.compile({ optimizer: tf.train.sgd(1), loss: 'meanSquaredError' });
    const before = modelToVector(model);
    const xs = tf.zeros([8, 100]);
    const ys = tf.ones([8, 100]);
    const sigma = 1.5;
    const clipNorm = 2;
    const expectedBatchSize = 4; // q = 1/2, qN = 4
    const result = await trainDpSgd(
      model,
      xs,
      ys,
      { clipNorm, noiseMultiplier: sigma, delta: 1e-5, expectedBatchSize, epochs: 0.5 },
      { crypto },
    );
    tf.dispose([xs, ys]);
    expect(result.steps).toBe(1);
    const after = modelToVector(model);
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < after.length; i++) {
      const d = (after[i] as number) - (before[i] as number);
      sum += d;
      sumSq += d * d;
    }
    const n = after.length;
    const mean = sum / n;
    const std = Math.sqrt(sumSq / n - mean * mean);
    const target = (sigma * clipNorm) / expectedBatchSize;
    expect(Math.abs(std / target - 1)).toBeLessThan(0.05);
    expect(Math.abs(mean)).toBeLessThan((5 * target) / Math.sqrt(n));
    model.dispose();
  });
});

describe('Poisson sampling', () => {
  it('draws each example with probability b/N, so batch sizes vary around b', () => {
    const source = randomSource(crypto, seed(2));
    const sizes: number[] = [];
    const counts = new Array<number>(50).fill(0);
    for (let t = 0; t < 400; t++) {
      const batch = poissonBatch(source, 50, 10);
      sizes.push(batch.length);
      for (const i of batch) counts[i] = (counts[i] as number) + 1;
    }
    source.dispose();
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    expect(mean).toBeGreaterThan(9.5); // Binomial(50, 0.2): mean 10, sd of the mean 0.14
    expect(mean).toBeLessThan(10.5);
    expect(new Set(sizes).size).toBeGreaterThan(5);
    // Every example is drawn about 400·0.2 = 80 times (sd 8).
    expect(Math.min(...counts)).toBeGreaterThan(45);
    expect(Math.max(...counts)).toBeLessThan(115);
  });
});

describe('accounting and budget', () => {
  let data: { xs: tf.Tensor2D; ys: tf.Tensor2D };
  beforeAll(() => {
    data = syntheticData(64);
  });
  afterAll(() => tf.dispose([data.xs, data.ys]));
  const options: DpSgdOptions = { clipNorm: 1, noiseMultiplier: 1.1, delta: 1e-5, expectedBatchSize: 8, epochs: 0.5 };

  it('charges each step as a subsampled Gaussian, and continues a ledger passed back', async () => {
    const model = tinyModel();
    const progress: number[] = [];
    const first = await trainDpSgd(model, data.xs, data.ys, options, {
      crypto,
      seed: seed(3),
      onStep: (p) => progress.push(p.epsilon),
    });
    expect(first.steps).toBe(4); // ⌈0.5·64/8⌉
    expect(first.stoppedBy).toBeUndefined();
    expect(first.mechanism).toEqual({
      kind: 'subsampled-gaussian',
      noiseMultiplier: accountedNoiseMultiplier(1.1),
      samplingRate: 8 / 64,
    });
    expect(first.mechanism.noiseMultiplier).toBeCloseTo((1.1 * 64) / 65, 10);
    const four = addAccountantEvent(createAccountantState(), first.mechanism, 4);
    expect(first.accountant).toEqual(four);
    expect(first.epsilon).toBe(accountantEpsilon(four, 1e-5).value);
    expect(progress).toHaveLength(4);
    expect(progress[3]).toBe(first.epsilon);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);

    // The ledger is plain data: a structured clone of it continues the count.
    const kept = structuredClone(first.accountant) as AccountantState;
    const second = await trainDpSgd(model, data.xs, data.ys, options, { crypto, accountant: kept });
    const eight = addAccountantEvent(createAccountantState(), first.mechanism, 8);
    expect(second.accountant).toEqual(eight);
    expect(second.epsilon).toBe(accountantEpsilon(eight, 1e-5).value);
    expect(second.epsilon).toBeGreaterThan(first.epsilon);
    model.dispose();
  });

  it('stops before the step that would take ε over maxEpsilon, and takes none once there', async () => {
    const { mechanism } = resolveDpSgd(options, 64);
    const eps = (k: number) => accountantEpsilon(addAccountantEvent(createAccountantState(), mechanism, k), 1e-5).value;
    const maxEpsilon = (eps(3) + eps(4)) / 2;
    const model = tinyModel();
    const result = await trainDpSgd(model, data.xs, data.ys, { ...options, epochs: 1, maxEpsilon }, { crypto });
    expect(result.plannedSteps).toBe(8);
    expect(result.steps).toBe(3);
    expect(result.stoppedBy).toBe('budget');
    expect(result.epsilon).toBe(eps(3));
    expect(result.epsilon).toBeLessThanOrEqual(maxEpsilon);

    const before = modelToVector(model);
    const again = await trainDpSgd(
      model,
      data.xs,
      data.ys,
      { ...options, maxEpsilon },
      {
        crypto,
        accountant: result.accountant,
      },
    );
    expect(again.steps).toBe(0);
    expect(again.stoppedBy).toBe('budget');
    expect(again.accountant).toEqual(result.accountant);
    expect(modelToVector(model)).toEqual(before);
    model.dispose();
  });

  it('solves σ from a target ε that the planned steps then spend, within it', async () => {
    const model = tinyModel();
    const result = await trainDpSgd(
      model,
      data.xs,
      data.ys,
      { clipNorm: 1, targetEpsilon: 2, delta: 1e-5, expectedBatchSize: 16, epochs: 2 },
      { crypto },
    );
    expect(result.steps).toBe(8);
    expect(result.stoppedBy).toBeUndefined(); // maxEpsilon defaults to the target: all 8 fit
    expect(result.epsilon).toBeLessThanOrEqual(2);
    expect(result.epsilon).toBeGreaterThan(1.99);
    expect(result.noiseMultiplier).toBeGreaterThan(result.mechanism.noiseMultiplier);
    model.dispose();
  });

  it('stops between steps when aborted', async () => {
    const model = tinyModel();
    const controller = new AbortController();
    const result = await trainDpSgd(model, data.xs, data.ys, options, {
      crypto,
      signal: controller.signal,
      onStep: (p) => {
        if (p.step === 2) controller.abort();
      },
    });
    expect(result.steps).toBe(2);
    expect(result.stoppedBy).toBe('aborted');
    expect(result.accountant.events[0]?.count).toBe(2);
    model.dispose();
  });
});

describe('validation', () => {
  it('lists every problem of the options in one invalid-field error', async () => {
    const model = tinyModel();
    const data = syntheticData(10);
    const bad = {
      clipNorm: 0,
      noiseMultiplier: 1,
      targetEpsilon: 3,
      delta: 1,
      expectedBatchSize: 11,
      microbatchSize: 1.5,
      extra: true,
    } as unknown as DpSgdOptions;
    const error = await trainDpSgd(model, data.xs, data.ys, bad, { crypto }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'PetError', code: 'invalid-field' });
    const message = (error as Error).message;
    for (const field of [
      'clipNorm',
      'noiseMultiplier, targetEpsilon',
      'delta',
      'expectedBatchSize',
      'microbatchSize',
      'extra',
    ]) {
      expect(message).toContain(`${field}:`);
    }
    tf.dispose([data.xs, data.ys]);
    model.dispose();
  });

  it('refuses batch normalisation, mismatched data and a ledger that is not one', async () => {
    const bn = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [4], units: 2 }),
        tf.layers.batchNormalization(),
        tf.layers.dense({ units: 1 }),
      ],
    });
    bn.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
    const data = syntheticData(10);
    const options: DpSgdOptions = { clipNorm: 1, noiseMultiplier: 1, delta: 1e-5, expectedBatchSize: 2 };
    await expect(trainDpSgd(bn, data.xs, data.ys, options, { crypto })).rejects.toThrow(/batch normalisation/);
    const model = tinyModel();
    const ys = tf.zeros([9, 1]);
    await expect(trainDpSgd(model, data.xs, ys, options, { crypto })).rejects.toThrow(/ys: expected 10 examples/);
    await expect(
      trainDpSgd(model, data.xs, data.ys, options, { crypto, accountant: { v: 2 } as unknown as AccountantState }),
    ).rejects.toMatchObject({ code: 'invalid-field' });
    tf.dispose([data.xs, data.ys, ys]);
    bn.dispose();
    model.dispose();
  });
});

describe('learning under noise', () => {
  it('lowers the loss of a small model on a synthetic regression', async () => {
    const data = syntheticData(128, 11);
    const model = tinyModel({ seed: 5, learningRate: 0.2 });
    const before = await lossOf(model, data);
    const result = await trainDpSgd(
      model,
      data.xs,
      data.ys,
      { clipNorm: 1, noiseMultiplier: 1, delta: 1e-5, expectedBatchSize: 32, epochs: 12 },
      { crypto, seed: seed(4) },
    );
    const after = await lossOf(model, data);
    expect(result.steps).toBe(48);
    expect(Number.isFinite(result.epsilon)).toBe(true);
    // σ = 1 with C = 1 and 32 examples per step; loss falls to ~5 % of its start (4 % to 8 % over seeds).
    expect(after).toBeLessThan(before / 4);
    tf.dispose([data.xs, data.ys]);
    model.dispose();
  });
});
