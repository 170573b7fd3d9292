/**
 * Sum2: a sum participant fetches its update seed dictionary (protocol.md
 * §3.8), opens every encrypted mask seed with its ephemeral key, derives
 * every mask (§5.2–5.3), adds them into the aggregated mask and sends the
 * Sum2 payload (§3.5). Then it awaits the next round.
 *
 * A coordinator that does not know it ('unknown-sum-participant': its Sum
 * never made it into the sum dictionary) refuses the read; step then
 * abandons the round with that code as `lastError`.
 */

import { Aggregation, deriveMask } from '@petfl/core';
import type { StepIo } from '../io.ts';
import type { PhaseState } from '../state.ts';
import { complete, pending, type StepResult } from '../step-result.ts';
import { startSending } from './sending.ts';

export async function sum2(state: PhaseState<'sum2'>, io: StepIo): Promise<StepResult> {
  const { round, phase } = state;
  const seeds = await io.client.getSeeds(state.identity.publicKey);
  if (seeds === undefined) return pending(state); // the update phase is still running

  const { maskConfig, modelLength } = round;
  const aggregation = new Aggregation(maskConfig, modelLength);
  for (const [updateParticipantPk, encryptedSeed] of seeds) {
    // SECURITY: the ephemeral secret key (owned by this phase) opens one mask seed, which lives
    // only for this iteration and is wiped right after its mask is derived.
    const seed = io.crypto.openSealed(encryptedSeed, phase.ephemeral, `mask seed of ${updateParticipantPk}`);
    try {
      const mask = deriveMask(io.crypto, maskConfig, seed, modelLength);
      const invalid = aggregation.validateAggregation(mask);
      if (invalid !== undefined) throw invalid;
      aggregation.aggregate(mask);
    } finally {
      io.crypto.wipe(seed);
    }
  }
  const payload = {
    kind: 'sum2',
    sum2: { sumSignature: phase.sumSignature, aggregatedMask: aggregation.toMaskObject() },
  } as const;
  const next = startSending(state, io, payload, { kind: 'awaiting' });
  // SECURITY: every seed is opened and the Sum2 is sealed: the ephemeral secret key has done its job.
  io.crypto.wipe(phase.ephemeral.secretKey);
  return complete(next);
}
