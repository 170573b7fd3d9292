/**
 * The percentile filter: share only the largest fraction of the update's coordinates by |value|,
 * clipped, and zero the rest (the selective parameter sharing of Shokri & Shmatikov,
 * "Privacy-Preserving Deep Learning", CCS 2015; Li et al., "Privacy-preserving Federated Brain
 * Tumour Segmentation", MLMI 2019).
 *
 * **No formal differential privacy**: which coordinates are kept, and their values, are a
 * deterministic function of the update. It only reduces what is shared — fewer and bounded
 * values — and so what an inversion attack has to work with. Pair it with the Laplace or SVT
 * filter for a guarantee.
 *
 * Exactly k = ⌈fraction·n⌉ coordinates are kept (grid-laplace.ts `ceilFraction`): those with the
 * largest |value|, ties at the k-th largest going to the lowest indices. Each kept value is
 * clamped to [−bound, bound].
 */

import type { FilterOutcome } from './filter-outcome.ts';
import { ceilFraction, clamp } from './grid-laplace.ts';

export interface PercentileFilter {
  readonly kind: 'percentile';
  /** The fraction of coordinates shared, in (0, 1]. */
  readonly fraction: number;
  /** Kept values are clamped to [−bound, bound]. */
  readonly bound: number;
}

/** Keeps the top ⌈fraction·n⌉ coordinates by |value|, clamped, and zeroes the rest, in place. */
export function applyPercentile(filter: PercentileFilter, update: Float64Array): FilterOutcome {
  const n = update.length;
  const k = Math.min(n, ceilFraction(filter.fraction, n));
  const { bound } = filter;
  if (k === n) {
    for (let i = 0; i < n; i++) update[i] = clamp(update[i] as number, -bound, bound);
    return { kind: 'percentile', shared: k, epsilon: null, coordinateEpsilon: null };
  }
  // SECURITY: |update| sorted is derived from the update; wiped below.
  const magnitudes = new Float64Array(n);
  for (let i = 0; i < n; i++) magnitudes[i] = Math.abs(update[i] as number);
  magnitudes.sort();
  const cutoff = magnitudes[n - k] as number; // the k-th largest |value|
  let above = 0;
  for (let i = n - k; i < n; i++) if ((magnitudes[i] as number) > cutoff) above++;
  magnitudes.fill(0);
  let ties = k - above; // coordinates at the cutoff still to keep, lowest index first
  for (let i = 0; i < n; i++) {
    const v = update[i] as number;
    const a = Math.abs(v);
    const keep = a > cutoff || (a === cutoff && ties-- > 0);
    update[i] = keep ? clamp(v, -bound, bound) : 0;
  }
  return { kind: 'percentile', shared: k, epsilon: null, coordinateEpsilon: null };
}
