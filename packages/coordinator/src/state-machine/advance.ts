/**
 * Moving from one accepting phase to the next (protocol.md §1.1): the record gets the new phase,
 * its start time and the ended phase's duration, and is saved before the state moves on;
 * incomplete multipart messages of the ended phase are dropped.
 */

import type { LivePhase } from '../store/coordinator-store.ts';
import type { InRoundState, Transition } from './state.ts';

export function advancePhase(state: InRoundState, next: 'update' | 'sum2', now: number): Transition {
  const { record } = state.round;
  const ended: LivePhase = record.phase;
  const durationMs = now - record.phaseStartedAt;
  const updated = {
    ...record,
    phase: next,
    phaseStartedAt: now,
    phaseDurationsMs: { ...record.phaseDurationsMs, [ended]: durationMs },
  };
  return {
    state: { ...state, kind: next, round: { ...state.round, record: updated } },
    effects: [
      { kind: 'saveRound', record: updated, ended },
      { kind: 'dropChunks' },
      { kind: 'phaseEnded', phase: ended, durationMs },
    ],
  };
}
