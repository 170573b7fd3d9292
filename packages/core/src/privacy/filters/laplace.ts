/**
 * The Laplace filter: clip the update, then add discrete Laplace noise to every coordinate, on a
 * power-of-two grid (grid-laplace.ts) — the Laplace mechanism (Dwork, McSherry, Nissim & Smith,
 * "Calibrating Noise to Sensitivity in Private Data Analysis", TCC 2006) with exact noise.
 *
 * The clip is part of the filter, so the guarantee never rests on the caller:
 * - `norm: 'l1'` scales the update into the L1 ball of radius `bound`, then rounds each coordinate
 *   toward zero onto the grid, so the integers m satisfy Σ|mᵢ| ≤ R = ⌊bound/g⌋ (checked exactly
 *   on the integers). Any two clipped updates differ by at most 2R in L1, and adding Lap_Z(2R/ε)
 *   to every coordinate makes the released update **ε-DP between any two updates** (local DP for
 *   the whole update).
 * - `norm: 'linf'` clamps each coordinate to [−bound, bound] and rounds it to the nearest grid
 *   point in [−R, R]. Each coordinate gets Lap_Z(2R/ε): each released coordinate is **ε-DP between
 *   any two values of that coordinate**, and the whole update n·ε-DP by basic composition.
 *
 * In real units the noise has scale 2·bound/ε (within the grid's rounding, which only adds noise);
 * its variance is about 8·bound²/ε². Every coordinate gets noise, zeros included: a filter that
 * zeroes coordinates (percentile) before this one has its zeros filled with noise.
 */

import { sampleDiscreteLaplace } from '../sampling/discrete-laplace.ts';
import type { RandomSource } from '../sampling/random-source.ts';
import { exactRational } from '../sampling/rational.ts';
import type { FilterOutcome } from './filter-outcome.ts';
import { chooseGrid, clamp, type Grid, type LaplaceScale, laplaceScale } from './grid-laplace.ts';

export interface LaplaceFilter {
  readonly kind: 'laplace';
  /** ε of the guarantee (module comment). */
  readonly epsilon: number;
  /** Which norm the clip bounds: the whole update's L1 norm, or each coordinate. */
  readonly norm: 'l1' | 'linf';
  /** The clip bound, in the update's units. */
  readonly bound: number;
}

/** What the filter needs before touching an update; computing it may throw, applying it does not. */
export interface LaplacePlan {
  readonly filter: LaplaceFilter;
  readonly grid: Grid;
  readonly scale: LaplaceScale;
}

/** The grid and noise scale of a (valid) Laplace filter. */
export function planLaplace(filter: LaplaceFilter): LaplacePlan {
  const grid = chooseGrid(filter.bound, 2 / filter.epsilon);
  const epsilon = exactRational(filter.epsilon, 'laplace filter epsilon');
  return { filter, grid, scale: laplaceScale(2 * grid.radius, epsilon, 'laplace filter') };
}

/**
 * `update` (finite values) clipped to the filter's norm and rounded onto the grid: integers, in
 * grid steps, with Σ|mᵢ| ≤ R ('l1') or every |mᵢ| ≤ R ('linf').
 * SECURITY: the result is the participant's update; the caller wipes it.
 */
export function clipToGrid(update: Float64Array, norm: 'l1' | 'linf', bound: number, grid: Grid): Float64Array {
  const { step: g, radius: R } = grid;
  const out = new Float64Array(update.length);
  if (norm === 'linf') {
    for (let i = 0; i < update.length; i++) {
      out[i] = clamp(Math.round(clamp(update[i] as number, -bound, bound) / g), -R, R);
    }
    return out;
  }
  // The L1 norm as maxAbs·Σ|vᵢ|/maxAbs, which cannot overflow.
  let maxAbs = 0;
  for (let i = 0; i < update.length; i++) maxAbs = Math.max(maxAbs, Math.abs(update[i] as number));
  if (maxAbs === 0) return out;
  let relative = 0;
  for (let i = 0; i < update.length; i++) relative += Math.abs(update[i] as number) / maxAbs;
  const factor = maxAbs * relative > bound ? bound / maxAbs / relative : 1;
  let total = 0;
  for (let i = 0; i < update.length; i++) {
    const m = Math.trunc(((update[i] as number) * factor) / g);
    out[i] = m;
    total += Math.abs(m);
  }
  if (total > R) {
    // The float clip may overshoot by a few ulps. Scaling by f ≈ R/total and flooring keeps
    // Σ|mᵢ| < R·(1 + 2^−53)² < R + 1 (R ≤ 2^50), so the integer sum is ≤ R.
    const f = R / total;
    total = 0;
    for (let i = 0; i < out.length; i++) {
      const m = out[i] as number;
      const scaled = Math.floor(Math.abs(m) * f);
      out[i] = m < 0 ? -scaled : scaled;
      total += scaled;
    }
  }
  return out;
}

/** Clips `update` and adds the noise, in place (module comment). */
export function applyLaplace(plan: LaplacePlan, update: Float64Array, source: RandomSource): FilterOutcome {
  const { filter, grid, scale } = plan;
  // SECURITY: `clipped` is the update and the noise decides its privacy: both wiped below.
  const clipped = clipToGrid(update, filter.norm, filter.bound, grid);
  try {
    for (let i = 0; i < update.length; i++) {
      update[i] = grid.step * ((clipped[i] as number) + sampleDiscreteLaplace(source, scale.t, scale.s));
    }
  } finally {
    clipped.fill(0);
  }
  return {
    kind: 'laplace',
    shared: update.length,
    epsilon: filter.norm === 'l1' ? filter.epsilon : update.length * filter.epsilon,
    coordinateEpsilon: filter.epsilon,
  };
}
