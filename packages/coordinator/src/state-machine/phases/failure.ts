/**
 * Failure (protocol.md §1.1): a round that cannot complete — a phase timed out short of its
 * count.min, the votes did not settle on a mask backed by a majority, the aggregate is out of
 * range, mask seeds could not be opened, or the coordinator restarted past a phase deadline —
 * ends with its reason recorded in the round history, and the coordinator goes back to idle,
 * which starts the next round. Participants named as `offenders` (they sent mask
 * seeds that could not be opened, docs/security.md §3) are excluded from later rounds.
 */

import type { RoundRecord, RoundSummary } from '../../store/coordinator-store.ts';
import { type CoordinatorState, type Effect, NO_COUNTS, type RoundFacts, type Transition } from '../state.ts';

/** The history entry of a round that ends now. */
export function roundSummary(
  round: RoundFacts,
  outcome: 'completed' | 'failed',
  now: number,
  reason?: string,
  unmaskMs?: number,
): RoundSummary {
  const { record } = round;
  const durations: RoundSummary['phaseDurationsMs'] = {
    ...record.phaseDurationsMs,
    // A phase that fails while open counts until now.
    ...(outcome === 'failed' && record.phaseDurationsMs[record.phase] === undefined
      ? { [record.phase]: now - record.phaseStartedAt }
      : {}),
    ...(unmaskMs === undefined ? {} : { unmask: unmaskMs }),
  };
  return {
    roundId: record.roundId,
    outcome,
    ...(reason === undefined ? {} : { failureReason: reason }),
    startedAt: record.startedAt,
    endedAt: now,
    phaseDurationsMs: durations,
    participants: { ...round.counts },
  };
}

/** The history entry of a stored round whose data was never loaded (its counts are unknown: 0). */
export function unloadedRoundSummary(record: RoundRecord, reason: string, now: number): RoundSummary {
  return {
    roundId: record.roundId,
    outcome: 'failed',
    failureReason: reason,
    startedAt: record.startedAt,
    endedAt: now,
    phaseDurationsMs: record.phaseDurationsMs,
    participants: { ...NO_COUNTS },
  };
}

/** Ends the round in progress as failed: back to idle (the caller settles idle, which starts the next round). */
export function failRound(
  state: Extract<CoordinatorState, { readonly round: RoundFacts }>,
  reason: string,
  now: number,
  offenders?: readonly string[],
): Transition {
  const summary =
    state.kind === 'restoring'
      ? unloadedRoundSummary(state.round.record, reason, now)
      : roundSummary(state.round, 'failed', now, reason);
  // Ending the round also drops its incomplete multipart messages and forgets its key (round.ts closeRound).
  const effects: Effect[] = [{ kind: 'endRound', summary, ...(offenders === undefined ? {} : { offenders }) }];
  return { state: { kind: 'idle', lastRoundId: state.lastRoundId, paused: state.paused }, effects };
}
