/**
 * Reloading tabs mid-round: one update participant while the coordinator is in the
 * update phase, and one sum participant before it sent its Sum2. Both come back as the
 * same participant (the key they show, restored from IndexedDB) and the round completes,
 * with the exact weighted average. The reloads happen with the coordinator's clock held, and
 * after them the phase driver keeps the update phase open until the reloaded tab is done with
 * it: nothing here depends on how fast the reloads or the training are.
 */

import { expect, test } from '../support/fixtures.ts';
import { expectExactRound, ROUNDS_BACKSTOP_MS, waitForUpdatePhase } from '../support/rounds.ts';

const TABS = 6;

// The round this needs (one or two of the six tabs drawing sum, an update participant caught
// before it sent) comes with probability about 0.63 a round; the wait is for rounds, with
// ROUNDS_BACKSTOP_MS (waitForUpdatePhase's default) only bounding a hang.

test('an update participant and a sum participant reload mid-round and resume as themselves', async ({
  coordinator,
  tabs,
}) => {
  const opened = await tabs.openMany(TABS);
  // A round with an update participant still training or sending, a sum participant
  // awaiting sum2, and updates to spare (≥ 4 update participants) should the reloaded one miss it.
  const { roundId, snapshots } = await waitForUpdatePhase(
    coordinator,
    opened,
    ({ snapshots }) => {
      const updaters = snapshots.filter((s) => s.task === 'update').length;
      return (
        updaters >= 4 &&
        coordinator.status().counts.sum >= 1 &&
        snapshots.some((s) => s.task === 'update' && s.phase === 'update') &&
        snapshots.some((s) => s.task === 'sum' && s.phase === 'sum2')
      );
    },
    undefined,
    { hold: true },
  );
  const updater = opened[snapshots.findIndex((s) => s.task === 'update' && s.phase === 'update')];
  const summer = opened[snapshots.findIndex((s) => s.task === 'sum' && s.phase === 'sum2')];
  if (updater === undefined || summer === undefined) throw new Error('unreachable');
  const before = await Promise.all([updater.participantId(), summer.participantId()]);

  await Promise.all([updater.reload(), summer.reload()]);
  expect(coordinator.status(), 'reloaded within the update phase').toMatchObject({ roundId, phase: 'update' });
  await expect(updater.page.getByTestId('participant-id')).toHaveText(before[0]);
  await expect(summer.page.getByTestId('participant-id')).toHaveText(before[1]);
  await expect(summer.page.getByTestId('task')).toHaveText('sum');
  coordinator.clock.release();

  await expect
    .poll(async () => (await coordinator.history()).find((r) => r.roundId === roundId)?.outcome, {
      message: `round ${roundId} ends`,
      timeout: ROUNDS_BACKSTOP_MS,
    })
    .toBe('completed');
  const round = (await coordinator.history()).find((r) => r.roundId === roundId);
  if (round !== undefined) await expectExactRound(coordinator, round, opened);
});
