/**
 * The sparse vector technique (SVT) filter: release at most c = ⌈fraction·n⌉ coordinates of the
 * update, chosen among those whose noisy |value| exceeds a noisy threshold, with noisy values —
 * Algorithm 7 of Lyu, Su & Li, "Understanding the Sparse Vector Technique for Differential
 * Privacy", VLDB 2017, as Li et al. use it for federated learning ("Privacy-preserving Federated
 * Brain Tumour Segmentation", MLMI 2019).
 *
 * Each coordinate is clamped to [−bound, bound] and rounded to the grid (grid-laplace.ts): an
 * integer mᵢ ∈ [−R, R], R = ⌊bound/g⌋. The queries are qᵢ = |mᵢ| ∈ [0, R], sensitivity Δ = R
 * between *any* two updates (every query may change at once, as SVT allows), and the threshold is
 * T = round(threshold/g). With ε₁ + ε₂ = selectionEpsilon and ε₃ = releaseEpsilon:
 *
 *   ρ ~ Lap_Z(Δ/ε₁) once; coordinates visited in a uniformly random order (data-independent);
 *   for each: νᵢ ~ Lap_Z(2cΔ/ε₂); if qᵢ + νᵢ ≥ T + ρ, release gᵢ·clamp(mᵢ + ηᵢ, −R, R) with
 *   ηᵢ ~ Lap_Z(2cR/ε₃) (mᵢ has sensitivity 2R), and stop after c releases; every other
 *   coordinate is 0.
 *
 * **Guarantee: the released update (which coordinates, and their values) is
 * (selectionEpsilon + releaseEpsilon)-DP between any two updates** (local DP for the whole
 * update, after the clip): Lyu et al.'s Theorem for Algorithm 7 (queries not assumed monotonic,
 * hence 2cΔ), plus at most c Laplace releases of ε₃/c each. Their proof shifts ρ by Δ and each νᵢ
 * by up to 2Δ; with integer queries, integer Δ and discrete Laplace noise the same shifts work
 * with sums in place of integrals. The final clamp is post-processing. The budget within the
 * selection is split ε₁ : ε₂ = 1 : (2c)^(2/3), the split Lyu et al. (§4.2) show minimises the
 * selection's error.
 *
 * The noise grows with c: with many released coordinates the selection is nearly random and the
 * values nearly ±bound. SVT suits small fractions.
 */

import { PetError } from '../../errors.ts';
import { sampleDiscreteLaplace } from '../sampling/discrete-laplace.ts';
import { type RandomSource, uniformInt } from '../sampling/random-source.ts';
import { exactRational, type Rational } from '../sampling/rational.ts';
import type { FilterOutcome } from './filter-outcome.ts';
import {
  ceilFraction,
  chooseGrid,
  clamp,
  type Grid,
  type LaplaceScale,
  laplaceScale,
  subtract,
} from './grid-laplace.ts';

export interface SvtFilter {
  readonly kind: 'svt';
  /** At most ⌈fraction·n⌉ coordinates are released; fraction in (0, 1]. */
  readonly fraction: number;
  /** A coordinate is a candidate when its noisy |value| is at least the noisy threshold; in [0, bound]. */
  readonly threshold: number;
  /** Coordinates are clamped to [−bound, bound] before anything else. */
  readonly bound: number;
  /** ε spent choosing the coordinates (ε₁ + ε₂). */
  readonly selectionEpsilon: number;
  /** ε spent releasing their values (ε₃). */
  readonly releaseEpsilon: number;
}

/** The grid, the cap c and the three noise scales of an SVT filter on n coordinates. */
export interface SvtPlan {
  readonly filter: SvtFilter;
  readonly length: number;
  /** c: the most coordinates released. */
  readonly cap: number;
  readonly grid: Grid;
  /** T, in grid steps. */
  readonly threshold: number;
  /** ρ's scale Δ/ε₁. */
  readonly thresholdNoise: LaplaceScale;
  /** Each νᵢ's scale 2cΔ/ε₂. */
  readonly queryNoise: LaplaceScale;
  /** Each ηᵢ's scale 2cR/ε₃. */
  readonly releaseNoise: LaplaceScale;
}

/** ε₁ = selectionEpsilon/(1 + (2c)^(2/3)) and ε₂ = selectionEpsilon − ε₁, exactly (module comment). */
export function splitSelectionEpsilon(selectionEpsilon: number, cap: number): readonly [Rational, Rational] {
  const total = exactRational(selectionEpsilon, 'svt filter selectionEpsilon');
  // A double below selectionEpsilon (the divisor is > 2), so ε₂ = total − ε₁ is positive.
  const e1 = exactRational(selectionEpsilon / (1 + (2 * cap) ** (2 / 3)), 'svt filter ε₁');
  return [e1, subtract(total, e1)];
}

/** Everything an SVT filter needs before touching an update of `length` coordinates. */
export function planSvt(filter: SvtFilter, length: number): SvtPlan {
  const cap = Math.min(length, ceilFraction(filter.fraction, length));
  if (cap === 0) {
    const none = { t: 1, s: 1 };
    const grid = { step: 1, radius: 1 };
    return { filter, length, cap, grid, threshold: 0, thresholdNoise: none, queryNoise: none, releaseNoise: none };
  }
  const [e1, e2] = splitSelectionEpsilon(filter.selectionEpsilon, cap);
  const e3 = exactRational(filter.releaseEpsilon, 'svt filter releaseEpsilon');
  // Doubles are close enough to choose the grid; laplaceScale then checks each scale exactly.
  const e1f = filter.selectionEpsilon / (1 + (2 * cap) ** (2 / 3));
  const e2f = filter.selectionEpsilon - e1f;
  const perRadius = Math.max(1 / e1f, (2 * cap) / e2f, (2 * cap) / filter.releaseEpsilon);
  const grid = chooseGrid(filter.bound, perRadius);
  const R = grid.radius;
  if (!Number.isSafeInteger(2 * cap * R)) {
    throw new PetError(
      'out-of-range',
      `svt filter: 2·c·R = 2·${cap}·${R} leaves the safe integers; share fewer coordinates`,
    );
  }
  return {
    filter,
    length,
    cap,
    grid,
    threshold: Math.round(filter.threshold / grid.step),
    thresholdNoise: laplaceScale(R, e1, 'svt filter threshold noise'),
    queryNoise: laplaceScale(2 * cap * R, e2, 'svt filter query noise'),
    releaseNoise: laplaceScale(2 * cap * R, e3, 'svt filter release noise'),
  };
}

/** Runs the sparse vector technique on `update` in place (module comment). */
export function applySvt(plan: SvtPlan, update: Float64Array, source: RandomSource): FilterOutcome {
  const { filter, cap, grid } = plan;
  const n = update.length;
  if (n !== plan.length) {
    throw new PetError('model-length-mismatch', `svt filter: planned for ${plan.length} coordinates, got ${n}`);
  }
  const epsilon = filter.selectionEpsilon + filter.releaseEpsilon;
  if (cap === 0) return { kind: 'svt', shared: 0, epsilon, coordinateEpsilon: epsilon };
  const R = grid.radius;
  // SECURITY: `clipped` is the update; `order` and the noise decide its privacy. All wiped below.
  const clipped = new Float64Array(n);
  const order = new Uint32Array(n);
  let shared = 0;
  try {
    for (let i = 0; i < n; i++) {
      clipped[i] = clamp(Math.round(clamp(update[i] as number, -filter.bound, filter.bound) / grid.step), -R, R);
      order[i] = i;
    }
    update.fill(0);
    // Fisher–Yates with exact uniform draws: a uniformly random visiting order.
    for (let i = n - 1; i > 0; i--) {
      const j = uniformInt(source, i + 1);
      const tmp = order[i] as number;
      order[i] = order[j] as number;
      order[j] = tmp;
    }
    const { thresholdNoise: tn, queryNoise: qn, releaseNoise: rn } = plan;
    const level = plan.threshold + sampleDiscreteLaplace(source, tn.t, tn.s);
    for (let j = 0; j < n && shared < cap; j++) {
      const i = order[j] as number;
      const m = clipped[i] as number;
      if (Math.abs(m) + sampleDiscreteLaplace(source, qn.t, qn.s) >= level) {
        update[i] = grid.step * clamp(m + sampleDiscreteLaplace(source, rn.t, rn.s), -R, R);
        shared++;
      }
    }
  } finally {
    clipped.fill(0);
    order.fill(0);
  }
  return { kind: 'svt', shared, epsilon, coordinateEpsilon: epsilon };
}
