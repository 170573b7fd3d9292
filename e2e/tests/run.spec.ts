/**
 * A training run (docs/learning.md) as `npm start -- --strategy fedadam` runs it: a FedAdam run
 * with federated loss and accuracy from the demo's shared initial weights, three tabs and three
 * headless Node participants, each holding out a slice of its shard. Over three completed rounds
 * the run's round and global model advance with the coordinator's rounds, and every round's
 * secure evaluation (the participants' metrics of the model they started from, learned only as
 * the masked average) is there with an accuracy in [0, 1], rising from the initial model's. The
 * dashboard shows the run panel with the strategy and its chart. A restore asked for on the
 * dashboard shows as pending until a round completes, and that round's model is then the
 * restored round's, bit for bit, with `restoredFrom` set.
 *
 * Nothing races the clock: the phase driver ends each phase once the tabs and the Node
 * participants are done with it, the restore is asked for with the coordinator paused and idle,
 * and exactly one round runs after it (resumed with the clock held, paused again once that round
 * has opened). A round the task draw dooms fails by selection and is run again.
 */

import type { RoundSummary } from '@petfl/coordinator';
import { expect, test } from '../support/fixtures.ts';
import { completedRounds, failedBySelection, ROUNDS_BACKSTOP_MS, waitForCompletedRounds } from '../support/rounds.ts';

const TABS = 3;
const NODES = 3;
const SHARDS = TABS + NODES;
const ROUNDS = 3;
/** Rounds after the restore before the test gives up on one completing (each fails by the draw with p ≈ 0.2). */
const RESTORE_ATTEMPTS = 10;

/** The parts of `GET /admin/run` checked here (the coordinator's RunReport). */
interface RunReport {
  readonly strategy: string;
  readonly round: number;
  readonly status: string;
  readonly modelRoundId: number;
  readonly evaluations: readonly {
    readonly modelRoundId: number;
    readonly roundId: number;
    readonly values: Readonly<Record<string, number>> | null;
  }[];
  readonly restorePending: number | null;
  readonly restoredFrom: number | null;
}

test.use({ run: { strategy: 'fedadam', metrics: ['loss', 'accuracy'] } });

test('a FedAdam run: secure evaluation every round, the dashboard run panel, a restore', async ({
  coordinator,
  tabs,
  nodeParticipants,
  openDashboard,
}) => {
  const runReport = async () => (await coordinator.admin('/admin/run')) as RunReport;
  const [opened] = await Promise.all([
    tabs.openMany(TABS, { shards: SHARDS }),
    nodeParticipants.start({ first: TABS, count: NODES, shards: SHARDS }),
  ]);
  for (const tab of opened) await expect(tab.page.getByTestId('run')).toContainText('fedadam');

  // Rounds complete, and the run advances with them.
  const completed = completedRounds(await waitForCompletedRounds(coordinator, ROUNDS), ROUNDS);
  const report = await runReport();
  expect(report.strategy).toBe('fedadam');
  expect(report.status).toBe('running');
  expect(report.round, 'run rounds: one per completed round').toBeGreaterThanOrEqual(ROUNDS);
  expect(report.modelRoundId).toBeGreaterThanOrEqual(completed.at(-1)?.roundId ?? Number.NaN);
  // One secure evaluation per completed round, of the model that round started from: the initial
  // model (round 0) first, then each completed round's.
  const evaluations = report.evaluations.slice(0, ROUNDS);
  expect(evaluations.map((e) => e.roundId)).toEqual(completed.map((r) => r.roundId));
  expect(evaluations.map((e) => e.modelRoundId)).toEqual([0, ...completed.slice(0, -1).map((r) => r.roundId)]);
  for (const { roundId, values } of evaluations) {
    expect(values, `round ${roundId}: federated metrics`).not.toBeNull();
    expect(values?.['accuracy'], `round ${roundId}: accuracy`).toBeGreaterThanOrEqual(0);
    expect(values?.['accuracy'], `round ${roundId}: accuracy`).toBeLessThanOrEqual(1);
    expect(values?.['loss'], `round ${roundId}: loss`).toBeGreaterThan(0);
  }
  const accuracy = evaluations.map((e) => e.values?.['accuracy'] ?? Number.NaN);
  test.info().annotations.push({
    type: 'secure evaluation',
    description: evaluations
      .map((e) => `model of round ${e.modelRoundId}: ${JSON.stringify(e.values)} (round ${e.roundId})`)
      .join('; '),
  });
  expect(accuracy.at(-1), 'the federated accuracy rises from the initial model').toBeGreaterThan(
    (accuracy[0] ?? 1) + 0.2,
  );

  // The dashboard's run panel: the strategy, and the chart of the federated loss and accuracy.
  const dashboard = await openDashboard();
  await expect(dashboard.getByTestId('run-panel')).toBeVisible();
  await expect(dashboard.getByTestId('run-strategy')).toHaveText('fedadam');
  await expect(dashboard.getByTestId('run-strategy-settings')).toContainText('η = 0.1');
  await expect(dashboard.getByTestId('run-status')).toHaveText('running');
  const chart = dashboard.getByTestId('run-chart');
  await expect(chart.locator('polyline.accuracy')).toHaveCount(1);
  await expect(chart.locator('polyline.loss')).toHaveCount(1);
  expect(await chart.locator('circle.accuracy').count()).toBeGreaterThanOrEqual(ROUNDS);

  // A restore, asked for on the dashboard while the coordinator is paused and idle: it is pending.
  await coordinator.admin('/admin/pause', 'POST');
  await expect
    .poll(() => coordinator.status().phase, { message: 'the round in progress ends', timeout: ROUNDS_BACKSTOP_MS })
    .toBe('idle');
  const target = completed[0]?.roundId ?? Number.NaN;
  await expect(dashboard.getByTestId('run-restore-round').locator(`option[value="${target}"]`)).toBeAttached();
  await dashboard.getByTestId('run-restore-round').selectOption(String(target));
  await dashboard.getByTestId('run-restore-button').click();
  await expect(dashboard.getByTestId('run-restore-state')).toContainText(`restore to round ${target} pending`);
  expect((await runReport()).restorePending).toBe(target);

  // One round at a time until one completes: it carries out the restore.
  let restoring: RoundSummary | undefined;
  for (let attempt = 0; attempt < RESTORE_ATTEMPTS && restoring === undefined; attempt++) {
    const before = Math.max(0, ...(await coordinator.history()).map((r) => r.roundId));
    coordinator.clock.hold(); // the new round cannot move before it is paused again
    await coordinator.admin('/admin/resume', 'POST');
    await expect
      .poll(() => coordinator.status().roundId ?? 0, { message: 'a round opens', timeout: ROUNDS_BACKSTOP_MS })
      .toBeGreaterThan(before);
    await coordinator.admin('/admin/pause', 'POST');
    const roundId = coordinator.status().roundId;
    coordinator.clock.release();
    await expect
      .poll(async () => (await coordinator.history()).find((r) => r.roundId === roundId)?.outcome, {
        message: `round ${roundId} ends`,
        timeout: ROUNDS_BACKSTOP_MS,
      })
      .toBeDefined();
    const round = (await coordinator.history()).find((r) => r.roundId === roundId);
    if (round?.outcome === 'completed') restoring = round;
    else {
      expect(round !== undefined && failedBySelection(round), `round ${roundId}: ${round?.failureReason}`).toBe(true);
      expect((await runReport()).restorePending, 'still pending after a failed round').toBe(target);
    }
  }
  expect(restoring, `a completed round within ${RESTORE_ATTEMPTS}`).toBeDefined();
  const after = await runReport();
  expect(after.restorePending).toBeNull();
  expect(after.restoredFrom).toBe(target);
  expect(after.modelRoundId).toBe(restoring?.roundId);
  expect(await coordinator.model(restoring?.roundId ?? -1), 'the restored model is the target round’s').toEqual(
    await coordinator.model(target),
  );
  await expect(dashboard.getByTestId('run-restore-state')).toContainText(
    `round ${restoring?.roundId} restored the run to round ${target}'s model`,
  );
});
