/**
 * The sum phase (protocol.md §1.1): each accepted Sum message enters its
 * sender into the sum dictionary (participant pk → ephemeral pk). The sum
 * signature must verify and be eligible for sum (protocol.md §2).
 */

import { checkEncryptPublicKey, type PetCrypto, PetError, type Sum } from '@petfl/core';
import type { CoordinatorStore } from '../../store/coordinator-store.ts';
import { advancePhase } from '../advance.ts';
import { checkSumSignature } from '../eligibility.ts';
import { refused } from '../refused.ts';
import type { LiveRound } from '../round.ts';
import type { InRoundState, Transition } from '../state.ts';

/** The sum phase has ended (count or time, phase-timing.ts): the sum dictionary is fixed, the update phase begins. */
export function endSum(state: InRoundState, now: number): Transition {
  return advancePhase(state, 'update', now);
}

/**
 * The sum signature at the start of a Sum payload must verify and be eligible for sum: checked on
 * the payload's (or chunk 0's) first bytes before anything is decoded or held (protocol.md §3.2).
 */
export function checkSumEligible(
  crypto: PetCrypto,
  round: LiveRound,
  participantPk: Uint8Array,
  prefix: Uint8Array,
): void {
  checkSumSignature(crypto, round.record, participantPk, prefix);
}

/** Enters a Sum message's sender into the sum dictionary; its eligibility was checked by `checkSumEligible`. */
export async function acceptSum(store: CoordinatorStore, round: LiveRound, pk: string, sum: Sum): Promise<void> {
  const { record } = round;
  if (round.sumDict.has(pk)) {
    throw new PetError('duplicate-message', `sum: participant ${pk} is already in the sum dictionary`);
  }
  if (round.sumDict.size >= record.pet.sum.count.max) {
    throw new PetError(
      'phase-full',
      `sum: expected at most ${record.pet.sum.count.max} sum participants, got one more`,
    );
  }
  // A low-order or non-canonical ephemeral key would make every update participant's sealing fail
  // (protocol.md §3.3): refused here, so one sum participant cannot fail the round.
  checkEncryptPublicKey(sum.ephemeralPk, 'sum.ephemeralPk');
  const max = record.pet.sum.count.max;
  const outcome = await store.addSumParticipant(record.roundId, pk, sum.ephemeralPk, max);
  if (outcome !== 'added') throw refused('sum', outcome, `participant ${pk} is already in the sum dictionary`, max);
  round.sumDict.set(pk, sum.ephemeralPk.slice());
  round.accepted.sum += 1;
}
