/**
 * Training runs end to end (docs/learning.md): a real coordinator in process with `[run]` enabled
 * and TfjsParticipants run by `spawnParticipant`, every request through `app.request`, each
 * participant learning its layout from `GET /run` (fetchRunInfo). FedYogi on the server with
 * SCAFFOLD on the participants, and FedAvgM with FedProx; the federated loss the coordinator
 * unmasks is checked against the loss of the evaluated global model computed here. Waits on state
 * (completed rounds), never on time.
 */

import {
  systemClock as coordinatorClock,
  createCoordinatorApp,
  MemoryModelStore,
  parseSettings,
} from '@petfl/coordinator';
import { initCrypto } from '@petfl/core';
import { fetchRunInfo, MemoryStateStore, type ParticipantHandle, spawnParticipant } from '@petfl/sdk';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { PARTICIPANTS, runSettingsToml } from '../../test-support/run-settings.ts';
import { lossOf, syntheticData, tinyModel, useWasm } from '../../test-support/tfjs.ts';
import { TfjsParticipant } from '../tfjs-participant.ts';
import { modelToVector, vectorToModel } from '../weights.ts';
import type { ClientAlgorithm } from './training-run.ts';

const P = 49;
const ROUNDS = 3;

function settings(run: string): string {
  return runSettingsToml({
    adminToken: 'run-e2e-admin',
    modelLength: P,
    run: `metrics = ["loss"]\nmax_examples = 1000\n${run}`,
  });
}

interface RunReport {
  round: number;
  strategy: string;
  evaluations: { modelRoundId: number; roundId: number; values: { loss: number } | null }[];
}

beforeAll(useWasm);
const handles: ParticipantHandle[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const handle of handles.splice(0)) await handle.stop();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function trainingRun(runToml: string, algorithm: ClientAlgorithm) {
  const crypto = await initCrypto();
  const models = new MemoryModelStore();
  // The same starting weights everywhere: the run's initial model.
  const initial = modelToVector(tinyModel({ seed: 1 }));
  const created = await createCoordinatorApp(parseSettings(settings(runToml), {}), {
    crypto,
    models,
    clock: coordinatorClock,
    initialModel: initial,
  });
  cleanups.push(() => created.close());
  const fetch = async (url: string | URL, init?: unknown) => created.app.request(String(url), init as RequestInit);

  const info = await fetchRunInfo('http://petfl.test', { fetch });
  expect(info).not.toBeNull();
  const layout = info?.layout;
  if (layout === undefined) throw new Error('no run');
  // Every participant evaluates on the same data: the federated loss is then exactly that data's loss.
  const evaluation = syntheticData(64, 4242);
  cleanups.push(() => tf.dispose([evaluation.xs, evaluation.ys]));
  for (let i = 0; i < PARTICIPANTS; i++) {
    const model = tinyModel({ seed: 1 });
    const shard = syntheticData(48, 100 + i);
    cleanups.push(() => tf.dispose([shard.xs, shard.ys]));
    const participant = new TfjsParticipant({
      model,
      data: shard,
      fit: { epochs: 2, batchSize: 16 },
      run: { layout, algorithm, evaluationData: evaluation },
    });
    handles.push(
      await spawnParticipant('http://petfl.test', participant, {
        fetch,
        store: new MemoryStateStore(),
        logLevel: 'error',
        pollMs: 10,
        maxPollMs: 100,
      }),
    );
  }
  const report = async (): Promise<RunReport> =>
    (await (
      await created.app.request('/admin/run', { headers: { authorization: 'Bearer run-e2e-admin' } })
    ).json()) as RunReport;
  // A backstop only: no phase ends on this (test-support/run-settings.ts).
  const deadline = Date.now() + 150_000;
  while ((await report()).round < ROUNDS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const final = await report();
  expect(final.round).toBeGreaterThanOrEqual(ROUNDS);
  for (const handle of handles) expect(handle.getSnapshot().lastError?.code ?? null).not.toBe('trainRound');

  // The federated loss of each evaluated global model is that model's loss on the evaluation data.
  const probe = tinyModel({ seed: 1 });
  cleanups.push(() => {
    probe.dispose();
  });
  expect(final.evaluations.length).toBeGreaterThanOrEqual(ROUNDS);
  for (const { modelRoundId, values } of final.evaluations) {
    const global = await models.get(modelRoundId);
    if (global === undefined || values === null) throw new Error(`round ${modelRoundId}: no model or no evaluation`);
    vectorToModel(probe, Float32Array.from(global.model.subarray(0, P)));
    const loss = await lossOf(probe, evaluation);
    expect(Math.abs(values.loss - loss)).toBeLessThanOrEqual(1e-5 * Math.max(1, loss));
  }
  // And the run learns: the latest model beats the initial one on held-out data.
  const test = syntheticData(200, 999);
  cleanups.push(() => tf.dispose([test.xs, test.ys]));
  vectorToModel(probe, initial);
  const initialLoss = await lossOf(probe, test);
  const latest = await models.latest();
  vectorToModel(probe, Float32Array.from(latest?.model.subarray(0, P) ?? []));
  expect(await lossOf(probe, test)).toBeLessThan(initialLoss / 2);
  return { latest, final };
}

it('FedYogi with SCAFFOLD: the control variate travels with the update and the run learns', async () => {
  const { latest, final } = await trainingRun(
    'strategy = "fedyogi"\nserver_learning_rate = 0.1\ncontrol_variates = true',
    { kind: 'scaffold' },
  );
  expect(final.strategy).toBe('fedyogi');
  // The global model carries the server control variate c after x, moved by the participants' deltas.
  expect(latest?.model.length).toBe(2 * P);
  const c = latest?.model.subarray(P) ?? new Float64Array();
  expect(c.some((value) => value !== 0)).toBe(true);
  expect(c.every(Number.isFinite)).toBe(true);
}, 180_000);

it('FedAvgM with FedProx participants learns', async () => {
  const { latest, final } = await trainingRun('strategy = "fedavgm"\nserver_momentum = 0.5', {
    kind: 'fedprox',
    mu: 0.1,
  });
  expect(final.strategy).toBe('fedavgm');
  expect(latest?.model.length).toBe(P);
}, 180_000);
