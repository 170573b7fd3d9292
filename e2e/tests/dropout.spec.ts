/**
 * Dropouts: two of eight tabs close mid-round (the coordinator in its update phase, its
 * clock held while they close). The round completes, or fails with a recorded reason and
 * the next one completes; the dashboard shows each round's outcome.
 */

import { expect, test } from '../support/fixtures.ts';
import { expectExactRound, failedBySelection, ROUNDS_BACKSTOP_MS, waitForUpdatePhase } from '../support/rounds.ts';

const TABS = 8;

test('2 of 8 tabs close mid-round: the round completes or fails with a reason, the next completes', async ({
  coordinator,
  tabs,
  openDashboard,
}) => {
  const opened = await tabs.openMany(TABS);
  const dashboard = await openDashboard();
  // A round with at least one sum participant among the tabs that stay.
  const { roundId, snapshots } = await waitForUpdatePhase(
    coordinator,
    opened,
    ({ snapshots }) => snapshots.slice(2).some((s) => s.task === 'sum' && s.phase === 'sum2'),
    undefined,
    { hold: true },
  );
  // Close a sum participant if one is among the first tabs, and an update participant.
  const order = [...snapshots.keys()].sort(
    (a, b) => Number(snapshots[b]?.task === 'sum') - Number(snapshots[a]?.task === 'sum'),
  );
  const lastUpdater = [...snapshots.keys()].reverse().find((i) => snapshots[i]?.task === 'update');
  const leaving = [order[0], lastUpdater].filter((i) => i !== undefined);
  const staying = opened.filter((_, i) => !leaving.includes(i));
  await Promise.all(leaving.map((i) => opened[i]?.close()));
  expect(leaving).toHaveLength(2);
  expect(coordinator.status(), 'closed within the update phase').toMatchObject({ roundId, phase: 'update' });
  coordinator.clock.release();

  await expect
    .poll(async () => (await coordinator.history()).some((r) => r.roundId === roundId), {
      message: `round ${roundId} ends`,
      timeout: ROUNDS_BACKSTOP_MS,
    })
    .toBe(true);
  const history = await coordinator.history();
  const round = history.find((r) => r.roundId === roundId);
  if (round?.outcome === 'failed') {
    expect(round.failureReason, 'a failed round records why').toBeTruthy();
  } else if (round !== undefined) {
    await expectExactRound(coordinator, round, opened);
  }
  // The next completed round, with the six tabs left.
  await expect
    .poll(
      async () => (await coordinator.history()).find((r) => r.roundId > roundId && r.outcome === 'completed')?.roundId,
      {
        message: 'a completed round after the dropout',
        timeout: ROUNDS_BACKSTOP_MS,
      },
    )
    .toBeDefined();
  const after = await coordinator.history();
  const next = after.find((r) => r.roundId > roundId && r.outcome === 'completed');
  for (const r of after.filter((r) => r.roundId > roundId && r.roundId < (next?.roundId ?? 0))) {
    expect(failedBySelection(r), `round ${r.roundId}: ${r.failureReason}`).toBe(true);
  }
  if (next !== undefined) await expectExactRound(coordinator, next, staying);

  // The dashboard shows both rounds with their outcomes.
  const rows = dashboard.getByTestId('dash-rounds').getByTestId('round-row');
  await expect(rows.and(dashboard.locator(`[data-round-id="${roundId}"]`))).toHaveAttribute(
    'data-outcome',
    round?.outcome ?? '',
  );
  await expect(rows.and(dashboard.locator(`[data-round-id="${next?.roundId}"]`))).toHaveAttribute(
    'data-outcome',
    'completed',
  );
});
