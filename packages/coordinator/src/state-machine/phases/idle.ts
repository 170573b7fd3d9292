/**
 * Idle (protocol.md §1.1): between rounds. Unless paused (or shut down), the coordinator opens
 * the next round at once: the shell's `openRound` task draws a fresh round key pair and round
 * seed under the next-round settings, stores the round and answers `roundStarted`, which
 * enters the sum phase. At start-up a round found in the store is continued if its phase
 * deadline has not passed (the `restoreRound` task loads its data), else it fails with the
 * reason.
 */

import type { RoundRecord } from '../../store/coordinator-store.ts';
import { type CoordinatorState, type Effect, NO_COUNTS, type Transition } from '../state.ts';
import { unloadedRoundSummary } from './failure.ts';

type Idle = Extract<CoordinatorState, { readonly kind: 'idle' }>;

/** What idle asks for: the next round, unless paused. */
export function startNext(state: Idle, now: number): readonly Effect[] {
  return state.paused ? [] : [{ kind: 'openRound', roundId: state.lastRoundId + 1, now }];
}

/** The `openRound` task stored the round: its sum phase begins. */
export function roundStarted(state: Idle, record: RoundRecord): CoordinatorState {
  return { kind: 'sum', lastRoundId: record.roundId, paused: state.paused, round: { record, counts: NO_COUNTS } };
}

/** Start-up found `record` in the store: load it if its phase deadline has not passed, else fail it. */
export function found(state: Idle, record: RoundRecord, now: number): Transition {
  const lastRoundId = Math.max(state.lastRoundId, record.roundId);
  const elapsed = now - record.phaseStartedAt;
  const deadline = record.pet[record.phase].time.maxMs;
  if (elapsed < deadline) {
    return {
      state: { kind: 'restoring', lastRoundId, paused: state.paused, round: { record, counts: NO_COUNTS } },
      effects: [{ kind: 'restoreRound', record }],
    };
  }
  const reason = `coordinator restarted after the ${record.phase} phase deadline (${deadline} ms) of round ${record.roundId}`;
  return {
    state: { kind: 'idle', lastRoundId, paused: state.paused },
    effects: [{ kind: 'endRound', summary: unloadedRoundSummary(record, reason, now) }],
  };
}
