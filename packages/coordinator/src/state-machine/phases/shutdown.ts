/**
 * Shutdown: the coordinator stops for good. No phase ends and no round starts any more; the
 * round in progress stays in the store as it is, so the next coordinator on the same store
 * continues it (ADR 0005). Every event after this changes nothing.
 */

import type { CoordinatorState, Transition } from '../state.ts';

export function shutDown(state: CoordinatorState): Transition {
  if (state.kind === 'shutdown') return { state, effects: [] };
  const { lastRoundId, paused } = state;
  const round = state.kind === 'idle' ? undefined : state.round;
  return {
    state: { kind: 'shutdown', lastRoundId, paused, ...(round === undefined ? {} : { round }) },
    effects: [{ kind: 'cancelTimer' }],
  };
}
