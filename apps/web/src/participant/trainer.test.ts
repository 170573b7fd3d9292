import { modelToVector } from '@petfl/tfjs';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeWasmPaths } from '../../node/initial-model.ts';
import { buildModel } from '../model.ts';
import { ContinuousTrainer, type TrainedEpoch } from './trainer.ts';

const LAYERS = [4, 3, 2];
let data: { xs: tf.Tensor2D; ys: tf.Tensor2D };

beforeAll(async () => {
  setWasmPaths(nodeWasmPaths());
  await tf.setBackend('wasm');
  data = {
    xs: tf.tensor2d(Array.from({ length: 32 }, (_, i) => [i % 2, (i >> 1) % 2, (i >> 2) % 2, 0.5])),
    ys: tf.tensor2d(
      Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? [1, 0] : [0, 1])).flatMap((row) => [row, row, row, row]),
    ),
  };
});
afterAll(() => tf.dispose([data.xs, data.ys]));

function trainer() {
  const model = buildModel(LAYERS);
  const ends: (number | null)[] = [];
  let trained: () => void = () => {};
  /** Resolves once the first batch has been trained. */
  const firstBatch = new Promise<void>((resolve) => {
    trained = resolve;
  });
  const t = new ContinuousTrainer({
    model,
    data,
    epochs: 1,
    batchSize: 8,
    onProgress: () => trained(),
    onEpoch: ({ baseRound }) => ends.push(baseRound),
  });
  return { t, model, ends, firstBatch };
}

describe('ContinuousTrainer', () => {
  it('hands each epoch over with the base it trained from: the initial weights first', async () => {
    const { t, model } = trainer();
    const initial = modelToVector(model);
    t.start();
    const first: TrainedEpoch = await t.next();
    expect(first.base.roundId).toBeNull();
    expect(Array.from(first.base.model)).toEqual(Array.from(initial));
    expect(Array.from(first.weights)).not.toEqual(Array.from(initial));
    t.stop();
  });

  it('an epoch that started from an older global model keeps that base when a newer one comes meanwhile', async () => {
    const { t, ends, firstBatch } = trainer();
    const older = new Float32Array(modelToVector(buildModel(LAYERS)).length).fill(0.1);
    const newer = new Float32Array(older.length).fill(-0.1);
    t.newGlobalModel(older, 3);
    await firstBatch; // the epoch from round 3's model is under way
    t.newGlobalModel(newer, 4); // round 4's comes while it trains (or after it ended)
    const stale = await t.next();
    expect(stale.base).toEqual({ roundId: 3, model: older });
    const fresh = await t.next();
    expect(fresh.base).toEqual({ roundId: 4, model: newer });
    expect(ends).toEqual([3, 4]);
    t.stop();
  });

  it('starts an epoch in a task of its own, from the newest global model come by then', async () => {
    const { t, ends } = trainer();
    const older = new Float32Array(modelToVector(buildModel(LAYERS)).length).fill(0.1);
    const newer = new Float32Array(older.length).fill(-0.1);
    t.newGlobalModel(older, 3); // no training in the caller's task
    t.newGlobalModel(newer, 4); // so round 3's model, superseded before its epoch began, is skipped
    const epoch = await t.next();
    expect(epoch.base).toEqual({ roundId: 4, model: newer });
    expect(ends).toEqual([4]);
    t.stop();
  });
});
