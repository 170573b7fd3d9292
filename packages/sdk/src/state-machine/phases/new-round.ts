/**
 * New round: the participant has just seen a round id it was not part of.
 * It selects its task from the round seed and its identity key (protocol.md
 * §2): sum → a fresh ephemeral key pair and the sum phase; update → the
 * update phase; none → awaiting. It hands the app the latest global model if
 * that is newer than the last one delivered (protocol.md §3.10): first, for
 * an update task or none; for a sum task only once its Sum is sent
 * (sending.ts), since the round's sum phase waits for the Sum and not for a
 * model download, or once the task is given up before that (step.ts: a sum
 * phase that closed first).
 */

import { type GlobalModel, selectTask, verifyRoundPrivacy } from '@petfl/core';
import { CoordinatorRejectedError, CoordinatorUnavailableError } from '../../client/coordinator-client.ts';
import type { StepIo } from '../io.ts';
import { privacyRefusal } from '../privacy.ts';
import { assertNever, type InRoundState, type PhaseState, participantError } from '../state.ts';
import { callbackError, complete, type StepResult } from '../step-result.ts';

export async function newRound(state: PhaseState<'new-round'>, io: StepIo): Promise<StepResult> {
  const { round } = state;
  // A round whose seed does not commit to the privacy it announces may have been given a changed
  // promise (ADR 0012): no task in it.
  try {
    verifyRoundPrivacy(io.crypto, round);
  } catch (error) {
    const next = await deliverGlobalModel(state, io);
    return complete({ ...next, lastError: participantError(error, round.roundId), phase: { kind: 'awaiting' } });
  }
  // SECURITY: the identity secret key (owned by the state) signs the two task signatures.
  const selection = selectTask(io.crypto, round.seed, state.identity.secretKey, {
    sum: round.sumProbability,
    update: round.updateProbability,
  });
  const { sumSignature, updateSignature } = selection;
  if (selection.task === 'sum') {
    // SECURITY: a fresh ephemeral key pair for this round's sum task; the sum/sum2 phases own
    // it and sum2 wipes its secret once the Sum2 is sealed.
    const { publicKey, secretKey } = io.crypto.encryptKeyPair();
    // The Sum goes first: the round's sum phase waits for it, and nothing in the sum task needs
    // the global model, which is handed over once the Sum is sent (sending.ts).
    return complete({ ...state, phase: { kind: 'sum', sumSignature, ephemeral: { publicKey, secretKey } } });
  }
  const next = await deliverGlobalModel(state, io);
  switch (selection.task) {
    case 'update':
      if (updateSignature === undefined) throw new Error('selectTask: an update task without an update signature');
      {
        // Over the participant's own ε limit: sit out before the app trains for nothing.
        const refusal = privacyRefusal(next.privacyLedger, round, io.privacy);
        if (refusal !== undefined) return complete({ ...next, lastError: refusal, phase: { kind: 'awaiting' } });
      }
      return complete({ ...next, phase: { kind: 'update', sumSignature, updateSignature } });
    case 'none':
      return complete({ ...next, phase: { kind: 'awaiting' } });
    default:
      return assertNever(selection.task);
  }
}

/**
 * Best effort: a global model that cannot be fetched now must not cost the participant its task,
 * so a coordinator failure here is only recorded.
 */
export async function deliverGlobalModel<S extends InRoundState>(state: S, io: StepIo): Promise<S> {
  const roundId = state.round.roundId;
  let global: GlobalModel | undefined;
  try {
    global = await io.client.getModel();
  } catch (error) {
    if (error instanceof CoordinatorRejectedError || error instanceof CoordinatorUnavailableError) {
      return { ...state, lastError: participantError(error, roundId) };
    }
    throw error;
  }
  const last = state.lastGlobalModelRound;
  if (global === undefined || (last !== undefined && global.roundId <= last)) return state;
  const delivered = { ...state, lastGlobalModelRound: global.roundId };
  try {
    io.onGlobalModel?.(global);
  } catch (error) {
    // Counted as delivered all the same: handing the app the same model again would throw again.
    return { ...delivered, lastError: callbackError('onGlobalModel', error, roundId) };
  }
  return delivered;
}
