/**
 * TfjsParticipant's `dpSgd` option on the cpu backend: each round is DP-SGD charged to a ledger
 * carried across rounds and handed to `onLedger`; a resumed ledger whose budget is spent sits the
 * round out with `DpSgdBudgetError`; the option is checked at construction; and FedProx's and
 * SCAFFOLD's gradient corrections apply on top of the noisy clipped gradient exactly as on a plain
 * one (same seed, one step: the difference is the correction times the learning rate).
 */

import {
  type AccountantState,
  accountantEpsilon,
  addAccountantEvent,
  createAccountantState,
  initCrypto,
  type PetCrypto,
  PetError,
} from '@petfl/core';
import { maskedLength, type VectorLayout } from '@petfl/sdk';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pseudoRandom, syntheticData, tinyModel } from '../../test-support/tfjs.ts';
import { proximalCorrection } from '../fl/fedprox.ts';
import { trainWithCorrection } from '../fl/gradient-correction.ts';
import { ScaffoldClient } from '../fl/scaffold.ts';
import { trainableSlices } from '../fl/trainable-slices.ts';
import { TfjsParticipant, type TrainingProgress } from '../tfjs-participant.ts';
import { modelToVector } from '../weights.ts';
import { trainDpSgd } from './dp-sgd.ts';
import type { DpSgdOptions } from './dp-sgd-options.ts';
import { DpSgdBudgetError, type DpSgdStatus } from './dp-sgd-rounds.ts';

const P = 49;
let crypto: PetCrypto;
let data: { xs: tf.Tensor2D; ys: tf.Tensor2D };
beforeAll(async () => {
  await tf.setBackend('cpu');
  crypto = await initCrypto();
  data = syntheticData(64);
});
afterAll(() => tf.dispose([data.xs, data.ys]));

/** ⌈0.5·64/8⌉ = 4 steps a round. */
const options: DpSgdOptions = { clipNorm: 1, noiseMultiplier: 1.1, delta: 1e-5, expectedBatchSize: 8, epochs: 0.5 };

function ledgerOf(mechanism: NonNullable<DpSgdStatus['lastRound']>['mechanism'], steps: number): AccountantState {
  return addAccountantEvent(createAccountantState(), mechanism, steps);
}

describe('TfjsParticipant with dpSgd', () => {
  it('trains each round with DP-SGD, carries the ledger and hands it to onLedger', async () => {
    const model = tinyModel();
    const handed: { ledger: AccountantState; status: DpSgdStatus }[] = [];
    const progress: TrainingProgress[] = [];
    const participant = new TfjsParticipant({
      model,
      data,
      dpSgd: { options, crypto, onLedger: (ledger, status) => handed.push({ ledger, status }) },
      onProgress: (p) => progress.push(p),
    });
    expect(participant.dpSgdStatus).toEqual({
      ledger: createAccountantState(),
      epsilon: 0,
      lastRound: null,
      spent: false,
    });
    const before = modelToVector(model);
    await participant.trainRound(null);
    expect(modelToVector(model)).not.toEqual(before);
    const first = participant.dpSgdStatus?.lastRound;
    if (first === null || first === undefined) throw new Error('no DP-SGD result');
    expect(first.steps).toBe(4);
    expect(participant.dpSgdStatus?.ledger).toEqual(ledgerOf(first.mechanism, 4));
    // Steps as the batches of one epoch of ⌈64/8⌉ = 8 (half an epoch planned), without a loss.
    expect(progress).toEqual([1, 2, 3, 4].map((batch) => ({ epoch: 1, epochs: 1, batch, batches: 8 })));

    // Round two continues the ledger, from the global model it is given.
    await participant.trainRound(before);
    const eight = ledgerOf(first.mechanism, 8);
    expect(participant.dpSgdStatus?.ledger).toEqual(eight);
    expect(participant.dpSgdStatus?.epsilon).toBe(accountantEpsilon(eight, options.delta).value);
    // A stable snapshot: the same object until the next change.
    expect(participant.dpSgdStatus).toBe(participant.dpSgdStatus);
    expect(handed.map((h) => h.ledger)).toEqual([ledgerOf(first.mechanism, 4), eight]);
    expect(handed[1]?.status.lastRound?.steps).toBe(4);
    expect(handed[1]?.status.spent).toBe(false);
    // What is handed out is plain data that survives a structured clone.
    expect(structuredClone(handed[1]?.ledger)).toEqual(eight);
    model.dispose();
  });

  it('sits a round out, sending nothing, when a resumed ledger leaves no step within maxEpsilon', async () => {
    const model = tinyModel();
    const probe = new TfjsParticipant({ model, data, dpSgd: { options, crypto } });
    await probe.trainRound(null);
    const { mechanism } = probe.dpSgdStatus?.lastRound ?? { mechanism: undefined };
    if (mechanism === undefined) throw new Error('no mechanism');
    const spentLedger = ledgerOf(mechanism, 20);
    const maxEpsilon = accountantEpsilon(spentLedger, options.delta).value; // the next step would cross it

    const handed: AccountantState[] = [];
    const participant = new TfjsParticipant({
      model,
      data,
      dpSgd: { options: { ...options, maxEpsilon }, crypto, ledger: spentLedger, onLedger: (l) => handed.push(l) },
    });
    const global = modelToVector(model);
    for (let round = 0; round < 2; round++) {
      const error = await participant.trainRound(global).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DpSgdBudgetError);
      expect((error as DpSgdBudgetError).code).toBe('dp-sgd-budget');
      expect((error as Error).message).toMatch(/^DP-SGD budget spent: ε = .* this round is sat out/);
      expect(modelToVector(model)).toEqual(global);
      const status = participant.dpSgdStatus;
      expect(status?.spent).toBe(true);
      expect(status?.lastRound?.steps).toBe(0);
      expect(status?.lastRound?.stoppedBy).toBe('budget');
      expect(status?.ledger).toEqual(spentLedger);
      expect(status?.epsilon).toBe(maxEpsilon);
    }
    expect(handed).toEqual([]); // nothing new to persist
    model.dispose();
  });

  it('refuses at construction invalid options, a ledger that is not one, fit settings it would ignore, batch norm', () => {
    const make =
      (dpSgd: unknown, fit?: tf.ModelFitArgs, model = tinyModel()) =>
      () =>
        new TfjsParticipant({
          model,
          data,
          dpSgd: dpSgd as never,
          ...(fit === undefined ? {} : { fit }),
        });
    let error: unknown;
    try {
      make(
        { options: { clipNorm: 0, delta: 2, expectedBatchSize: 8 }, ledger: { v: 9 }, onLedger: 3 },
        { epochs: 2 },
      )();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PetError);
    expect((error as PetError).code).toBe('invalid-field');
    const message = (error as Error).message;
    for (const part of [
      'dpSgd.options: clipNorm: expected a number in (0, 1000000000], got 0',
      'dpSgd.options: noiseMultiplier, targetEpsilon: expected exactly one of them, got neither',
      'dpSgd.options: delta: expected a number in (0, 1), got 2',
      'dpSgd.ledger: ',
      'dpSgd.onLedger: expected a function',
      'fit.epochs: not used with dpSgd',
    ]) {
      expect(message).toContain(part);
    }
    // fit.batchSize still batches the evaluation: allowed.
    expect(make({ options }, { batchSize: 16 })).not.toThrow();
    const normed = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [4], units: 2 }),
        tf.layers.batchNormalization(),
        tf.layers.dense({ units: 1 }),
      ],
    });
    normed.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    expect(make({ options }, undefined, normed)).toThrow(/batch normalisation learns from the data/);
  });

  it('trains in a FedProx run and sends the update y − x', async () => {
    const layout: VectorLayout = {
      modelLength: P,
      send: 'update',
      controlVariates: false,
      metrics: [],
      maxExamples: 1000,
    };
    const model = tinyModel();
    const participant = new TfjsParticipant({
      model,
      data,
      dpSgd: { options, crypto },
      run: { layout, algorithm: { kind: 'fedprox', mu: 0.1 } },
    });
    const x = Float64Array.from(pseudoRandom(P, 11), (v) => v * 0.5);
    const result = await participant.trainRound(x);
    const sent = participant.serializeTrainingResult(result);
    expect(sent).toHaveLength(maskedLength(layout));
    const y = modelToVector(model);
    for (let i = 0; i < P; i++) expect(sent[i]).toBeCloseTo((y[i] as number) - (x[i] as number), 5);
    expect(participant.dpSgdStatus?.lastRound?.steps).toBe(4);
    model.dispose();
  });
});

describe('gradient corrections on a DP-SGD step', () => {
  // One step (⌈0.125·64/8⌉), same seed: the same batch and noise, so the same noisy gradient g̃.
  const oneStep: DpSgdOptions = { ...options, epochs: 0.125 };
  const seed = new Uint8Array(32).fill(5);
  const lr = 0.05; // tinyModel's SGD rate

  async function plainStep(): Promise<{ w0: Float32Array; y: Float32Array }> {
    const model = tinyModel();
    const w0 = modelToVector(model);
    const result = await trainDpSgd(model, data.xs, data.ys, oneStep, { crypto, seed });
    expect(result.steps).toBe(1);
    const y = modelToVector(model);
    model.dispose();
    return { w0, y };
  }

  it("FedProx's μ(w − x) is added to the noisy clipped gradient: y = w₀ − η(g̃ + μ(w₀ − x))", async () => {
    const { w0, y: plain } = await plainStep();
    const mu = 0.5;
    const x = Float64Array.from(pseudoRandom(P, 11), (v) => v * 0.5);
    const model = tinyModel();
    const proximal = proximalCorrection(trainableSlices(model), x, mu);
    const { steps } = await trainWithCorrection(model.optimizer, proximal.correct, () =>
      trainDpSgd(model, data.xs, data.ys, oneStep, { crypto, seed }),
    );
    proximal.dispose();
    expect(steps).toBe(1);
    const y = modelToVector(model);
    for (let i = 0; i < P; i++) {
      const shift = -lr * mu * ((w0[i] as number) - (x[i] as number));
      expect(Math.abs((y[i] as number) - (plain[i] as number) - shift)).toBeLessThan(1e-6);
    }
    model.dispose();
  });

  it("SCAFFOLD's c − cᵢ is added to the noisy clipped gradient, and K counts the DP-SGD steps", async () => {
    const { y: plain } = await plainStep();
    const c = Float64Array.from(pseudoRandom(P, 12), (v) => v * 0.3);
    const model = tinyModel();
    const client = new ScaffoldClient(P); // cᵢ = 0
    const correction = client.correction(trainableSlices(model), c);
    const { steps } = await trainWithCorrection(model.optimizer, correction.correct, () =>
      trainDpSgd(model, data.xs, data.ys, oneStep, { crypto, seed }),
    );
    correction.dispose();
    expect(steps).toBe(1);
    const y = modelToVector(model);
    for (let i = 0; i < P; i++) {
      expect(Math.abs((y[i] as number) - (plain[i] as number) + lr * (c[i] as number))).toBeLessThan(1e-6);
    }
    model.dispose();
  });
});
