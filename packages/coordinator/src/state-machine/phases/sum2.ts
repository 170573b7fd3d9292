/**
 * The sum2 phase (protocol.md §1.1): each sum participant sends the
 * aggregated mask it derived from its update seed dictionary. The sender must
 * be in the sum dictionary and its sum signature must verify and be eligible
 * for sum; one Sum2 per sum participant. Identical masks are counted by their
 * SHA-256 hash; the encoded mask is kept once per distinct hash for unmask.
 */

import { encodeMaskObject, type PetCrypto, PetError, type Sum2, toBase64Url, verifyTaskSignature } from '@petfl/core';
import type { CoordinatorStore } from '../../store/coordinator-store.ts';
import type { LiveRound } from '../round.ts';

export async function acceptSum2(
  crypto: PetCrypto,
  store: CoordinatorStore,
  round: LiveRound,
  participantPk: Uint8Array,
  pk: string,
  sum2: Sum2,
): Promise<void> {
  const { record } = round;
  if (!round.sumDict.has(pk)) {
    throw new PetError('unknown-sum-participant', `sum2: participant ${pk} is not in the sum dictionary`);
  }
  if (round.sum2Senders.has(pk)) {
    throw new PetError('duplicate-message', `sum2: participant ${pk} already sent its aggregated mask`);
  }
  if (round.accepted.sum2 >= record.pet.sum2.count.max) {
    throw new PetError('phase-full', `sum2: expected at most ${record.pet.sum2.count.max} masks, got one more`);
  }
  if (!verifyTaskSignature(crypto, record.seed, 'sum', sum2.sumSignature, participantPk, record.pet.sum.probability)) {
    throw new PetError('not-eligible', 'sum2: expected a sum signature that verifies and is eligible for sum');
  }
  const invalid = round.aggregation.validateUnmasking(sum2.aggregatedMask);
  if (invalid && invalid.code !== 'empty-aggregation') throw invalid;

  const encoded = encodeMaskObject(sum2.aggregatedMask);
  const hash = toBase64Url(crypto.hash(encoded));
  if ((await store.addMask(record.roundId, pk, hash, encoded)) === 'duplicate') {
    round.sum2Senders.add(pk);
    throw new PetError('duplicate-message', `sum2: participant ${pk} already sent its aggregated mask`);
  }
  round.sum2Senders.add(pk);
  round.maskCounts.set(hash, (round.maskCounts.get(hash) ?? 0) + 1);
  round.accepted.sum2 += 1;
}
