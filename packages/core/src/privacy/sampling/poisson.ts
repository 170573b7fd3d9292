/**
 * Poisson(μ) sampled exactly for a rational μ, in O(1) expected time per sample at any μ.
 *
 * μ < 16: Duchon & Duvignau, "Preserving the number of cycles of length k in a growing uniform
 * permutation" (Electronic Journal of Combinatorics 23(4), 2016), Algorithm 1, draws Poisson(1)
 * with uniform integers only; Poisson(μ) is the sum of ⌊μ⌋ such draws plus a Poisson(1) draw
 * thinned by Bernoulli(μ − ⌊μ⌋) trials (a Poisson(1) count of which each is kept with
 * probability f is Poisson(f): Devroye, "Non-Uniform Random Variate Generation", 1986, ch. X).
 * That costs O(μ) = O(1) here.
 *
 * μ ≥ 16: rejection sampling (von Neumann; Devroye, op. cit., ch. II) from a two-sided geometric
 * envelope centred on the mode m = ⌊μ⌋, where every probability involved is rational:
 * - target, relative to the mode: w(k) = P(k)/P(m) = μ^(k−m)·m!/k! (no e^−μ: it cancels);
 * - envelope: P(d) ∝ ρ^|d| for d = k − m ∈ Z, ρ = s/(s + 1), s = ⌊√m⌋ + 1 > √μ. Its magnitude
 *   is sampled like the discrete Laplace of Canonne, Kamath & Steinke ("The Discrete Gaussian
 *   for Differential Privacy", Algorithm 2): |d| = U + t·V, t = s + 1, U uniform in [0, t) kept
 *   with probability ρ^U, V the number of Bernoulli(ρ^t) successes before a failure; a fair sign
 *   with −0 rejected makes it two-sided;
 * - acceptance: A(d) = w(m + d) / (C·ρ^|d|) with C = 17/8, and A = 0 below k = 0.
 * A(d) ≤ 1 for every d when μ ≥ 16. Since 1/(1 + 1/s) ≥ e^(−1/s), ρ^|d| ≥ e^(−|d|/√μ); it
 * suffices that −ln w(m + d) ≥ |d|/√μ − 3/4 (as e^(3/4) < 17/8). Right of the mode (d ≥ 1),
 * −ln w(m + d) = Σ_{i=1..d} ln((m + i)/μ) ≥ Σ ln(1 + y_i) ≥ Σ 2y_i/(2 + y_i) with
 * y_i = (i − 1)/μ (as m > μ − 1, and ln(1 + y) ≥ 2y/(2 + y) for y ≥ 0), which is
 * ≥ d(d − 1)/(2μ + d − 1); and d(d − 1)/(2μ + d − 1) − d/√μ + 3/4, times √μ(2μ + d − 1), is a
 * quadratic in d with leading coefficient √μ − 1 > 0 and discriminant
 * −2r⁴ + 7r³ − (15/16)r² − (7/2)r + 1 < 0 (r = √μ ≥ 4). Left of it (1 ≤ d ≤ m),
 * −ln w(m − d) = Σ_{i=0..d−1} ln(μ/(m − i)) ≥ Σ −ln(1 − i/m) ≥ Σ i/m ≥ d(d − 1)/(2μ), and
 * d(d − 1)/(2μ) − d/√μ has minimum −1/2 − 1/(8μ) − 1/(2√μ) > −3/4. A proposal is accepted with probability 0.43 at μ = 16, rising
 * to √(2π)/(2C) ≈ 0.59 for large μ.
 *
 * A(d) and ρ^U are rationals of |d| (or U) factors: their double approximations are tabled,
 * built by running products whose relative error is at most γ(8n + 8), γ(k) = k·2^−53/(1 − k·2^−53),
 * after n factors (each factor adds at most 7 roundings). Trials compare with those bounds and
 * fall back to the exact bigint ratio only when the uniform lands within them (bernoulli.ts), so
 * the output is exactly Poisson. The A table grows lazily up to the largest |d| proposed and stops
 * where A falls below 2^−900 past its peak (A decreases from there: further d use 2^−900 as bound).
 * Setup: O(√μ) doubles; per sample: O(1) expected words and double operations.
 */

import { PetError } from '../../errors.ts';
import { bernoulli, bernoulliBetween, type ExactProbability } from './bernoulli.ts';
import type { IntegerSampler } from './integer-sampler.ts';
import { type RandomSource, uniformInt } from './random-source.ts';
import { floorOf, isqrt, parameter, type Rational } from './rational.ts';

/** From this μ on, the rejection sampler; below it, Duchon & Duvignau sums. */
export const POISSON_REJECTION_MIN = 16;
/** Largest μ accepted: draws stay far inside the safe integers (2^53). */
export const MAX_POISSON_MU = 2n ** 40n;

const UNIT = 2 ** -53;
/** The acceptance table stops below this (past the peak), far above the subnormal range. */
const STOP = 2 ** -900;
/** C = 17/8 ≥ e^(3/4) (module comment). */
const C_NUM = 17n;
const C_DEN = 8n;

/** Checks μ (0 ≤ μ ≤ 2^40) and reduces it. */
export function checkMu(mu: Rational, field = 'mu'): Rational {
  const r = parameter(mu, field);
  if (r.num < 0n || r.num > MAX_POISSON_MU * r.den) {
    throw new PetError('out-of-range', `${field}: expected 0 ≤ μ ≤ 2^40, got ${r.num}/${r.den}`);
  }
  return r;
}

/** Poisson(1): Duchon & Duvignau, Algorithm 1 (uniform integers only). */
export function samplePoissonOne(source: RandomSource): number {
  let ret = 1;
  let a = 1;
  let b = 0;
  for (;;) {
    const j = uniformInt(source, a + 1); // uniform in [0, a]
    if (j < a && j < b) return ret;
    if (j === a) {
      ret++;
    } else {
      ret--;
      b = a + 1;
    }
    a++;
  }
}

/** Draws from Poisson(μ) for a rational 0 ≤ μ ≤ 2^40. */
export function poissonSampler(mu: Rational, source: RandomSource): IntegerSampler {
  const r = checkMu(mu);
  if (r.num === 0n) return { sample: () => 0 };
  if (r.num < BigInt(POISSON_REJECTION_MIN) * r.den) return smallPoisson(r, source);
  return new PoissonRejection(r, source);
}

function smallPoisson(mu: Rational, source: RandomSource): IntegerSampler {
  const whole = Number(floorOf(mu));
  const fracNum = mu.num - BigInt(whole) * mu.den;
  // Numbers when exact, bigints otherwise (a denominator above 2^53).
  const safe = mu.den <= BigInt(Number.MAX_SAFE_INTEGER);
  const fn = safe ? Number(fracNum) : fracNum;
  const fd = safe ? Number(mu.den) : mu.den;
  return {
    sample() {
      let k = 0;
      for (let i = 0; i < whole; i++) k += samplePoissonOne(source);
      if (fracNum !== 0n) {
        for (let n = samplePoissonOne(source); n > 0; n--) if (bernoulli(source, fn, fd)) k++;
      }
      return k;
    },
  };
}

/** γ(8n + 8) (module comment), or ∞ once it no longer bounds anything. */
function relativeError(n: number): number {
  const k = (8 * n + 8) * UNIT;
  return k < 0.25 ? k / (1 - k) : Number.POSITIVE_INFINITY;
}

/** Bernoulli(p) for p within relative error η of v (|v/p − 1| ≤ η), exact via `exact(arg)`. */
function trialNear(source: RandomSource, v: number, eta: number, exact: ExactProbability, arg: number): boolean {
  if (!(eta < 0.25)) return bernoulliBetween(source, 0, 1, exact, arg);
  // p ∈ [v/(1 + η), v/(1 − η)] ⊂ [v(1 − 2η), v(1 + 2η)]; 2^−49 more covers the roundings below.
  const widen = 2 * eta + 2 ** -49;
  return bernoulliBetween(source, v - v * widen, v + v * widen, exact, arg);
}

/** Π_{j=lo}^{hi} j (1 when lo > hi), by halves so the operands stay balanced. */
function productRange(lo: bigint, hi: bigint): bigint {
  if (lo > hi) return 1n;
  if (hi - lo < 8n) {
    let p = lo;
    for (let j = lo + 1n; j <= hi; j++) p *= j;
    return p;
  }
  const mid = (lo + hi) >> 1n;
  return productRange(lo, mid) * productRange(mid + 1n, hi);
}

/** A(d) as the μ ≥ 16 sampler sees it (see `poissonAcceptance`). */
export interface PoissonAcceptance {
  /** The proposal's offset from the mode ⌊μ⌋. */
  readonly d: number;
  /** The double the trial compares with first, or past a table's stop an upper bound on A(d). */
  readonly approx: number;
  /** The proven bound on |approx/A(d) − 1|, or ∞ past a table's stop (approx only bounds A). */
  readonly relativeError: number;
  /** A(d) exactly. */
  readonly exact: readonly [num: bigint, den: bigint];
}

/**
 * The acceptance probabilities A(d) of the rejection sampler for μ ≥ 16 (module comment), as its
 * tables hold them and exactly: for auditing the sampler (poisson.test.ts checks A ≤ 1 and the
 * error bounds against the exact values). Offsets below −⌊μ⌋ have no A (the target is 0 there).
 */
export function poissonAcceptance(mu: Rational, offsets: readonly number[]): PoissonAcceptance[] {
  const r = checkMu(mu);
  if (r.num < BigInt(POISSON_REJECTION_MIN) * r.den) {
    throw new PetError(
      'out-of-range',
      `poissonAcceptance: expected μ ≥ ${POISSON_REJECTION_MIN}, got ${r.num}/${r.den}`,
    );
  }
  const sampler = new PoissonRejection(r, {
    nextUint32() {
      throw new PetError('out-of-range', 'poissonAcceptance: draws nothing');
    },
  });
  return offsets.map((d) => sampler.acceptance(d));
}

class PoissonRejection implements IntegerSampler {
  private readonly source: RandomSource;
  private readonly a: bigint;
  private readonly b: bigint;
  private readonly m: number;
  private readonly s: number;
  private readonly t: number;
  /** ρ^e ≈ rhoPow[e] for e = 0..t (ρ = s/(s + 1)). */
  private readonly rhoPow: Float64Array;
  /** A(d) ≈ right[d] for 0 ≤ d < rightLength; A(−d) ≈ left[d] for 0 ≤ d < leftLength. */
  private right: Float64Array;
  private rightLength = 1;
  private left: Float64Array;
  private leftLength = 1;
  /** Where a table stopped (−1: not yet), and the bound on A beyond it. */
  private rightStop = -1;
  private rightStopHi = 0;
  private leftStop = -1;
  private leftStopHi = 0;
  /** μ(s + 1)/s and (s + 1)/(sμ) as doubles: the per-step factors' constants. */
  private readonly stepRight: number;
  private readonly stepLeft: number;
  private readonly exactRhoPow: ExactProbability;
  private readonly exactAcceptance: ExactProbability;

  constructor(mu: Rational, source: RandomSource) {
    this.source = source;
    this.a = mu.num;
    this.b = mu.den;
    const m = floorOf(mu);
    this.m = Number(m);
    this.s = Number(isqrt(m)) + 1;
    this.t = this.s + 1;
    const s = this.s;
    const sB = BigInt(s);

    const rho = s / (s + 1);
    this.rhoPow = new Float64Array(this.t + 1);
    this.rhoPow[0] = 1;
    for (let e = 1; e <= this.t; e++) this.rhoPow[e] = (this.rhoPow[e - 1] as number) * rho;

    const muD = Number(this.a) / Number(this.b); // 3 roundings
    const kappa = (s + 1) / s; // 1 rounding
    this.stepRight = muD * kappa; // 5 roundings in all
    this.stepLeft = kappa / muD; // 5 roundings in all
    const initial = Math.min(1 << 12, 4 * s);
    this.right = new Float64Array(initial);
    this.left = new Float64Array(initial);
    this.right[0] = 8 / 17; // A(0) = w(m)/C = 1/C
    this.left[0] = 8 / 17;

    this.exactRhoPow = (e) => [sB ** BigInt(e), (sB + 1n) ** BigInt(e)];
    this.exactAcceptance = (d) => {
      const n = BigInt(Math.abs(d));
      const mB = BigInt(this.m);
      const sn = sB ** n;
      const s1n = (sB + 1n) ** n;
      if (d >= 0) {
        // w(m + d) = Π_{i=1}^{d} μ/(m + i)
        return [C_DEN * this.a ** n * s1n, C_NUM * this.b ** n * sn * productRange(mB + 1n, mB + n)];
      }
      // w(m − d) = Π_{j=m−d+1}^{m} j/μ
      return [C_DEN * this.b ** n * s1n * productRange(mB - n + 1n, mB), C_NUM * this.a ** n * sn];
    };
  }

  sample(): number {
    const m = this.m;
    for (;;) {
      const g = this.magnitude();
      const negative = (this.source.nextUint32() & 1) === 1;
      if (negative) {
        if (g === 0 || g > m) continue; // −0 is +0's; below k = 0 the target is 0
        if (this.acceptLeft(g)) return m - g;
      } else {
        if (m + g > Number.MAX_SAFE_INTEGER) {
          // Probability below e^(−2^52/s): unreachable, but never silently wrong.
          throw new PetError('out-of-range', `poisson: a proposal beyond 2^53 (${m} + ${g})`);
        }
        if (this.acceptRight(g)) return m + g;
      }
    }
  }

  acceptance(d: number): PoissonAcceptance {
    if (!Number.isSafeInteger(d) || d < -this.m) {
      throw new PetError('out-of-range', `poissonAcceptance: expected an integer offset ≥ −${this.m}, got ${d}`);
    }
    const exact = this.exactAcceptance(d);
    const n = Math.abs(d);
    if (d >= 0) {
      while (this.rightLength <= n && this.rightStop < 0) this.extendRight();
      if (this.rightStop >= 0 && n > this.rightStop) {
        return { d, approx: this.rightStopHi, relativeError: Number.POSITIVE_INFINITY, exact };
      }
      return { d, approx: this.right[n] as number, relativeError: relativeError(n), exact };
    }
    while (this.leftLength <= n && this.leftStop < 0) this.extendLeft();
    if (this.leftStop >= 0 && n > this.leftStop) {
      return { d, approx: this.leftStopHi, relativeError: Number.POSITIVE_INFINITY, exact };
    }
    return { d, approx: this.left[n] as number, relativeError: relativeError(n), exact };
  }

  /** |d| with P ∝ ρ^|d| (module comment). */
  private magnitude(): number {
    const t = this.t;
    for (;;) {
      const u = uniformInt(this.source, t);
      if (u !== 0 && !this.rhoPowTrial(u)) continue;
      let v = 0;
      while (this.rhoPowTrial(t)) v++;
      return u + t * v;
    }
  }

  private rhoPowTrial(e: number): boolean {
    return trialNear(this.source, this.rhoPow[e] as number, relativeError(e), this.exactRhoPow, e);
  }

  private acceptRight(d: number): boolean {
    while (this.rightLength <= d && this.rightStop < 0) this.extendRight();
    if (this.rightStop >= 0 && d > this.rightStop) {
      return bernoulliBetween(this.source, 0, this.rightStopHi, this.exactAcceptance, d);
    }
    return trialNear(this.source, this.right[d] as number, relativeError(d), this.exactAcceptance, d);
  }

  private acceptLeft(d: number): boolean {
    while (this.leftLength <= d && this.leftStop < 0) this.extendLeft();
    if (this.leftStop >= 0 && d > this.leftStop) {
      return bernoulliBetween(this.source, 0, this.leftStopHi, this.exactAcceptance, -d);
    }
    return trialNear(this.source, this.left[d] as number, relativeError(d), this.exactAcceptance, -d);
  }

  /** A(i) = A(i − 1)·μ(s + 1)/(s(m + i)): 2 more roundings, with the constant's 5. */
  private extendRight(): void {
    const i = this.rightLength;
    if (i === this.right.length) this.right = grow(this.right);
    const v = (this.right[i - 1] as number) * (this.stepRight / (this.m + i));
    this.right[i] = v;
    this.rightLength = i + 1;
    // Past the peak the exact factor is < 1 from then on (it decreases in i): A decreases.
    if (v < STOP && this.a * BigInt(this.s + 1) < this.b * BigInt(this.s) * BigInt(this.m + i)) {
      this.rightStop = i;
      this.rightStopHi = v + v * (2 * relativeError(i) + 2 ** -49);
    }
  }

  /** A(−i) = A(−(i − 1))·(m − i + 1)(s + 1)/(sμ): 2 more roundings, with the constant's 5. */
  private extendLeft(): void {
    const i = this.leftLength;
    if (i === this.left.length) this.left = grow(this.left);
    const v = (this.left[i - 1] as number) * ((this.m - i + 1) * this.stepLeft);
    this.left[i] = v;
    this.leftLength = i + 1;
    if (v < STOP && BigInt(this.m - i + 1) * this.b * BigInt(this.s + 1) < this.a * BigInt(this.s)) {
      this.leftStop = i;
      this.leftStopHi = v + v * (2 * relativeError(i) + 2 ** -49);
    }
  }
}

function grow(table: Float64Array): Float64Array {
  const next = new Float64Array(table.length * 2);
  next.set(table);
  return next;
}
