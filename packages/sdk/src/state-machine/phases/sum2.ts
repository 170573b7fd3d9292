/**
 * Sum2: a sum participant fetches its update seed dictionary (protocol.md
 * §1.2, §3.8; a request signed with its identity key), opens every encrypted
 * mask seed with its ephemeral key, derives every mask (§5.2–5.3), adds them
 * into the aggregated mask and sends the Sum2 payload (§3.5). Then it awaits
 * the next round.
 *
 * A seed that does not open, or opens to anything but a 32-byte mask seed,
 * is the update participant's fault (or the coordinator's), not this
 * participant's: it is skipped and its update participant goes into the
 * Sum2's rejected seeds (§3.5), so one garbage seed no longer costs the round
 * every sum participant's Sum2.
 *
 * A coordinator that does not know it ('unknown-sum-participant': its Sum
 * never made it into the sum dictionary) refuses the read; step then
 * abandons the round with that code as `lastError`.
 */

import {
  Aggregation,
  compareBytes,
  dictionaryKeyBytes,
  type EncryptKeyPair,
  isDistributed,
  isPetError,
  SEED_BYTES,
  signSeedsRequest,
} from '@petfl/core';
import type { StepIo } from '../io.ts';
import type { PhaseState } from '../state.ts';
import { abandonRound, complete, pending, type StepResult } from '../step-result.ts';
import { startSending } from './sending.ts';

export async function sum2(state: PhaseState<'sum2'>, io: StepIo): Promise<StepResult> {
  const { round, phase } = state;
  // SECURITY: the identity secret key (owned by the state) signs the request for this round's column.
  const signature = signSeedsRequest(io.crypto, round.coordinatorPk, state.identity);
  const seeds = await io.client.getSeeds(state.identity.publicKey, signature);
  if (seeds === undefined) return pending(state); // the update phase is still running

  const { maskConfig, modelLength } = round;
  const aggregation = new Aggregation(maskConfig, modelLength);
  const rejectedSeeds: Uint8Array[] = [];
  for (const [updateParticipantPk, encryptedSeed] of seeds) {
    // SECURITY: the ephemeral secret key (owned by this phase) opens one mask seed, which lives
    // only for this iteration and is wiped right after its mask is derived.
    const seed = openSeed(io, encryptedSeed, phase.ephemeral, updateParticipantPk);
    if (seed === undefined) {
      rejectedSeeds.push(dictionaryKeyBytes(updateParticipantPk, `update seed dictionary key ${updateParticipantPk}`));
      continue;
    }
    try {
      // Drawn straight into the aggregate: no whole mask is ever allocated (protocol.md §5.2–5.3).
      aggregation.aggregateDerived(io.crypto, seed);
    } finally {
      io.crypto.wipe(seed);
    }
  }
  // Distributed noise (docs/privacy.md §2): the sum carries the promised noise only with at least
  // `participants` updates in it. With fewer, this sum participant does not help unmask it.
  const privacy = round.privacy;
  const opened = seeds.size - rejectedSeeds.length;
  if (privacy !== undefined && isDistributed(privacy) && opened < privacy.participants) {
    return abandonRound(state, io, {
      code: 'privacy-limit',
      message:
        `round ${round.roundId}: ${opened} update${opened === 1 ? '' : 's'} to unmask, fewer than the ` +
        `${privacy.participants} whose noise the promise counts on; no mask sent`,
      roundId: round.roundId,
    });
  }
  rejectedSeeds.sort(compareBytes); // protocol.md §3.5: equal reports encode equally
  const payload = {
    kind: 'sum2',
    sum2: { sumSignature: phase.sumSignature, aggregatedMask: aggregation.toMaskObject(), rejectedSeeds },
  } as const;
  const next = startSending(state, io, payload, { kind: 'awaiting' });
  // SECURITY: every seed is opened and the Sum2 is sealed: the ephemeral secret key has done its job.
  io.crypto.wipe(phase.ephemeral.secretKey);
  return complete(next);
}

/**
 * The mask seed sealed in `encryptedSeed`, or undefined when the box does not open
 * ('decrypt-failed') or holds anything but 32 bytes (protocol.md §3.5: a rejected seed). Any
 * other failure (a key pair of the wrong length: this participant's own state) is thrown.
 */
function openSeed(
  io: StepIo,
  encryptedSeed: Uint8Array,
  ephemeral: EncryptKeyPair,
  updateParticipantPk: string,
): Uint8Array | undefined {
  let opened: Uint8Array;
  try {
    opened = io.crypto.openSealed(encryptedSeed, ephemeral, `mask seed of ${updateParticipantPk}`);
  } catch (error) {
    if (isPetError(error, 'decrypt-failed')) return undefined;
    throw error;
  }
  if (opened.length === SEED_BYTES) return opened;
  // SECURITY: whatever the box held is not a mask seed, but may be one's prefix: wipe it too.
  io.crypto.wipe(opened);
  return undefined;
}
