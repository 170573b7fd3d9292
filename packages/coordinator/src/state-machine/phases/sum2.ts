/**
 * The sum2 phase (protocol.md §1.1, §3.5): each sum participant sends the aggregated mask it
 * derived from its update seed dictionary, and the update participants whose mask seeds it could
 * not open (`rejectedSeeds`, sorted). The sender must be in the sum dictionary and its sum
 * signature must verify and be eligible for sum; one Sum2 per sum participant.
 *
 * A vote is the aggregated mask together with the rejected list: sum participants that opened
 * the same seeds and derived the same mask vote alike. Votes are counted by the SHA-256 hash of
 * `encoded mask ‖ rejected pks`, and that encoding is kept once per distinct hash for unmask.
 */

import { encodeMaskObject, type PetCrypto, PetError, type Sum2, toBase64Url } from '@petfl/core';
import type { PhaseSettings } from '../../settings.ts';
import type { CoordinatorStore } from '../../store/coordinator-store.ts';
import { checkSum2Signature } from '../eligibility.ts';
import { refused } from '../refused.ts';
import type { LiveRound } from '../round.ts';
import type { InRoundState, Transition } from '../state.ts';
import { majorityOf } from './unmask.ts';

/**
 * The sum2 phase's timing rules: it waits for at least a majority of the sum dictionary
 * (protocol.md §1.3). Unmask needs a mask backed by a majority, so ending the phase with fewer
 * Sum2 messages could only fail the round.
 */
export function sum2Rules(rules: PhaseSettings, sumParticipants: number): PhaseSettings {
  const least = Math.min(Math.max(rules.count.min, majorityOf(sumParticipants)), rules.count.max);
  return { ...rules, count: { min: least, max: rules.count.max } };
}

/** The sum2 phase has ended: the votes are in, unmask begins (the shell's `unmask` task). */
export function endSum2(state: InRoundState, now: number): Transition {
  const { record } = state.round;
  const durationMs = now - record.phaseStartedAt;
  // The record keeps phase 'sum2' (unmask is not persisted: a restart re-judges sum2, which ends again).
  const ended = { ...record, phaseDurationsMs: { ...record.phaseDurationsMs, sum2: durationMs } };
  return {
    state: { ...state, kind: 'unmask', round: { ...state.round, record: ended }, startedAt: now },
    effects: [{ kind: 'dropChunks' }, { kind: 'phaseEnded', phase: 'sum2', durationMs }, { kind: 'unmask' }],
  };
}

/**
 * Cheap checks on a Sum2 payload's (or chunk 0's) first bytes, before anything is decoded or held:
 * the sender is in the sum dictionary, its sum signature verifies and is eligible for sum.
 */
export function checkSum2Eligible(
  crypto: PetCrypto,
  round: LiveRound,
  participantPk: Uint8Array,
  pk: string,
  prefix: Uint8Array,
): void {
  checkSum2Sender(round, pk);
  checkSum2Signature(crypto, round.record, participantPk, prefix);
}

/** The sender of a Sum2 must be in the sum dictionary (checked before its signature). */
export function checkSum2Sender(round: LiveRound, pk: string): void {
  if (!round.sumDict.has(pk)) {
    throw new PetError('unknown-sum-participant', `sum2: participant ${pk} is not in the sum dictionary`);
  }
}

/** A vote's stored form: the encoded aggregated mask followed by the rejected update participants' pks. */
export function encodeVote(sum2: Sum2): Uint8Array {
  const mask = encodeMaskObject(sum2.aggregatedMask);
  const out = new Uint8Array(mask.length + 32 * sum2.rejectedSeeds.length);
  out.set(mask, 0);
  for (const [i, pk] of sum2.rejectedSeeds.entries()) out.set(pk, mask.length + 32 * i);
  return out;
}

/** Counts a Sum2's vote; its sender and sum signature were checked by `checkSum2Eligible` on the same bytes. */
export async function acceptSum2(
  crypto: PetCrypto,
  store: CoordinatorStore,
  round: LiveRound,
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
  const invalid = round.aggregation.validateUnmasking(sum2.aggregatedMask);
  if (invalid && invalid.code !== 'empty-aggregation') throw invalid;
  // With several instances, this one knows only the updates it took: ask the store for the rest.
  const rejectedKeys = sum2.rejectedSeeds.map(toBase64Url);
  if (rejectedKeys.some((key) => !round.updates.has(key))) {
    for (const key of await store.updateParticipants(record.roundId)) round.updates.add(key);
  }
  for (const key of rejectedKeys) {
    if (!round.updates.has(key)) {
      throw new PetError(
        'invalid-field',
        `sum2.rejectedSeeds: expected update participants of this round, got ${key}, which sent no update`,
      );
    }
  }

  const encoded = encodeVote(sum2);
  const hash = toBase64Url(crypto.hash(encoded));
  const max = record.pet.sum2.count.max;
  const outcome = await store.addMask(record.roundId, pk, hash, encoded, max);
  if (outcome === 'duplicate') round.sum2Senders.add(pk);
  if (outcome !== 'added') throw refused('sum2', outcome, `participant ${pk} already sent its aggregated mask`, max);
  round.sum2Senders.add(pk);
  round.accepted.sum2 += 1;
}
