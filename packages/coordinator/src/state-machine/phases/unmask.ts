/**
 * The unmask phase (protocol.md §1.1, §4.5): the aggregated mask with the
 * unique highest count wins (a tie fails the round); subtracting it from the
 * aggregate and decoding gives the global model Σ sᵢwᵢ / Σ sᵢ as float64.
 */

import { decodeMaskObject, isPetError } from '@petfl/core';
import type { CoordinatorStore } from '../../store/coordinator-store.ts';
import type { LiveRound } from '../round.ts';

export type UnmaskOutcome =
  | { readonly kind: 'model'; readonly model: Float64Array }
  | { readonly kind: 'failure'; readonly reason: string };

export async function unmaskRound(store: CoordinatorStore, round: LiveRound): Promise<UnmaskOutcome> {
  const ranked = [...round.maskCounts].sort((a, b) => b[1] - a[1]);
  const best = ranked[0];
  if (best === undefined) return { kind: 'failure', reason: 'unmask: no aggregated mask was received' };
  const runnerUp = ranked[1];
  if (runnerUp !== undefined && runnerUp[1] === best[1]) {
    const tied = ranked.filter(([, count]) => count === best[1]).length;
    return { kind: 'failure', reason: `unmask: ${tied} different aggregated masks tie with ${best[1]} votes each` };
  }
  const { record } = round;
  const encoded = await store.loadMask(record.roundId, best[0]);
  if (encoded === undefined) return { kind: 'failure', reason: 'unmask: the winning mask is missing from the store' };
  try {
    const mask = decodeMaskObject(encoded, { config: record.maskConfig, length: record.modelLength });
    const invalid = round.aggregation.validateUnmasking(mask);
    if (invalid) throw invalid;
    return { kind: 'model', model: round.aggregation.unmask(mask) };
  } catch (error) {
    if (!isPetError(error)) throw error;
    return { kind: 'failure', reason: `unmask: ${error.message}` };
  }
}
