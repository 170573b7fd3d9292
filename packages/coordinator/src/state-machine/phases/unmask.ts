/**
 * The unmask phase (protocol.md §1.1, §4.5–4.6). The vote (aggregated mask and rejected seeds,
 * phases/sum2.ts) with the unique highest count wins, and it must be backed by a majority of the
 * sum dictionary — else one or a few sum participants could choose the mask. A winning vote that
 * rejects some update participants' mask seeds fails the round naming them (their masked models
 * are in the aggregate but their masks are not in the winning mask; the coordinator keeps no
 * per-participant masked model to take them out). Otherwise subtracting the mask and decoding
 * gives the global model Σ sᵢwᵢ / Σ sᵢ, released only if it is an aggregate that honest,
 * clamped participants with scalars in the allowed range can produce.
 */

import {
  type AggregateBounds,
  type Aggregation,
  decodeMaskObject,
  isPetError,
  maskObjectByteLength,
  toBase64Url,
} from '@petfl/core';
import type { CoordinatorStore } from '../../store/coordinator-store.ts';
import { combinePartials, type LiveRound } from '../round.ts';
import type { CoordinatorState, Transition, UnmaskResult } from '../state.ts';
import { failRound, roundSummary } from './failure.ts';

type Unmasking = Extract<CoordinatorState, { readonly kind: 'unmask' }>;

/**
 * The `unmask` task has ended: completed (the global model is saved) or failed with its reason
 * and offenders. Back to idle either way (the caller settles idle, which starts the next round).
 */
export function unmasked(state: Unmasking, outcome: UnmaskResult, now: number): Transition {
  if (outcome.kind === 'failed') return failRound(state, outcome.reason, now, outcome.offenders);
  const durationMs = now - state.startedAt;
  return {
    state: { kind: 'idle', lastRoundId: state.lastRoundId, paused: state.paused },
    effects: [
      { kind: 'phaseEnded', phase: 'unmask', durationMs },
      { kind: 'endRound', summary: roundSummary(state.round, 'completed', now, undefined, durationMs) },
    ],
  };
}

export type UnmaskOutcome =
  | {
      readonly kind: 'model';
      readonly model: Float64Array;
      /** How many masked models the average is over. */
      readonly count: number;
    }
  | {
      readonly kind: 'failure';
      readonly reason: string;
      /** Update participants the winning vote found unopenable seeds from: excluded from later rounds. */
      readonly offenders?: readonly string[];
    };

/** The least number of equal votes that is a majority of the sum dictionary. */
export function majorityOf(sumParticipants: number): number {
  return Math.floor(sumParticipants / 2) + 1;
}

/**
 * Unmasks the round with its winning vote. `own` is this instance's live aggregate, given when its
 * mirror is in step with the store (no store error since the last reload). Each accepted update is
 * logged under exactly one instance and added to that instance's aggregate only once logged, so
 * when `own` holds as many masked models as the store accepted, it holds every one of them: then
 * it is unmasked as it is, instead of reading every instance's partial back from the store (copies
 * of the checkpoint and of each logged masked model, added up again). Otherwise — updates taken by
 * other instances (ADR 0008), or by this one before a restart — the store's partials are combined.
 */
export async function unmaskRound(
  store: CoordinatorStore,
  round: LiveRound,
  bounds: AggregateBounds,
  own?: Aggregation,
): Promise<UnmaskOutcome> {
  // The votes of every instance (ADR 0008): the store's counts, not this instance's mirror.
  const ranked = [...(await store.maskCounts(round.record.roundId))].sort((a, b) => b[1] - a[1]);
  const best = ranked[0];
  if (best === undefined) return { kind: 'failure', reason: 'unmask: no aggregated mask was received' };
  const runnerUp = ranked[1];
  if (runnerUp !== undefined && runnerUp[1] === best[1]) {
    const tied = ranked.filter(([, count]) => count === best[1]).length;
    return { kind: 'failure', reason: `unmask: ${tied} different aggregated masks tie with ${best[1]} votes each` };
  }
  const majority = majorityOf(round.sumDict.size);
  if (best[1] < majority) {
    return {
      kind: 'failure',
      reason:
        `unmask: the most common aggregated mask has ${best[1]} vote${best[1] === 1 ? '' : 's'}, fewer than a majority ` +
        `(${majority}) of the ${round.sumDict.size} sum participants`,
    };
  }
  const { record } = round;
  const encoded = await store.loadMask(record.roundId, best[0]);
  if (encoded === undefined) return { kind: 'failure', reason: 'unmask: the winning mask is missing from the store' };
  try {
    const maskBytes = maskObjectByteLength(record.maskConfig, record.modelLength);
    const rejected = encoded.subarray(maskBytes);
    if (rejected.length % 32 !== 0)
      return { kind: 'failure', reason: 'unmask: the winning vote is corrupt in the store' };
    if (rejected.length > 0) {
      const offenders: string[] = [];
      for (let at = 0; at < rejected.length; at += 32) offenders.push(toBase64Url(rejected.subarray(at, at + 32)));
      return {
        kind: 'failure',
        reason:
          `unmask: a majority of the sum participants could not open the mask seeds of ${offenders.length} update ` +
          `participant${offenders.length === 1 ? '' : 's'} (${offenders.join(', ')}); they are excluded from later rounds`,
        offenders,
      };
    }
    // Read packed (ADR 0018): the mask is taken off the aggregate straight from its bytes.
    const mask = decodeMaskObject(encoded.subarray(0, maskBytes), {
      config: record.maskConfig,
      length: record.modelLength,
      packed: true,
    });
    // Every instance's partial aggregate (ADR 0008): each update is in exactly one of them, so an
    // own aggregate that holds as many as the store accepted holds them all.
    const { update } = await store.counts(record.roundId);
    const aggregation =
      own !== undefined && own.modelCount === update
        ? own
        : combinePartials(record, await store.partials(record.roundId, record.maskConfig, record.modelLength));
    if (aggregation.modelCount !== update) {
      return {
        kind: 'failure',
        reason: `unmask: the partial aggregates hold ${aggregation.modelCount} masked models but ${update} updates were accepted`,
      };
    }
    const invalid = aggregation.validateUnmasking(mask);
    if (invalid) throw invalid;
    return { kind: 'model', model: aggregation.unmaskChecked(mask, bounds), count: aggregation.modelCount };
  } catch (error) {
    if (!isPetError(error)) throw error;
    return { kind: 'failure', reason: `unmask: ${error.message.replace(/^unmask: /, '')}` };
  }
}
