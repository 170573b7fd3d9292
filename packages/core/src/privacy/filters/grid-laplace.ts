/**
 * Laplace noise on a grid, shared by the Laplace and sparse-vector filters.
 *
 * Floating-point Laplace noise leaks through its low bits (Mironov, "On Significance of the Least
 * Significant Bits for Differential Privacy", CCS 2012). A filter therefore maps each clipped value
 * v to an integer m on a grid of step g (v ≈ m·g), adds an exact draw k of the discrete Laplace
 * Lap_Z(t/s), P(k) ∝ exp(−|k|·s/t) (Canonne, Kamath & Steinke, "The Discrete Gaussian for
 * Differential Privacy", Algorithm 2, from the CSPRNG), and releases (m + k)·g. The step is a power
 * of two, so v/g and (m + k)·g are exact: what is released is a function of the integer m + k alone.
 *
 * With a clip bound B every grid value lies in [−R, R], R = ⌊B/g⌋, so sensitivities are integers
 * (a multiple of R). The grid is as fine as the sampler allows: the largest noise scale, in grid
 * steps, stays near 2^31 (the sampler takes t ≤ 2^32), and R ≤ 2^50 keeps m + k a safe integer.
 * `laplaceScale` rounds the scale t/s *up*, within 2^−31 of sensitivity/ε: the noise is never
 * smaller than the guarantee needs.
 */

import { PetError } from '../../errors.ts';
import { checkLaplaceScale, MAX_LAPLACE_T } from '../sampling/discrete-laplace.ts';
import { type Rational, rational } from '../sampling/rational.ts';

/** A power-of-two grid step and the largest grid value within the clip bound. */
export interface Grid {
  /** g, a power of two. */
  readonly step: number;
  /** R = ⌊bound/g⌋ ≥ 1: clipped values lie in [−R, R] grid steps. */
  readonly radius: number;
}

/** Largest R: values and noise stay far inside the safe integers. */
export const MAX_GRID_RADIUS = 2 ** 50;
/** The noise scale, in grid steps, that the grid aims for (module comment). */
const TARGET_SCALE = 2 ** 31;
const TARGET_SCALE_BIG = BigInt(TARGET_SCALE);

/**
 * The finest power-of-two grid for a clip bound (in [1e−100, 1e100]) whose largest noise scale,
 * `scalePerRadius`·R grid steps, stays ≤ 2^31 — or R = 1 when even that is too large (then
 * `laplaceScale` decides whether the scale fits at all).
 */
export function chooseGrid(bound: number, scalePerRadius: number): Grid {
  const limit = Math.max(1, Math.min(MAX_GRID_RADIUS, Math.floor(TARGET_SCALE / scalePerRadius)));
  let e = Math.ceil(Math.log2(bound / limit));
  // log2 is rounded: step to the exact finest exponent whose radius is within the limit.
  while (Math.floor(bound / 2 ** e) > limit) e++;
  while (Math.floor(bound / 2 ** (e - 1)) <= limit) e--;
  const step = 2 ** e;
  return { step, radius: Math.floor(bound / step) };
}

/** The parameters of Lap_Z(t/s) (discrete-laplace.ts). */
export interface LaplaceScale {
  readonly t: number;
  readonly s: number;
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return q * b < a ? q + 1n : q;
}

/**
 * Integers t ≤ 2^32, s ≥ 1 with t/s ≥ sensitivity/ε exactly (and within a factor 1 + 2^−31 of it
 * when that ratio is at most 2^31), so Lap_Z(t/s) on values of integer sensitivity is ε-DP.
 * 'out-of-range' names `field` when no such t exists (ε too small for the sensitivity).
 */
export function laplaceScale(sensitivity: number, epsilon: Rational, field: string): LaplaceScale {
  if (!Number.isSafeInteger(sensitivity) || sensitivity < 1 || epsilon.num <= 0n) {
    throw new PetError('out-of-range', `${field}: expected a positive integer sensitivity and ε > 0`);
  }
  // The scale is a/b grid steps.
  const a = BigInt(sensitivity) * epsilon.den;
  const b = epsilon.num;
  let t: bigint;
  let s: bigint;
  if (a >= TARGET_SCALE_BIG * b) {
    s = 1n;
    t = ceilDiv(a, b);
  } else {
    s = (TARGET_SCALE_BIG * b) / a; // ≥ 1; then t ≤ 2^31 + 1
    t = ceilDiv(a * s, b);
  }
  if (t > BigInt(MAX_LAPLACE_T) || s > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new PetError(
      'out-of-range',
      `${field}: the noise scale of ${Number(a) / Number(b)} grid steps exceeds the sampler's 2^32; raise ε or share fewer coordinates`,
    );
  }
  const scale = { t: Number(t), s: Number(s) };
  checkLaplaceScale(scale.t, scale.s);
  return scale;
}

/**
 * ⌈fraction·n⌉ for a fraction in (0, 1], forgiving the rounding of fraction·n in doubles: 0.7·10 is
 * 7.000000000000001 and 0.1 is slightly above 1/10, yet both mean 7 and 1 of 10. A product within
 * a relative 2^−50 above an integer counts as that integer.
 */
export function ceilFraction(fraction: number, n: number): number {
  return Math.ceil(fraction * n * (1 - 2 ** -50));
}

/** a − b exactly. */
export function subtract(a: Rational, b: Rational): Rational {
  return rational(a.num * b.den - b.num * a.den, a.den * b.den);
}

/** min(max(x, lo), hi). */
export function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
