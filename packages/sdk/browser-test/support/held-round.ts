/**
 * Holding a round's update phase open until the test lets it end: with a
 * 'held' federation (support/federation.ts) no update comes in until the test
 * releases one, so the phase waits for its count.min. `heldUpdateRound`
 * steps through rounds until one where the page's participant is an update
 * participant with at least `othersNeeded` Node update participants beside
 * it; rounds that do not fit are released (enough Node updaters send) and
 * run to their end.
 */

import type { ParticipantSnapshot } from '@petfl/sdk';
import type { TestCoordinator } from './coordinator.ts';
import type { Federation } from './federation.ts';
import { waitUntil } from './wait.ts';

export interface HeldRound {
  readonly roundId: number;
  /** The page participant's snapshot in the update phase of `roundId`. */
  readonly snapshot: ParticipantSnapshot;
}

export async function heldUpdateRound(options: {
  readonly coordinator: TestCoordinator;
  readonly federation: Federation;
  readonly pageSnapshot: () => Promise<ParticipantSnapshot | null>;
  readonly othersNeeded: number;
  /** The updates a round needs (pet.update.count.min): how many to release in a round that does not fit. */
  readonly updatesNeeded: number;
  readonly timeoutMs?: number;
}): Promise<HeldRound> {
  const { coordinator, federation, pageSnapshot, othersNeeded } = options;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('heldUpdateRound: no fitting round in time');
    const roundId = await waitUntil(
      "the coordinator's update phase",
      () => {
        const { roundId: id, phase } = coordinator.phase();
        return phase === 'update' && id !== null ? id : undefined;
      },
      left,
    );
    // Everyone has picked its task in this round (the sum phase is over, so the task is final).
    const snapshot = await waitUntil(
      'every participant to know its task',
      async () => {
        const page = await pageSnapshot();
        const inRound = (s: ParticipantSnapshot | null) =>
          s !== null && s.roundId === roundId && s.phase !== 'new-round';
        if (!inRound(page) || !federation.participants.every((p) => inRound(p.getSnapshot()))) {
          return coordinator.phase().roundId === roundId ? undefined : 'moved-on';
        }
        return page;
      },
      left,
    );
    if (snapshot === 'moved-on') continue;
    const others = federation.updating(roundId).length;
    // Every accepted sum participant is a live Node participant (none that left would hang the sum2 phase).
    const liveSums = federation.participants.filter((p) => {
      const s = p.getSnapshot();
      return s.roundId === roundId && s.phase === 'sum2';
    }).length;
    const sumsAlive = liveSums === coordinator.phase().sums;
    if (snapshot !== null && snapshot.phase === 'update' && others >= othersNeeded && sumsAlive) {
      return { roundId, snapshot };
    }
    // Not this one: let it end with just enough updates (the page, if it updates, sits it out).
    // A Node updater may not have reached its update task yet (a loaded machine): each is released
    // as it arrives, until enough are, or a round held open for want of them never ends.
    let released = 0;
    await waitUntil(
      'the round to end',
      () => {
        if (released < options.updatesNeeded) {
          released += federation.release(roundId, options.updatesNeeded - released);
        }
        return coordinator.phase().roundId !== roundId;
      },
      left,
      () =>
        `round ${roundId}: ${released} of ${options.updatesNeeded} Node updates released, ${federation.updating(roundId).length} waiting; coordinator at ${JSON.stringify(coordinator.phase())}`,
    );
  }
}
