/**
 * Update: an update participant waits for the sum dictionary and its local
 * model, masks `scalar · model` and the scalar with a fresh mask seed
 * (protocol.md §4.4), seals the mask seed to every sum participant's
 * ephemeral key — the local seed dictionary (§3.8) — and sends the Update
 * payload (§3.4). Then it awaits the next round.
 */

import {
  applyClipBit,
  applyPrivacyFilters,
  clipL2,
  effectiveClipNorm,
  encodeMaskedUpdate,
  isDistributed,
  Masker,
  type PetCrypto,
  PetError,
  privatizeUpdate,
  type RoundParameters,
  SEED_BYTES,
} from '@petfl/core';
import type { StepIo } from '../io.ts';
import { chargeRound, privacyRefusal } from '../privacy.ts';
import { type PhaseState, participantError } from '../state.ts';
import { abandonRound, callbackError, complete, pending, type StepResult } from '../step-result.ts';
import { startSending } from './sending.ts';

export async function update(state: PhaseState<'update'>, io: StepIo): Promise<StepResult> {
  const { round, phase } = state;
  const sums = await io.client.getSums();
  if (sums === undefined) return pending(state, 'phase'); // the sum phase is still running

  let model: ArrayLike<number> | null | undefined;
  try {
    model = await io.localModel(round.roundId);
  } catch (error) {
    return abandonRound(state, io, callbackError('localModel', error, round.roundId));
  }
  if (model === undefined) return pending(state); // until the app sets one, or the round moves on
  if (model === null) return complete({ ...state, phase: { kind: 'awaiting' } }); // the app sits this round out
  if (model.length !== round.modelLength) {
    const error = new PetError(
      'model-length-mismatch',
      `local model: expected ${round.modelLength} weights, got ${model.length}`,
    );
    return abandonRound(state, io, { code: error.code, message: error.message, roundId: round.roundId });
  }

  // The app may have trained past the phase's end: then masking and uploading the model would
  // only earn a 'wrong-phase' refusal. One look at the coordinator's phase token saves both.
  const closedAt = await updatePhaseClosed(io, round.roundId);
  if (closedAt !== undefined) {
    return abandonRound(state, io, {
      code: 'update-too-late',
      message: `round ${round.roundId}: the update phase had closed (coordinator at ${closedAt}) before the local model was ready; not sent`,
      roundId: round.roundId,
    });
  }

  // The round's privacy promise (docs/privacy.md): within the participant's own limit, the update
  // clipped (and, for distributed noise, noised in integer units) before it is masked; the round is
  // charged to the participant's ledger with the payload, before anything is sent.
  let toMask: ArrayLike<number> = model;
  let charged: PhaseState<'update'> = state;
  if (io.privacyFilters !== undefined && io.privacyFilters.length > 0) {
    // Local privacy filters first (docs/privacy.md §4): what follows is post-processing of their output.
    const filtered = Float64Array.from(model);
    try {
      applyPrivacyFilters(io.crypto, filtered, io.privacyFilters);
    } catch (error) {
      return abandonRound(state, io, participantError(error, round.roundId));
    }
    toMask = filtered;
  }
  if (round.privacy !== undefined) {
    const refusal = privacyRefusal(state.privacyLedger, round, io.privacy);
    if (refusal !== undefined) return abandonRound(state, io, refusal);
    try {
      toMask = privateVector(io.crypto, round, toMask, state.scalar);
    } catch (error) {
      return abandonRound(state, io, participantError(error, round.roundId));
    }
    const privacyLedger = chargeRound(state.privacyLedger, round);
    charged = privacyLedger === undefined ? state : { ...state, privacyLedger };
  }

  // SECURITY: `seed` is this update's mask seed, fresh from the CSPRNG; it leaves this function
  // only sealed to the sum participants' ephemeral keys and is wiped below.
  const seed = io.crypto.randomBytes(SEED_BYTES);
  let bytes: Uint8Array;
  try {
    // One box per sum participant, all under one ephemeral key (ADR 0016). protocol.md §5.1: a
    // small-order or non-canonical ephemeral key is 'invalid-key' (checked before anything is
    // sealed); step then gives the round up, since the coordinator requires a seed for every key
    // of the sum dictionary (§1.1) and retrying cannot change the key.
    const recipients = [...sums];
    const boxes = io.crypto.sealToEach(
      seed,
      recipients.map(([, ephemeralPk]) => ephemeralPk),
      (index) => `ephemeral key of ${recipients[index]?.[0]}`,
    );
    const localSeedDict = new Map(
      recipients.map(([sumParticipantPk], index) => [sumParticipantPk, boxes[index] as Uint8Array]),
    );
    const { sumSignature, updateSignature } = phase;
    // The model is masked straight into the payload's encoding: no element array of the whole
    // masked model is made (@petfl/core `encodeMaskedUpdate`).
    const masker = new Masker(io.crypto, round.maskConfig);
    bytes = encodeMaskedUpdate(masker, { sumSignature, updateSignature, localSeedDict }, toMask, state.scalar, seed);
  } finally {
    // SECURITY: the mask seed is no longer needed once sealed and used (or on failure).
    io.crypto.wipe(seed);
  }
  return complete(startSending(charged, io, { kind: 'update', bytes }, { kind: 'awaiting' }));
}

/**
 * What a participant masks under the round's promise: the model clipped to the round's L2 norm;
 * with distributed noise, clipped, rounded and noised in integer units (@petfl/core
 * `privatizeUpdate`, rotated first by the round seed when the round says so), which needs scalar 1
 * (the units are exact only then).
 */
function privateVector(
  crypto: PetCrypto,
  round: RoundParameters,
  model: ArrayLike<number>,
  scalar: number,
): Float64Array {
  const privacy = round.privacy;
  if (privacy === undefined) return Float64Array.from(model);
  // Adaptive clipping: the update clipped to this round's C, its "norm ≤ C" bit in the last entry.
  const vector = privacy.clipBitWeight === undefined ? Float64Array.from(model) : applyClipBit(privacy, model);
  if (!isDistributed(privacy)) {
    clipL2(vector, effectiveClipNorm(privacy));
    return vector;
  }
  if (scalar !== 1) {
    throw new PetError(
      'invalid-scalar',
      `round ${round.roundId}: distributed noise needs scalar 1, this participant has ${scalar}`,
    );
  }
  return privatizeUpdate(crypto, privacy, round.maskConfig, vector, { roundSeed: round.seed });
}

/**
 * The coordinator's phase token (`GET /phase`, protocol.md §1.2, asked without waiting) when it
 * shows that round `roundId`'s update phase is over: any token but `<roundId>.update` and
 * `<roundId>.shutdown` (a coordinator restarting on its store continues the round, and the
 * send's retries reach it). Undefined where the client has no long polls or the look fails:
 * then the update goes out and the coordinator decides, as it does for an update that crosses
 * the phase's end in flight.
 */
async function updatePhaseClosed(io: StepIo, roundId: number): Promise<string | undefined> {
  if (io.client.waitForPhaseChange === undefined) return undefined;
  let token: string | undefined;
  try {
    token = await io.client.waitForPhaseChange('', 0);
  } catch {
    return undefined;
  }
  const open = token === undefined || token === `${roundId}.update` || token === `${roundId}.shutdown`;
  return open ? undefined : token;
}
