/**
 * The sum phase (protocol.md §1.1): each accepted Sum message enters its
 * sender into the sum dictionary (participant pk → ephemeral pk). The sum
 * signature must verify and be eligible for sum (protocol.md §2).
 */

import { type PetCrypto, PetError, type Sum, verifyTaskSignature } from '@petfl/core';
import type { CoordinatorStore } from '../../store/coordinator-store.ts';
import type { LiveRound } from '../round.ts';

export async function acceptSum(
  crypto: PetCrypto,
  store: CoordinatorStore,
  round: LiveRound,
  participantPk: Uint8Array,
  pk: string,
  sum: Sum,
): Promise<void> {
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
  if (!verifyTaskSignature(crypto, record.seed, 'sum', sum.sumSignature, participantPk, record.pet.sum.probability)) {
    throw new PetError(
      'not-eligible',
      `sum: expected a sum signature that verifies and is eligible for sum (p = ${record.pet.sum.probability})`,
    );
  }
  if ((await store.addSumParticipant(record.roundId, pk, sum.ephemeralPk)) === 'duplicate') {
    throw new PetError('duplicate-message', `sum: participant ${pk} is already in the sum dictionary`);
  }
  round.sumDict.set(pk, sum.ephemeralPk.slice());
  round.accepted.sum += 1;
}
