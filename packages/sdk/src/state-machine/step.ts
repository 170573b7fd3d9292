/**
 * One step of the participant protocol (architecture.md §5.1, §7.4).
 *
 * A step first reads the round parameters (`GET /params`, protocol.md
 * §1.2). A round id (or round key) other than the state's means a new round:
 * whatever the participant was doing belongs to a round that is over — a
 * stale in-flight message included — so it enters 'new-round'. Then an
 * exhaustive switch runs the current phase's step.
 *
 * Except right after a step that completed in the same run (`StepOptions.roundJustRead`): the
 * round was read a moment before, so the phase's step runs on the state's round at once. What
 * it asks the coordinator checks the round anyway — a message of an ended round is refused
 * ('wrong-round', protocol.md §1.2), the sum dictionary and the seed dictionary are the
 * current round's — and a step that waits ('pending') leaves the next look to the run loop,
 * whose long poll returns at once when the round moved on (run.ts). Only when such a step
 * fails are the parameters read, and the failure then counts as it would have after the read:
 * a new round enters 'new-round' (the failure was the round's end), the same round handles it
 * as usual. So a run of steps reads `GET /params` once: a message of N chunks costs one read,
 * not N + 1, and the steps of a round's start (new round → task → message → next phase) one,
 * not four (architecture.md §5.1).
 *
 * Failures become state, never the end of the participant: a transient
 * coordinator failure (unreachable, 5xx) is 'pending' (retry later, nothing
 * changed); a refusal, a protocol or crypto error (PetError: a seal to a
 * small-order key is 'invalid-key', never a bare libsodium Error) or
 * coordinator data that does not decode abandons this round's task with
 * `lastError` set and waits for the next round — retrying could only fail the
 * same way.
 */

import { isPetError, type RoundParameters } from '@petfl/core';
import { CoordinatorRejectedError, CoordinatorUnavailableError } from '../client/coordinator-client.ts';
import type { AbortSignalLike, StepIo } from './io.ts';
import { awaiting } from './phases/awaiting.ts';
import { deliverGlobalModel, newRound } from './phases/new-round.ts';
import { sending } from './phases/sending.ts';
import { sum } from './phases/sum.ts';
import { sum2 } from './phases/sum2.ts';
import { update } from './phases/update.ts';
import {
  assertNever,
  type InRoundState,
  isTransient,
  malformedCoordinatorData,
  type ParticipantState,
  type Phase,
  participantError,
  wipePhaseSecrets,
} from './state.ts';
import { abandonRound, complete, pending, type StepResult } from './step-result.ts';

export type { StepResult } from './step-result.ts';

export interface StepOptions {
  /**
   * This is the step's last attempt (the run loop counts them, run.ts): an error the step
   * cannot classify gives the round up with `lastError` 'internal' instead of being thrown
   * again, so no step is retried forever. Not once `signal` has aborted: stopping is no failure.
   */
  readonly lastAttempt?: boolean;
  readonly signal?: AbortSignalLike;
  /**
   * The step before this one, in the same run, completed: the state's round was read from the
   * coordinator a moment ago, and this step runs without reading `GET /params` first (see the
   * module comment).
   */
  readonly roundJustRead?: boolean;
}

/**
 * Advances the participant by one step. The input state is consumed: when the step leaves a
 * round for good, the ephemeral secret key it held is wiped in place — keep the returned state.
 */
export async function step(state: ParticipantState, io: StepIo, options: StepOptions = {}): Promise<StepResult> {
  // A step that failed without the round read first: what the failure means depends on the round.
  let failedUnread: { readonly error: unknown } | undefined;
  if (options.roundJustRead === true && state.round !== undefined && state.phase.kind !== 'new-round') {
    try {
      const result = await dispatch({ ...state, round: state.round, phase: state.phase }, io);
      return result.kind === 'pending' ? pending(state, result.awaits) : result;
    } catch (error) {
      failedUnread = { error };
    }
  }

  let params: RoundParameters | undefined;
  try {
    params = await io.client.getParams();
  } catch (error) {
    if (error instanceof CoordinatorUnavailableError || error instanceof CoordinatorRejectedError) {
      return pending(state); // without round parameters there is nothing to do
    }
    throw error;
  }
  if (params === undefined) return pending(state, 'phase'); // no round has started yet

  const current = state.round;
  const sameRound =
    current !== undefined &&
    current.roundId === params.roundId &&
    equalBytes(current.coordinatorPk, params.coordinatorPk);
  const entered: InRoundState = sameRound
    ? { ...state, round: current }
    : { ...state, round: plainRound(params), phase: { kind: 'new-round' } };

  let result: StepResult;
  try {
    // The same round: the failure is this step's outcome, as if it had followed the read.
    if (failedUnread !== undefined && sameRound) throw failedUnread.error;
    result = await dispatch(entered, io);
  } catch (error) {
    if (isTransient(error)) return pending(state);
    const givingUp = options.lastAttempt === true && options.signal?.aborted !== true;
    if (!isPermanent(error) && !givingUp) throw error;
    result = abandonRound(entered, io, participantError(error, entered.round.roundId));
    if (sumNotSent(entered.phase))
      result = complete(await handOverModel({ ...result.state, round: entered.round }, io));
  }
  if (result.kind === 'pending') return pending(state, result.awaits);
  // SECURITY: the old round is over: an ephemeral secret key of its sum task is of no use now.
  if (!sameRound) wipePhaseSecrets(io.crypto, state.phase);
  return result;
}

/**
 * A failure that retrying the same step cannot cure: a refusal (4xx), a PetError of local work
 * ('crypto-failed', 'invalid-key' — sealing to a small-order ephemeral key —, 'decrypt-failed',
 * a decoder's code) or coordinator data that does not decode. The round is given up at once
 * with it as `lastError`; anything else that throws is the run loop's to bound (run.ts).
 */
function isPermanent(error: unknown): boolean {
  return (
    error instanceof CoordinatorRejectedError || isPetError(error) || malformedCoordinatorData(error) !== undefined
  );
}

/** A sum task whose Sum has not been sent: it has not been handed this round's global model yet (new-round.ts). */
function sumNotSent(phase: Phase): boolean {
  return phase.kind === 'sum' || (phase.kind === 'sending' && phase.tag === 'sum');
}

/**
 * A sum task given up before its Sum was sent (a sum phase that closed before it, most often:
 * `wrong-phase`) was never handed the round's global model, which comes once the Sum is sent: it
 * is handed over now, as for a participant with no task, so a participant that lost that race
 * still trains on the newest model this round (architecture.md §5.2). Best effort, like every
 * delivery: the round is already given up with its own error, which a failure here leaves as the
 * state's `lastError`; the next round's delivery tries again.
 */
async function handOverModel(state: InRoundState, io: StepIo): Promise<ParticipantState> {
  const lastError = state.lastError;
  try {
    const delivered = await deliverGlobalModel(state, io);
    return { ...delivered, lastError };
  } catch {
    return state;
  }
}

function dispatch(state: InRoundState, io: StepIo): Promise<StepResult> {
  const { phase } = state;
  switch (phase.kind) {
    case 'new-round':
      return newRound({ ...state, phase }, io);
    case 'awaiting':
      return awaiting({ ...state, phase }, io);
    case 'sum':
      return sum({ ...state, phase }, io);
    case 'update':
      return update({ ...state, phase }, io);
    case 'sum2':
      return sum2({ ...state, phase }, io);
    case 'sending':
      return sending({ ...state, phase }, io);
    default:
      return assertNever(phase);
  }
}

/** A plain copy of the round parameters (architecture.md §7.4): no shared buffers, no unknown fields. */
function plainRound(params: RoundParameters): RoundParameters {
  const { group, data, bound, model } = params.maskConfig;
  return {
    roundId: params.roundId,
    coordinatorPk: params.coordinatorPk.slice(),
    sumProbability: params.sumProbability,
    updateProbability: params.updateProbability,
    seed: params.seed.slice(),
    maskConfig: { group, data, bound, model },
    modelLength: params.modelLength,
    ...(params.privacy === undefined ? {} : { privacy: { ...params.privacy } }),
  };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
