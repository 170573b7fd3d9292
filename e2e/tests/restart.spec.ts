/**
 * Restarting the coordinator mid-round on its Redis store (ADR 0005): the new process
 * continues the round in progress (its deadlines are in the store), the tabs carry on
 * without a reload, and the following rounds complete with exact weighted averages.
 */

import { expect, test } from '../support/fixtures.ts';
import { completedRounds, expectExactRound, ROUNDS_BACKSTOP_MS, waitForUpdatePhase } from '../support/rounds.ts';

const TABS = 6;

test('the coordinator restarts mid-round on Redis; the tabs carry on and the next rounds complete', async ({
  coordinator,
  tabs,
  storeKind,
}) => {
  expect(storeKind).toBe('redis');
  const opened = await tabs.openMany(TABS);
  // The clock is held from the update phase until the restarted coordinator has loaded the
  // round, so the round cannot end by time while the old process closes and the new one starts
  // (after that the phase driver keeps it open until the tabs are done with it).
  const { roundId } = await waitForUpdatePhase(
    coordinator,
    opened,
    () => coordinator.status().counts.sum >= 1,
    undefined,
    { hold: true },
  );
  const ids = await Promise.all(opened.map((t) => t.participantId()));

  await coordinator.restart();
  expect(coordinator.status().roundId, 'the restarted coordinator continues the round').toBe(roundId);
  coordinator.clock.release();

  // Two more completed rounds after the restarted one, the tabs untouched.
  await expect
    .poll(
      async () => (await coordinator.history()).filter((r) => r.roundId > roundId && r.outcome === 'completed').length,
      {
        timeout: ROUNDS_BACKSTOP_MS,
        message: 'two completed rounds after the restart',
      },
    )
    .toBeGreaterThanOrEqual(2);
  const history = await coordinator.history();
  const restarted = history.find((r) => r.roundId === roundId);
  test.info().annotations.push({ type: 'restarted round', description: JSON.stringify(restarted) });
  for (const round of completedRounds(
    history.filter((r) => r.roundId >= roundId),
    3,
  )) {
    await expectExactRound(coordinator, round, opened);
  }
  expect(await Promise.all(opened.map((t) => t.participantId()))).toEqual(ids);
});
