/**
 * Training runs end to end through the coordinator's HTTP API (docs/learning.md): real sealed
 * messages from core-built participants, a strategy over the unmasked average, SCAFFOLD's control
 * variate and federated metrics in the same masked vector, checkpoints, early stopping, the run's
 * round limit, restore — and a run interrupted by restarts (between rounds and mid-round, on Redis
 * and the filesystem model store) producing the same models, bit for bit, as an uninterrupted one.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyClipBit,
  type DistributedRoundPrivacy,
  decodeGlobalModel,
  decodeRoundParameters,
  encodeContribution,
  type GlobalModel,
  isDistributed,
  maskParams,
  privatizeUpdate,
  type RoundParameters,
  type RoundPrivacy,
  releaseAverage,
  type VectorLayout,
  verifyRoundPrivacy,
} from '@petfl/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Harness, identities, runRound, startHarness, testSettings } from '../../test-support/harness.ts';
import { ManualClock } from '../../test-support/manual-clock.ts';
import { deletePrefix, probeRedisFor, REDIS_REQUIRED, REDIS_URL, testPrefix } from '../../test-support/redis.ts';
import {
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  pickTasks,
  post,
  type SimParticipant,
  sum2Message,
  sumMessage,
  updateMessage,
} from '../../test-support/sim.ts';
import { parseSettings } from '../settings.ts';
import { FsModelStore } from '../store/fs-model-store.ts';
import { MemoryModelStore } from '../store/memory-model-store.ts';
import { RedisCoordinatorStore } from '../store/redis-store.ts';
import { decodeCheckpoint } from './checkpoint.ts';
import { epsilonOverRounds } from './round-privacy.ts';

const P = 20;
const unreachable = await probeRedisFor('training-run restart tests');

const open: Harness[] = [];
const dirs: string[] = [];
const prefixes: string[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});
afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  for (const prefix of prefixes) await deletePrefix(prefix);
});

function runEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PETFL_MODEL_LENGTH: String(P),
    PETFL_RUN_ENABLED: 'true',
    PETFL_RUN_STRATEGY: 'fedadam',
    PETFL_RUN_CONTROL_VARIATES: 'true',
    PETFL_RUN_METRICS: 'loss,accuracy',
    PETFL_RUN_MAX_EXAMPLES: '1000',
    ...extra,
  };
}

async function start(env: Record<string, string>, options: Parameters<typeof startHarness>[1] = {}): Promise<Harness> {
  const h = await startHarness(testSettings(env), options);
  open.push(h);
  return h;
}

async function latest(h: Harness): Promise<GlobalModel> {
  const res = await h.fetch('/model');
  expect(res.status).toBe(200);
  return decodeGlobalModel(new Uint8Array(await res.arrayBuffer()));
}

const TARGET = Float64Array.from({ length: P }, (_, j) => Math.sin(j + 1));

/** What a participant "learns" from the global model it holds: a deterministic update, control delta and evaluation. */
function learner(
  layout: VectorLayout,
  global: GlobalModel,
  lossShift = 0,
  scalarOf: (i: number) => number = (i) => 1 + (i % 3) / 2,
) {
  const x = global.model.subarray(0, P);
  let distance = 0;
  for (let j = 0; j < P; j++) distance += ((x[j] as number) - (TARGET[j] as number)) ** 2;
  return (i: number) => {
    const update = Float64Array.from(
      { length: P },
      (_, j) => 0.5 * ((TARGET[j] as number) - (x[j] as number)) + 0.01 * i,
    );
    const controlDelta = Float64Array.from({ length: P }, (_, j) => 0.001 * (j - i));
    const loss = distance / P + 0.01 * i + lossShift;
    const scalar = scalarOf(i);
    return {
      scalar,
      model: encodeContribution(
        layout,
        {
          model: update,
          ...(layout.controlVariates ? { controlDelta } : {}),
          ...(layout.metrics.length > 0
            ? { evaluation: { examples: 100 + 10 * i, metrics: { loss, accuracy: 1 / (1 + loss) } } }
            : {}),
        },
        scalar,
      ),
    };
  };
}

interface RunReportJson {
  round: number;
  status: string;
  ended: { reason: string; message: string; roundId: number } | null;
  modelRoundId: number;
  evaluations: { modelRoundId: number; roundId: number; values: Record<string, number> | null }[];
  best: { roundId: number; metric: string; value: number } | null;
  restorePending: number | null;
  restoredFrom: number | null;
  nextRound: string;
}

async function report(h: Harness): Promise<RunReportJson> {
  const res = await h.admin('/run');
  expect(res.status).toBe(200);
  return (await res.json()) as RunReportJson;
}

/** One round in which every update participant learns from the served global model. */
async function trainRound(
  h: Harness,
  pool: readonly SimParticipant[],
  seed: number,
  lossShift = 0,
  scalarOf?: (i: number) => number,
) {
  const layout = h.settings.run.layout;
  const global = await latest(h);
  const learn = learner(layout, global, lossShift, scalarOf);
  return runRound(h, pool, { sum: 3, update: 10 }, seed, { contribution: (i) => learn(i) });
}

describe('training run settings', () => {
  it('derives the masked length from the layout and resolves the strategy defaults', () => {
    const settings = testSettings(runEnv());
    expect(settings.model.length).toBe(2 * P + 1 + 2);
    expect(settings.run.layout).toEqual({
      modelLength: P,
      send: 'update',
      controlVariates: true,
      metrics: ['loss', 'accuracy'],
      maxExamples: 1000,
    });
    expect(settings.run.strategy.name).toBe('fedadam');
    expect(settings.run.strategy.serverLearningRate).toBeGreaterThan(0);
    expect(testSettings(runEnv({ PETFL_RUN_SERVER_LEARNING_RATE: '0.5' })).run.strategy.serverLearningRate).toBe(0.5);
    // A setting the strategy does not read may be anything finite (the defaults written back, say)…
    expect(testSettings(runEnv({ PETFL_RUN_STRATEGY: 'fedavg', PETFL_RUN_TAU: '0' })).run.strategy.tau).toBe(0);
    // …one it reads must be in its range.
    expect(() => testSettings(runEnv({ PETFL_RUN_TAU: '0' }))).toThrow(
      /run\.strategy: tau: expected .* for fedadam, got 0/,
    );
    expect(() => testSettings(runEnv({ PETFL_RUN_SERVER_LEARNING_RATE: '-1' }))).toThrow(
      /serverLearningRate: expected .* for fedadam, got -1/,
    );
    // Without a run, [model] length is the masked vector's, as before.
    expect(testSettings({ PETFL_MODEL_LENGTH: String(P) }).model.length).toBe(P);
  });

  it('lists every problem of a bad [run] table', () => {
    const toml = `
[run]
enabled = true
strategy = "fedsgd"
send = "model"
control_variates = true
metrics = ["loss", "loss"]
server_learning_rate = -1
[run.early_stopping]
metric = "accuracy"
patience = 3
`;
    let problems: readonly string[] = [];
    try {
      parseSettings(toml, {});
    } catch (error) {
      problems = (error as { problems: readonly string[] }).problems;
    }
    expect(problems.join('\n')).toMatch(/run\.strategy: expected one of fedavg, fedavgm/);
    expect(problems.join('\n')).toMatch(/run\.metrics: "loss" is named twice|SCAFFOLD needs send/);
  });

  it('refuses SCAFFOLD with send = "model", repeated metrics, and an early-stopping metric that is not reported', () => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        testSettings(runEnv(env));
      } catch (error) {
        return (error as { problems: readonly string[] }).problems.join('\n');
      }
      return '';
    };
    expect(problemsOf({ PETFL_RUN_SEND: 'model' })).toMatch(/SCAFFOLD needs send = "update"/);
    expect(problemsOf({ PETFL_RUN_METRICS: 'loss,loss' })).toMatch(/"loss" is named twice/);
    expect(problemsOf({ PETFL_RUN_EARLY_STOPPING_METRIC: 'f1' })).toMatch(
      /run\.early_stopping\.metric: "f1" is not one of run\.metrics/,
    );
    expect(problemsOf({ PETFL_RUN_EARLY_STOPPING_PATIENCE: '2' })).toMatch(/early_stopping\.metric to name/);
  });
});

/** A FedAvg run under differential privacy: no metrics or control variates, scalars 1, C = 0.5. */
function privateRunEnv(mechanism: string, noiseMultiplier: string, extra: Record<string, string> = {}) {
  return runEnv({
    PETFL_RUN_STRATEGY: 'fedavg',
    PETFL_RUN_SERVER_LEARNING_RATE: '1',
    PETFL_RUN_CONTROL_VARIATES: 'false',
    PETFL_RUN_METRICS: '',
    PETFL_RUN_PRIVACY_MECHANISM: mechanism,
    PETFL_RUN_PRIVACY_CLIP_NORM: '0.5',
    PETFL_RUN_PRIVACY_NOISE_MULTIPLIER: noiseMultiplier,
    PETFL_SAFETY_SCALAR_MIN: '1',
    PETFL_SAFETY_SCALAR_MAX: '1',
    ...extra,
  });
}

describe('a training run with central differential privacy', () => {
  const dpEnv = (extra: Record<string, string> = {}) => privateRunEnv('central-gaussian', '0.2', extra);

  it('refuses settings it cannot keep its promise with', () => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        testSettings(env);
      } catch (error) {
        return (error as { problems: readonly string[] }).problems.join('\n');
      }
      return '';
    };
    expect(problemsOf(dpEnv({ PETFL_RUN_METRICS: 'loss' }))).toMatch(/metrics would be released without noise/);
    expect(problemsOf(dpEnv({ PETFL_RUN_CONTROL_VARIATES: 'true' }))).toMatch(/does not cover control variates/);
    expect(problemsOf(dpEnv({ PETFL_SAFETY_SCALAR_MAX: '2' }))).toMatch(/equal scalars/);
    expect(problemsOf(dpEnv({ PETFL_RUN_PRIVACY_TARGET_EPSILON: '2' }))).toMatch(/set run\.rounds/);
    expect(problemsOf(dpEnv({ PETFL_RUN_PRIVACY_NOISE_MULTIPLIER: '0' }))).toMatch(/noise_multiplier > 0/);
    expect(problemsOf(dpEnv({ PETFL_RUN_PRIVACY_ROTATION: 'hadamard' }))).toMatch(
      /run\.privacy\.rotation: the rotation is for distributed noise/,
    );
    expect(problemsOf(dpEnv({ PETFL_RUN_PRIVACY_ROTATION: 'fourier' }))).toMatch(/"none" or "hadamard"/);
    expect(testSettings(dpEnv()).run.layout.clipNorm).toBe(0.5);
  });

  it('a restore brings the model back, not the ε spent since', async () => {
    const h = await start(dpEnv());
    const pool = identities(h.crypto, 80, 67);
    const first = await trainRound(h, pool, 71, 0, () => 1);
    await trainRound(h, pool, 72, 0, () => 1);
    const res = await h.admin('/run/restore', { method: 'POST', body: JSON.stringify({ round: first.roundId }) });
    expect(res.status).toBe(200);
    await trainRound(h, pool, 73, 0, () => 1); // the restore round: its updates set aside, nothing released
    expect((await report(h)).restoredFrom).toBe(first.roundId);
    await trainRound(h, pool, 74, 0, () => 1);
    const r = (await report(h)) as RunReportJson & { epsilonByRound: { roundId: number; epsilon: number }[] };
    // Three released rounds are charged (1, 2 and 4), in order, none forgotten.
    const epsilons = r.epsilonByRound.map((e) => e.epsilon);
    expect(epsilons).toHaveLength(3);
    expect(epsilons).toEqual([...epsilons].sort((a, b) => a - b));
    expect(epsilons[2]).toBeGreaterThan(epsilons[1] as number);
  });

  it('clips, adds noise to the average update, accounts ε, and ends the run at its budget', async () => {
    const h = await start(dpEnv({ PETFL_RUN_PRIVACY_BUDGET_EPSILON: '120' }));
    const pool = identities(h.crypto, 80, 66);
    const info = (await (await h.fetch('/run')).json()) as {
      run: { layout: VectorLayout; privacy: { clipNorm: number; noiseMultiplier: number; epsilon: number } };
    };
    expect(info.run.layout.clipNorm).toBe(0.5);
    expect(info.run.privacy).toMatchObject({ clipNorm: 0.5, noiseMultiplier: 0.2, epsilon: 0 });
    const epsilons: number[] = [];
    let before = await latest(h);
    for (let round = 1; round <= 6; round++) {
      const run = await trainRound(h, pool, 40 + round, 0, () => 1);
      const r = (await report(h)) as RunReportJson & { epsilonByRound: { roundId: number; epsilon: number }[] };
      if (r.status === 'ended') {
        // The round that would have gone over the budget released nothing new.
        expect(r.ended?.reason).toBe('privacy-budget');
        expect([...run.global.model]).toEqual([...before.model]);
        expect(h.coordinator.status().paused).toBe(true);
        break;
      }
      const eps = r.epsilonByRound.at(-1)?.epsilon as number;
      epsilons.push(eps);
      // Each update was clipped to 0.5 and their average moved x; the noise (σ·C/n = 0.01 per
      // coordinate on the average) makes the step differ from the clipped average, but not by much.
      let moved = 0;
      let deviation = 0;
      const clipped = run.models.map((m) => m.subarray(0, P));
      for (let j = 0; j < P; j++) {
        const step = (run.global.model[j] as number) - (before.model[j] as number);
        const average = clipped.reduce((sum, m) => sum + (m[j] as number), 0) / clipped.length;
        moved += step * step;
        deviation = Math.max(deviation, Math.abs(step - average));
      }
      expect(Math.sqrt(moved)).toBeLessThanOrEqual(0.5 + 6 * 0.01 * Math.sqrt(P));
      expect(deviation).toBeGreaterThan(0);
      expect(deviation).toBeLessThan(8 * 0.01);
      for (const m of clipped) expect(Math.hypot(...m)).toBeLessThanOrEqual(0.5 + 1e-6);
      before = run.global;
    }
    expect(epsilons.length).toBeGreaterThan(0);
    expect(epsilons).toEqual([...epsilons].sort((a, b) => a - b));
    expect(epsilons.at(-1)).toBeLessThanOrEqual(120);
    expect((await report(h)).status).toBe('ended');
    expect(await (await h.fetch('/metrics')).text()).toMatch(/petfl_run_epsilon \d/);
  });
});

describe('a training run through the coordinator', () => {
  it('starts from the initial model as round 0 and tells participants the layout', async () => {
    const initial = Float64Array.from({ length: P }, (_, j) => j / 10);
    const h = await start(runEnv(), { initialModel: initial });
    const global = await latest(h);
    expect(global.roundId).toBe(0);
    expect([...global.model]).toEqual([...Float32Array.from([...initial, ...new Float64Array(P)])]);
    const res = await h.fetch('/run');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      run: {
        layout: h.settings.run.layout,
        strategy: 'fedadam',
        round: 0,
        rounds: 0,
        status: 'running',
        ended: null,
        modelRoundId: 0,
        nextRound: 'train',
        privacy: null,
      },
    });
    expect(h.coordinator.status().run).toMatchObject({ round: 0, status: 'running' });
    // Without a run, GET /run says so.
    const plain = await start({});
    expect(await (await plain.fetch('/run')).json()).toEqual({ run: null });
    expect((await plain.admin('/run')).status).toBe(404);
  });

  it('applies the strategy to the average update, moves the control variate and records the federated metrics', async () => {
    const h = await start(runEnv({ PETFL_RUN_STRATEGY: 'fedavg', PETFL_RUN_SERVER_LEARNING_RATE: '1' }));
    const pool = identities(h.crypto, 80, 60);
    const tolerance = 10 / Number(maskParams(h.settings.mask).expShift);
    let global = await latest(h);
    for (let round = 1; round <= 3; round++) {
      const before = Float64Array.from(global.model);
      const learn = learner(h.settings.run.layout, global);
      const run = await runRound(h, pool, { sum: 3, update: 10 }, round, { contribution: (i) => learn(i) });
      global = run.global;
      const scalars = run.scalars;
      const total = scalars.reduce((a, b) => a + b, 0);
      for (let j = 0; j < 2 * P; j++) {
        // FedAvg with η = 1: x + Σ sᵢΔᵢ / Σ sᵢ; SCAFFOLD: c + Σ sᵢΔcᵢ / Σ sᵢ.
        const delta =
          run.models.reduce((sum, model, i) => sum + (scalars[i] as number) * (model[j] as number), 0) / total;
        const expected = (before[j] as number) + delta;
        expect(Math.abs((global.model[j] as number) - expected)).toBeLessThanOrEqual(
          tolerance + Math.abs(expected) * 2 ** -23,
        );
      }
    }
    const r = await report(h);
    expect(r.round).toBe(3);
    expect(r.evaluations.map((e) => [e.modelRoundId, e.roundId])).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    // The example-weighted mean loss of the initial model: Σ nᵢ·lossᵢ / Σ nᵢ.
    const distance = [...TARGET].reduce((sum, t) => sum + t * t, 0) / P;
    const examples = Array.from({ length: 10 }, (_, i) => 100 + 10 * i);
    const expectedLoss =
      examples.reduce((sum, n, i) => sum + n * (distance + 0.01 * i), 0) / examples.reduce((a, b) => a + b, 0);
    expect(r.evaluations[0]?.values?.['loss']).toBeCloseTo(expectedLoss, 7);
    // /admin/rounds shows the same per round.
    const { rounds } = (await (await h.admin('/rounds')).json()) as {
      rounds: { roundId: number; evaluation?: { modelRoundId: number; values: Record<string, number> } }[];
    };
    expect(rounds.map((round) => round.evaluation?.values)).toEqual(r.evaluations.map((e) => e.values).reverse());
    const metricsText = await (await h.fetch('/metrics')).text();
    expect(metricsText).toMatch(/petfl_run_round 3/);
    expect(metricsText).toMatch(/petfl_run_metric\{metric="loss"\}/);
  });

  it('ends the run after its rounds and one evaluation-only round, and pauses; GET /model?round= serves kept rounds', async () => {
    const h = await start(runEnv({ PETFL_RUN_ROUNDS: '2' }));
    const pool = identities(h.crypto, 80, 61);
    const first = await trainRound(h, pool, 1);
    const second = await trainRound(h, pool, 2);
    // Trained, not yet evaluated: the next round only evaluates the final model.
    expect(await report(h)).toMatchObject({ round: 2, status: 'running', nextRound: 'evaluate' });
    expect(h.coordinator.status().paused).toBe(false);
    const third = await trainRound(h, pool, 3);
    expect([...third.global.model]).toEqual([...second.global.model]);
    const r = await report(h);
    expect(r).toMatchObject({ round: 2, status: 'ended', ended: { reason: 'rounds' }, nextRound: 'train' });
    expect(r.evaluations.at(-1)).toMatchObject({ modelRoundId: second.roundId, roundId: third.roundId });
    expect(h.coordinator.status().paused).toBe(true);
    const kept = await h.fetch(`/model?round=${first.roundId}`);
    expect(kept.status).toBe(200);
    expect(decodeGlobalModel(new Uint8Array(await kept.arrayBuffer()))).toEqual(first.global);
    expect((await h.fetch('/model?round=77')).status).toBe(404);
    const bad = await h.fetch('/model?round=-1');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'invalid-field' });
  });

  it('ends right after its rounds without a final evaluation', async () => {
    const h = await start(runEnv({ PETFL_RUN_ROUNDS: '2', PETFL_RUN_FINAL_EVALUATION: 'false' }));
    const pool = identities(h.crypto, 80, 65);
    await trainRound(h, pool, 1);
    await trainRound(h, pool, 2);
    expect(await report(h)).toMatchObject({ round: 2, status: 'ended', ended: { reason: 'rounds' } });
    expect(h.coordinator.status().paused).toBe(true);
  });

  it('stops early when the metric stops improving and keeps the best model', async () => {
    const h = await start(runEnv({ PETFL_RUN_EARLY_STOPPING_METRIC: 'loss', PETFL_RUN_EARLY_STOPPING_PATIENCE: '2' }));
    const pool = identities(h.crypto, 80, 62);
    // The loss the participants report on the model of each round: best on round 1's model.
    const shifts = [0, -5, 1, 2];
    const runs = [];
    for (const [k, shift] of shifts.entries()) runs.push(await trainRound(h, pool, 10 + k, shift));
    const r = await report(h);
    expect(r.status).toBe('ended');
    expect(r.ended?.reason).toBe('early-stopping');
    expect(r.best?.roundId).toBe(runs[0]?.roundId);
    expect(h.coordinator.status().paused).toBe(true);
    const best = await h.fetch('/model/best');
    expect(best.status).toBe(200);
    expect(decodeGlobalModel(new Uint8Array(await best.arrayBuffer()))).toEqual(runs[0]?.global);
  });

  it('restores a checkpoint at the next unmasked round, setting that round’s updates aside', async () => {
    const h = await start(runEnv());
    const pool = identities(h.crypto, 80, 63);
    const first = await trainRound(h, pool, 1);
    await trainRound(h, pool, 2);
    const res = await h.admin('/run/restore', { method: 'POST', body: JSON.stringify({ round: first.roundId }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ restorePending: first.roundId });
    const third = await trainRound(h, pool, 3);
    expect([...third.global.model]).toEqual([...first.global.model]);
    expect(await report(h)).toMatchObject({ round: 1, restorePending: null, restoredFrom: first.roundId });
    // The run goes on from there.
    const fourth = await trainRound(h, pool, 4);
    expect(await report(h)).toMatchObject({ round: 2, modelRoundId: fourth.roundId });
    // Bad requests are typed.
    expect((await h.admin('/run/restore', { method: 'POST', body: '{"round": 999}' })).status).toBe(404);
    expect((await h.admin('/run/restore', { method: 'POST', body: '{"round": "x"}' })).status).toBe(400);
    expect((await h.admin('/run/restore', { method: 'POST', body: 'nope' })).status).toBe(400);
  });

  it('keeps only the newest checkpoints, the best and the latest', async () => {
    const models = new MemoryModelStore();
    const h = await start(runEnv({ PETFL_RUN_KEEP_CHECKPOINTS: '2', PETFL_RUN_EARLY_STOPPING_METRIC: 'loss' }), {
      models,
    });
    const pool = identities(h.crypto, 80, 64);
    const shifts = [0, -5, 1, 2, 3];
    const runs = [];
    for (const [k, shift] of shifts.entries()) runs.push(await trainRound(h, pool, 20 + k, shift));
    const ids = runs.map((run) => run.roundId);
    // Best: the model of the first round (lowest loss); the newest two; round 0 dropped.
    expect(await models.checkpointRounds()).toEqual([ids[0], ids[3], ids[4]]);
    expect(await models.get(0)).toBeUndefined();
  });

  it('refuses to start on a corrupt checkpoint, naming it', async () => {
    const models = new MemoryModelStore();
    const h = await start(runEnv(), { models });
    await h.close();
    open.splice(open.indexOf(h), 1);
    await models.saveCheckpoint(0, Uint8Array.of(1, 2, 3));
    await expect(startHarness(testSettings(runEnv()), { models })).rejects.toThrow(
      /the checkpoint of round 0: run checkpoint: not a checkpoint/,
    );
    // A checkpoint of another strategy (fedavg keeps no moments; fedadam needs m and v).
    const fedavg = new MemoryModelStore();
    const first = await start(runEnv({ PETFL_RUN_STRATEGY: 'fedavg' }), { models: fedavg });
    await first.close();
    open.splice(open.indexOf(first), 1);
    await expect(startHarness(testSettings(runEnv()), { models: fedavg })).rejects.toThrow(
      /the checkpoint of round 0: .*vectors/,
    );
    // A model store of another run's length is refused too.
    const other = new MemoryModelStore();
    await other.save({ roundId: 4, model: new Float64Array(7) });
    await expect(startHarness(testSettings(runEnv()), { models: other })).rejects.toThrow(
      /round 4\) has 7 values, but the run's global model has 40/,
    );
  });
});

describe.skipIf(unreachable !== undefined && !REDIS_REQUIRED)('a restarted training run', () => {
  it('gives the same models, bit for bit, as an uninterrupted run (restarts between rounds and mid-round)', async () => {
    expect(unreachable).toBeUndefined();
    const env = runEnv({ PETFL_PET_UPDATE_TIME_MAX_MS: '10000' });
    const initial = Float64Array.from({ length: P }, (_, j) => Math.cos(j));
    const ROUNDS = 4;

    // Uninterrupted, in memory.
    const reference = new MemoryModelStore();
    const a = await start(env, { models: reference, initialModel: initial });
    const poolA = identities(a.crypto, 80, 70);
    const expected: GlobalModel[] = [];
    for (let k = 1; k <= ROUNDS; k++) expected.push((await trainRound(a, poolA, k)).global);

    // On Redis and files, restarted after round 2 and in the middle of round 4's update phase.
    expect(unreachable).toBeUndefined();
    const prefix = testPrefix();
    const dir = mkdtempSync(join(tmpdir(), 'petfl-run-restart-'));
    prefixes.push(prefix);
    dirs.push(dir);
    const clock = new ManualClock();
    const on = () =>
      start(env, {
        store: new RedisCoordinatorStore({ url: REDIS_URL, keyPrefix: prefix }),
        models: new FsModelStore(dir),
        clock,
        initialModel: initial,
      });
    const stop = async (h: Harness) => {
      await h.close();
      open.splice(open.indexOf(h), 1);
    };
    let b = await on();
    const poolB = identities(b.crypto, 80, 71);
    const got: GlobalModel[] = [];
    got.push((await trainRound(b, poolB, 1)).global);
    got.push((await trainRound(b, poolB, 2)).global);
    await stop(b);
    b = await on();
    got.push((await trainRound(b, poolB, 3)).global);

    // Round 4: half the updates, a restart, the rest.
    const params: RoundParameters = await fetchParams(b.fetch);
    const learn = learner(b.settings.run.layout, await latest(b));
    const { sum, update } = pickTasks(b.crypto, params, poolB, { sum: 3, update: 10 });
    for (const p of sum) expect(await post(b.fetch, sumMessage(b.crypto, params, p))).toEqual({ status: 202 });
    const sumDict = (await fetchSumDict(b.fetch)) ?? new Map();
    const send = async (h: Harness, i: number) => {
      const { model, scalar } = learn(i);
      const [message] = updateMessage(h.crypto, params, update[i] as never, sumDict, model, scalar);
      return post(h.fetch, message as Uint8Array);
    };
    for (let i = 0; i < 5; i++) expect(await send(b, i)).toEqual({ status: 202 });
    await stop(b);
    clock.advance(1000);
    b = await on();
    for (let i = 5; i < 10; i++) expect(await send(b, i)).toEqual({ status: 202 });
    for (const p of sum) {
      const seeds = (await fetchSeeds(b.fetch, p.pk)) ?? new Map();
      expect((await post(b.fetch, sum2Message(b.crypto, params, p, seeds))).status).toBe(202);
    }
    got.push(await latest(b));

    // The models as stored (float64), and as served.
    for (let k = 0; k < ROUNDS; k++) {
      const want = await reference.get(expected[k]?.roundId as number);
      const have = await new FsModelStore(dir).get(got[k]?.roundId as number);
      if (want === undefined || have === undefined) throw new Error(`round ${k + 1}: a model is missing`);
      expect(have.model.length).toBe(2 * P);
      expect(Buffer.from(have.model.buffer)).toEqual(Buffer.from(want.model.buffer));
      expect([...(got[k]?.model ?? [])]).toEqual([...(expected[k]?.model ?? [])]);
    }
    // And the strategy's state.
    const stateA = decodeCheckpoint((await reference.checkpoint(expected[3]?.roundId as number)) as Uint8Array);
    const stateB = decodeCheckpoint((await new FsModelStore(dir).checkpoint(got[3]?.roundId as number)) as Uint8Array);
    expect(stateB.strategy).toEqual(stateA.strategy);
    expect(stateB.runRound).toBe(ROUNDS);
    expect(stateB.evaluations.map((e) => e.values)).toEqual(stateA.evaluations.map((e) => e.values));
  });
});

describe('a training run with distributed noise (docs/privacy.md §2)', () => {
  const ddpEnv = (mechanism: string, extra: Record<string, string> = {}) =>
    privateRunEnv(mechanism, '0.5', { PETFL_RUN_PRIVACY_PARTICIPANTS: '10', ...extra });

  it('refuses settings whose noise the rounds could not carry', () => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        testSettings(env);
      } catch (error) {
        return (error as { problems: readonly string[] }).problems.join('\n');
      }
      return '';
    };
    expect(problemsOf(ddpEnv('skellam', { PETFL_PET_UPDATE_COUNT_MIN: '3' }))).toMatch(
      /pet\.update\.count\.min \(3\) must be at least run\.privacy\.participants/,
    );
    expect(problemsOf(ddpEnv('skellam', { PETFL_SAFETY_SCALAR_MIN: '2', PETFL_SAFETY_SCALAR_MAX: '2' }))).toMatch(
      /scalar_max = 1/,
    );
    expect(
      problemsOf(
        ddpEnv('distributed-discrete-gaussian', {
          PETFL_RUN_PRIVACY_NOISE_MULTIPLIER: '100',
          PETFL_RUN_PRIVACY_PARTICIPANTS: '1',
          PETFL_MASK_BOUND: 'b0',
        }),
      ),
    ).toMatch(/choose a larger bound/);
    expect(problemsOf(ddpEnv('skellam'))).toBe('');
  });

  for (const mechanism of ['skellam', 'distributed-discrete-gaussian'] as const) {
    it(`${mechanism}: announces the promise bound into the seed, releases γ·Σk/n and charges the ledger`, async () => {
      const h = await start(ddpEnv(mechanism));
      const pool = identities(h.crypto, 80, 77);
      const params = decodeRoundParameters(await (await h.fetch('/params')).json());
      const promise = params.privacy as DistributedRoundPrivacy;
      expect(promise).toMatchObject({ mechanism, clipNorm: 0.5, dimension: P, participants: 10 });
      expect(() => verifyRoundPrivacy(h.crypto, params)).not.toThrow();
      const info = (await (await h.fetch('/run')).json()) as { run: { privacy: { round: unknown } } };
      expect(info.run.privacy.round).toEqual(promise);

      for (let round = 1; round <= 2; round++) {
        const before = await latest(h);
        const learn = learner(h.settings.run.layout, before, 0, () => 1);
        const sent: Float64Array[] = [];
        const run = await runRound(h, pool, { sum: 3, update: 10 }, 50 + round, {
          contribution: (i, roundParams) => {
            // What the SDK does before masking when the round promises distributed noise.
            const model = privatizeUpdate(
              h.crypto,
              roundParams.privacy as DistributedRoundPrivacy,
              roundParams.maskConfig,
              learn(i).model,
            );
            sent.push(model);
            return { model, scalar: 1 };
          },
        });
        const sums = new Float64Array(P);
        for (const v of sent) for (let j = 0; j < P; j++) sums[j] = (sums[j] as number) + (v[j] as number);
        const released = releaseAverage(
          promise,
          sums.map((s) => s / sent.length),
        );
        for (let j = 0; j < P; j++) {
          const step = (run.global.model[j] as number) - (before.model[j] as number);
          expect(Math.abs(step - (released[j] as number))).toBeLessThan(1e-6);
        }
      }
      const r = (await report(h)) as RunReportJson & { epsilonByRound: { roundId: number; epsilon: number }[] };
      expect(r.epsilonByRound.map((e) => e.epsilon)).toEqual([
        expect.closeTo(epsilonOverRounds(promise, 1, 1e-5), 9),
        expect.closeTo(epsilonOverRounds(promise, 2, 1e-5), 9),
      ]);
    });
  }
});

describe('adaptive clipping (docs/privacy.md §2)', () => {
  for (const mechanism of ['central-gaussian', 'skellam'] as const) {
    it(`${mechanism}: the clip bit rides in the noised vector and moves C toward the target quantile`, async () => {
      const h = await start(
        privateRunEnv(mechanism, '0.3', {
          PETFL_RUN_PRIVACY_PARTICIPANTS: '10',
          PETFL_RUN_PRIVACY_ADAPTIVE_CLIPPING: 'true',
          PETFL_RUN_PRIVACY_CLIP_BIT_WEIGHT: '2',
        }),
      );
      expect(h.settings.model.length).toBe(P + 1); // the update and its bit
      const pool = identities(h.crypto, 80, 91);
      let clipNorm = 0.5;
      for (let round = 1; round <= 3; round++) {
        const params = decodeRoundParameters(await (await h.fetch('/params')).json());
        const promise = params.privacy as RoundPrivacy;
        expect(promise.clipNorm).toBeCloseTo(clipNorm, 12);
        expect(promise.clipBitWeight).toBe(2);
        expect(() => verifyRoundPrivacy(h.crypto, params)).not.toThrow();
        // Every update has norm 3: above C, so every bit says "clipped".
        const run = await runRound(h, pool, { sum: 3, update: 10 }, 60 + round, {
          contribution: (i, roundParams) => {
            const p = roundParams.privacy as RoundPrivacy;
            const update = new Float64Array(P + 1);
            update[i % P] = 3;
            const withBit = applyClipBit(p, update);
            expect(withBit[P]).toBe(-p.clipNorm); // β·C·(0 − ½)
            const model = isDistributed(p) ? privatizeUpdate(h.crypto, p, roundParams.maskConfig, withBit) : withBit;
            return { model, scalar: 1 };
          },
        });
        expect(run.global.roundId).toBe(params.roundId);
        const r = (await report(h)) as RunReportJson & {
          epsilonByRound: { roundId: number; epsilon: number; clipNorm: number; unclipped: number }[];
        };
        const entry = r.epsilonByRound.at(-1);
        expect(entry?.clipNorm).toBeCloseTo(clipNorm, 12);
        // The noised fraction of unclipped updates: 0, up to the noise on the bit (σC'/(n·βC) ≈ 0.02 here).
        expect(Math.abs(entry?.unclipped as number)).toBeLessThan(0.15);
        clipNorm *= Math.exp(-0.2 * ((entry?.unclipped as number) - 0.5));
      }
      // All clipped, so C grew toward the update norms.
      expect(clipNorm).toBeGreaterThan(0.5 * Math.exp(0.2 * 0.35 * 3));
      const next = decodeRoundParameters(await (await h.fetch('/params')).json());
      expect(next.privacy?.clipNorm).toBeCloseTo(clipNorm, 12);
    });
  }
});
