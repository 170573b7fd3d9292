/**
 * The update phase (protocol.md §1.1): an accepted Update message adds its
 * masked model to the running aggregate (memory O(model), whatever the number
 * of participants) and files its encrypted mask seeds in the seed dictionary.
 *
 * Checks, in order: the sum signature verifies and is *not* eligible for sum,
 * the update signature verifies and is eligible for update (protocol.md §2) —
 * `checkUpdateEligible`, on the payload's first bytes before it is decoded —
 * then, in the handler: one update per participant; the phase is not full; the
 * local seed dictionary's keys are exactly the sum dictionary's; the masked
 * model can be aggregated (config, length, model cap). Only then is anything
 * changed, and the store commits the participant, its seeds and the new
 * aggregate at once.
 */

import { type PetCrypto, PetError, type Update } from '@petfl/core';
import type { CoordinatorStore } from '../../store/coordinator-store.ts';
import { advancePhase } from '../advance.ts';
import { checkUpdateSignatures } from '../eligibility.ts';
import { refused } from '../refused.ts';
import type { LiveRound } from '../round.ts';
import type { InRoundState, Transition } from '../state.ts';

/** The update phase has ended: the seed dictionary is fixed, the sum2 phase begins. */
export function endUpdate(state: InRoundState, now: number): Transition {
  return advancePhase(state, 'sum2', now);
}

/**
 * The two signatures at the start of an Update payload: the sum signature must verify and not be
 * eligible for sum, the update signature must verify and be eligible for update (protocol.md §2).
 * Checked on the payload's (or chunk 0's) first bytes before anything is decoded or held.
 */
export function checkUpdateEligible(
  crypto: PetCrypto,
  round: LiveRound,
  participantPk: Uint8Array,
  prefix: Uint8Array,
): void {
  checkUpdateSignatures(crypto, round.record, participantPk, prefix);
}

function checkSeedDictKeys(round: LiveRound, update: Update): void {
  const local = update.localSeedDict;
  const missing = [...round.sumDict.keys()].filter((k) => !local.has(k));
  const unknown = [...local.keys()].filter((k) => !round.sumDict.has(k));
  if (missing.length > 0 || unknown.length > 0) {
    throw new PetError(
      'seed-dict-mismatch',
      `update.localSeedDict: expected exactly the ${round.sumDict.size} keys of the sum dictionary, got ${local.size} ` +
        `(${missing.length} missing, ${unknown.length} unknown)`,
    );
  }
}

/** Adds an Update to the round; its eligibility was checked by `checkUpdateEligible` on the same bytes. */
export async function acceptUpdate(
  store: CoordinatorStore,
  round: LiveRound,
  pk: string,
  update: Update,
): Promise<void> {
  const { record } = round;
  if (round.updates.has(pk)) {
    throw new PetError('duplicate-message', `update: participant ${pk} already sent an update this round`);
  }
  if (round.updates.size >= record.pet.update.count.max) {
    throw new PetError('phase-full', `update: expected at most ${record.pet.update.count.max} updates, got one more`);
  }
  checkSeedDictKeys(round, update);
  const invalid = round.aggregation.validateAggregation(update.maskedModel);
  if (invalid) throw invalid;

  const max = record.pet.update.count.max;
  // Durable before 202: the store logs the masked model under this instance (ADR 0008) in the
  // same atomic step that records the participant and its seeds.
  const entry = { instance: round.instance, maskedModel: update.maskedModel };
  const outcome = await store.addUpdate(record.roundId, pk, update.localSeedDict, entry, max);
  if (outcome !== 'added') throw refused('update', outcome, `participant ${pk} already sent an update this round`, max);
  round.aggregation.aggregate(update.maskedModel);
  round.updates.add(pk);
  round.accepted.update += 1;
}
