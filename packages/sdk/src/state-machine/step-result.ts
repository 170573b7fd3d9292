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
}

export function pending(state: ParticipantState): StepResult {
  return { kind: 'pending', state };
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
  return complete({ ...state, lastError: error, phase: { kind: 'awaiting' } });
}

/** The error record for an app callback that threw (architecture.md §7.4: caught, reported, carried on). */
export function callbackError(callback: string, error: unknown, roundId: number | undefined): ParticipantError {
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'callback-failed', message: `${callback}: ${message}`, roundId };
}
