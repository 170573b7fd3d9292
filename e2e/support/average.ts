/**
 * What a completed round's global model must be: the exact scalar-weighted average
 * Σ sᵢwᵢ / Σ sᵢ of the accepted local models (protocol.md §1.1 unmask, §4.5), up to the
 * fixed-point encoding and the f32 the model is served in.
 *
 * Encoding (§4.3, §4.6): every sᵢwᵢ and every sᵢ is floored to a multiple of 1/E, so
 * numerator and denominator each lose less than n/E; the decoded value x = num/den is
 * then off by less than n·(1 + |x|) / (E·den). An f32 model adds half an ulp: |x|·2⁻²⁴.
 * The encoding also clamps sᵢwᵢ and sᵢ to [−A, A]. The expectation does the same (so
 * `ok` says the coordinator aggregated exactly what the protocol defines) and counts the
 * clamped values: an app whose scalar pushes sᵢwᵢ past A (§4.6: keep |sᵢwᵢ| ≤ A) gets a
 * global model that is not the weighted average it meant, which tests assert apart.
 */

import { type MaskConfig, maskParams } from '@petfl/core';

export const MASK_CONFIG: MaskConfig = { group: 'power2', data: 'f32', bound: 'b4', model: 'm3' };

export interface Contribution {
  readonly scalar: number;
  readonly model: ArrayLike<number>;
}

export interface AverageCheck {
  /** The global model is the clamped weighted average, within the tolerance. */
  readonly ok: boolean;
  /** How many sᵢwᵢ or sᵢ lie outside [−A, A] (the encoding clamps them; 0 for a true Σsᵢwᵢ/Σsᵢ). */
  readonly clamped: number;
  /** The largest |global − expected| and the tolerance at that index. */
  readonly worst: {
    readonly index: number;
    readonly error: number;
    readonly tolerance: number;
    readonly ratio: number;
  };
}

export function checkWeightedAverage(
  global: ArrayLike<number>,
  contributions: readonly Contribution[],
  config: MaskConfig = MASK_CONFIG,
): AverageCheck {
  const params = maskParams(config);
  const a = Number(params.addShift);
  const e = Number(params.expShift);
  const n = contributions.length;
  let clamped = 0;
  const clamp = (v: number) => {
    if (!(Math.abs(v) <= a)) clamped++;
    return Math.min(Math.max(v, -a), a);
  };
  const den = contributions.reduce((sum, c) => sum + clamp(c.scalar), 0);
  let worst = { index: -1, error: 0, tolerance: 0, ratio: 0 };
  let ok = global.length > 0 && n > 0 && den > 0;
  for (let i = 0; i < global.length; i++) {
    let num = 0;
    for (const c of contributions) num += clamp(c.scalar * (c.model[i] as number));
    const expected = num / den;
    const error = Math.abs((global[i] as number) - expected);
    const tolerance = (n * (1 + Math.abs(expected))) / (e * den) + Math.abs(expected) * 2 ** -24 + 1e-300;
    const ratio = error / tolerance;
    if (!(ratio <= 1)) ok = false;
    if (!(ratio <= worst.ratio)) worst = { index: i, error, tolerance, ratio };
  }
  return { ok, clamped, worst };
}

/**
 * The accepted updates among `candidates`: the subset of size `count` whose weighted
 * average is `global` (the coordinator's history gives only how many it took; a tab whose
 * update came late recorded it too). Undefined when no subset fits.
 */
export function findAccepted<T extends Contribution>(
  global: ArrayLike<number>,
  candidates: readonly T[],
  count: number,
): { readonly accepted: readonly T[]; readonly check: AverageCheck } | undefined {
  const pick = (start: number, chosen: T[]): { accepted: T[]; check: AverageCheck } | undefined => {
    if (chosen.length === count) {
      const check = checkWeightedAverage(global, chosen);
      return check.ok ? { accepted: [...chosen], check } : undefined;
    }
    for (let i = start; i <= candidates.length - (count - chosen.length); i++) {
      const found = pick(i + 1, [...chosen, candidates[i] as T]);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return count > candidates.length ? undefined : pick(0, []);
}
