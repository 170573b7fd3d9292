/**
 * DP-SGD end to end (docs/privacy.md §4): a real coordinator in process with a training run and
 * TfjsParticipants with the `dpSgd` option run by `spawnParticipant`, every request through
 * `app.request`. Over the rounds, each participant's ledger grows by exactly the steps it trained
 * (each `onLedger` hand-out adds that round's steps as subsampled-Gaussian events, and its ε is
 * core's `accountantEpsilon` of that many), and a participant resumed with a ledger that has spent
 * its maxEpsilon sits every round out and says why (`dp-sgd-budget`). Waits on state (completed
 * rounds, reported errors), never on time.
 */

import {
  systemClock as coordinatorClock,
  createCoordinatorApp,
  MemoryModelStore,
  parseSettings,
} from '@petfl/coordinator';
import {
  type AccountantState,
  accountantEpsilon,
  addAccountantEvent,
  createAccountantState,
  initCrypto,
} from '@petfl/core';
import { fetchRunInfo, MemoryStateStore, type ParticipantHandle, spawnParticipant } from '@petfl/sdk';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { runSettingsToml } from '../../test-support/run-settings.ts';
import { syntheticData, tinyModel, useWasm } from '../../test-support/tfjs.ts';
import { TfjsParticipant } from '../tfjs-participant.ts';
import { modelToVector } from '../weights.ts';
import { type DpSgdOptions, resolveDpSgd } from './dp-sgd-options.ts';
import { DpSgdBudgetError, type DpSgdStatus } from './dp-sgd-rounds.ts';

const P = 49;
const EXAMPLES = 32;
/** 4 participants train; a fifth, over budget, sits out. */
const TRAINING = 4;
const ROUNDS = 2;

// As packages/tfjs/src/e2e.test.ts: a round needs 1 sum and 3 update participants. The one over
// budget is drawn like the others; when it is an update participant the other 4 fill the round.
const SETTINGS = runSettingsToml({
  adminToken: 'dp-e2e-admin',
  modelLength: P,
  run: 'send = "update"',
});

/** ⌈1·32/8⌉ = 4 steps a round. */
const OPTIONS: DpSgdOptions = { clipNorm: 1, noiseMultiplier: 1.1, delta: 1e-5, expectedBatchSize: 8, epochs: 1 };

beforeAll(useWasm);
const handles: ParticipantHandle[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const handle of handles.splice(0)) await handle.stop();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it('participants train with DP-SGD through a real coordinator, their ledgers grow by the steps they trained, and one over budget sits out', async () => {
  const crypto = await initCrypto();
  const created = await createCoordinatorApp(parseSettings(SETTINGS, {}), {
    crypto,
    models: new MemoryModelStore(),
    clock: coordinatorClock,
    initialModel: modelToVector(tinyModel({ seed: 1 })),
  });
  cleanups.push(() => created.close());
  const fetch = async (url: string | URL, init?: unknown) => created.app.request(String(url), init as RequestInit);
  const layout = (await fetchRunInfo('http://petfl.test', { fetch }))?.layout;
  if (layout === undefined) throw new Error('no run');

  const { mechanism } = resolveDpSgd(OPTIONS, EXAMPLES);
  const ledgerOf = (steps: number): AccountantState => addAccountantEvent(createAccountantState(), mechanism, steps);
  const spawn = async (participant: TfjsParticipant, errors: Error[]) =>
    handles.push(
      await spawnParticipant('http://petfl.test', participant, {
        fetch,
        store: new MemoryStateStore(),
        logLevel: 'error',
        pollMs: 10,
        maxPollMs: 100,
        onError: (error) => errors.push(error),
      }),
    );

  interface Trainer {
    participant: TfjsParticipant;
    handed: { ledger: AccountantState; status: DpSgdStatus }[];
    errors: Error[];
  }
  const trainers: Trainer[] = [];
  for (let i = 0; i < TRAINING; i++) {
    const shard = syntheticData(EXAMPLES, 100 + i);
    cleanups.push(() => tf.dispose([shard.xs, shard.ys]));
    const trainer: Trainer = { participant: undefined as never, handed: [], errors: [] };
    trainer.participant = new TfjsParticipant({
      model: tinyModel({ seed: 1 }),
      data: shard,
      run: { layout },
      dpSgd: { options: OPTIONS, crypto, onLedger: (ledger, status) => trainer.handed.push({ ledger, status }) },
    });
    trainers.push(trainer);
    await spawn(trainer.participant, trainer.errors);
  }

  // Resumed with a ledger whose ε is exactly maxEpsilon: the next step would cross it.
  const spentLedger = ledgerOf(60);
  const maxEpsilon = accountantEpsilon(spentLedger, OPTIONS.delta).value;
  const shard = syntheticData(EXAMPLES, 200);
  cleanups.push(() => tf.dispose([shard.xs, shard.ys]));
  const spentHanded: AccountantState[] = [];
  const spentErrors: Error[] = [];
  const spent = new TfjsParticipant({
    model: tinyModel({ seed: 1 }),
    data: shard,
    run: { layout },
    dpSgd: { options: { ...OPTIONS, maxEpsilon }, crypto, ledger: spentLedger, onLedger: (l) => spentHanded.push(l) },
  });
  await spawn(spent, spentErrors);

  const round = async (): Promise<number> =>
    (
      (await (
        await created.app.request('/admin/run', { headers: { authorization: 'Bearer dp-e2e-admin' } })
      ).json()) as { round: number }
    ).round;
  const sittingOut = () => spentErrors.filter((e) => e instanceof DpSgdBudgetError);
  // A backstop only: no phase ends on this (test-support/run-settings.ts).
  const deadline = Date.now() + 150_000;
  while (((await round()) < ROUNDS || sittingOut().length === 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(await round()).toBeGreaterThanOrEqual(ROUNDS);

  // Every update a completed round accepted was trained by one of these 4, which handed its ledger
  // out before sending it. Not 3 a round: on a loaded machine the update phase may end after its
  // 5 s with a trainer still at work (test-support/run-settings.ts). Read before the hand-outs are
  // counted, so a round that completes meanwhile cannot add updates whose hand-outs are not seen.
  const { rounds } = (await (
    await created.app.request('/admin/rounds?limit=100', { headers: { authorization: 'Bearer dp-e2e-admin' } })
  ).json()) as { rounds: { outcome: string; participants: { update: number } }[] };
  const completed = rounds.filter((r) => r.outcome === 'completed');
  const accepted = completed.reduce((n, r) => n + r.participants.update, 0);
  expect(completed.length).toBeGreaterThanOrEqual(ROUNDS);
  expect(accepted).toBeGreaterThanOrEqual(completed.length);
  // Each hand-out adds exactly that round's steps; the ledger's ε is core's for that many events.
  let trainedRounds = 0;
  for (const { participant, handed, errors } of trainers) {
    let steps = 0;
    for (const { ledger, status } of handed) {
      const round = status.lastRound;
      if (round === null) throw new Error('a ledger handed out before any round');
      expect(round.steps).toBe(4);
      expect(round.mechanism).toEqual(mechanism);
      steps += round.steps;
      expect(ledger).toEqual(ledgerOf(steps));
      expect(status.epsilon).toBe(accountantEpsilon(ledgerOf(steps), OPTIONS.delta).value);
      expect(round.epsilon).toBe(status.epsilon);
    }
    trainedRounds += handed.length;
    const status = participant.dpSgdStatus;
    expect(status?.ledger).toEqual(steps === 0 ? createAccountantState() : ledgerOf(steps));
    expect(status?.spent).toBe(false);
    expect(errors.filter((e) => e instanceof DpSgdBudgetError)).toEqual([]);
  }
  expect(trainedRounds).toBeGreaterThanOrEqual(accepted);

  // The one over budget never trained a step, and said why each time it was asked to.
  const reasons = sittingOut();
  expect(reasons.length).toBeGreaterThanOrEqual(1);
  expect(reasons[0]?.message).toMatch(/^DP-SGD budget spent: ε = .* this round is sat out and no update is sent/);
  expect(spent.dpSgdStatus?.spent).toBe(true);
  expect(spent.dpSgdStatus?.lastRound?.steps).toBe(0);
  expect(spent.dpSgdStatus?.ledger).toEqual(spentLedger);
  expect(spent.dpSgdStatus?.epsilon).toBe(maxEpsilon);
  expect(spentHanded).toEqual([]);
}, 180_000);
