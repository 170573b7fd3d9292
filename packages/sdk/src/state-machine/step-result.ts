/**
 * What one step returns (architecture.md §5.1): 'complete' — the state advanced
 * and should be saved; 'pending' — waiting on the coordinator or the app,
 * nothing to save, wait before the next step.
 */

import type { StepIo } from './io.ts';
import { type ParticipantError, type ParticipantState, wipePhaseSecrets } from './state.ts';

export interface StepResult {
  readonly kind: 'pending' | 'complete';
  readonly state: ParticipantState;
  /**
   * 'phase' on a 'pending' step: what it waits for comes with the coordinator's next phase and
   * not before — a round to start, the sum dictionary (the update phase), the seed dictionary
   * (Sum2), its round's end. Stepping again while the phase stays the same could only read the
   * same answers, so where the client long-polls the run loop waits for the phase itself
   * (run.ts). Not on a wait for the app (a local model) or after a transient failure.
   */
  readonly awaits?: 'phase';
}

export function pending(state: ParticipantState, awaits?: 'phase'): StepResult {
  return awaits === undefined ? { kind: 'pending', state } : { kind: 'pending', state, awaits };
}

export function complete(state: ParticipantState): StepResult {
  return { kind: 'complete', state };
}

/**
 * Gives up this round's task: records why, wipes the phase's secrets and waits for the next
 * round (the /params check at the top of the next step after a wait notices it, step.ts).
 */
export function abandonRound(state: ParticipantState, io: StepIo, error: ParticipantError): StepResult {
  wipePhaseSecrets(io.crypto, state.phase);
  return complete(roundGivenUp(state, error));
}

/** `state` with this round's task given up for `error`: waiting for the next round; secrets left as they are. */
export function roundGivenUp(state: ParticipantState, error: ParticipantError): ParticipantState {
  return { ...state, lastError: error, phase: { kind: 'awaiting' } };
}

/** The error record for an app callback that threw (architecture.md §7.4: caught, reported, carried on). */
export function callbackError(callback: string, error: unknown, roundId: number | undefined): ParticipantError {
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'callback-failed', message: `${callback}: ${message}`, roundId };
}
