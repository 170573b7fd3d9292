/**
 * Exact Bernoulli trials: Bernoulli(p) for a rational p, and Bernoulli(exp(−γ)) for a rational γ
 * by Canonne, Kamath & Steinke, "The Discrete Gaussian for Differential Privacy", Algorithm 1.
 *
 * Every trial compares a uniform real U ∈ [0, 1) with p, U being revealed lazily: first 32 bits
 * (one word), then 53, then 32 more at a time. At each stage U is known to lie in
 * [u/2^k, (u + 1)/2^k); the trial answers U < p as soon as that interval lies wholly on one side
 * of p, which is exactly Bernoulli(p). Doubles are only a shortcut: a caller passes bounds
 * lo ≤ p ≤ hi that are *guaranteed* (every +, −, ×, ÷ of doubles is correctly rounded, so each
 * adds a relative error of at most 2^−53, and bounds are widened well beyond the sum of those
 * errors). The 32- and 53-bit stages compare U's interval with [lo, hi]; only if it meets
 * [lo, hi] at 53 bits is the exact ratio computed (in bigints) and compared, with more words as
 * needed. So the answer never depends on a rounding: whatever words are drawn, loosening the
 * bounds to [0, 1] — always taking the exact path — gives the same answers (bernoulli.test.ts
 * checks that). The exact path runs with probability about 2^−53 + (hi − lo).
 */

import type { RandomSource } from './random-source.ts';

/** An exact probability num/den (0 ≤ num ≤ den), computed only when a trial needs it. */
export type ExactProbability = (arg: number) => readonly [num: bigint, den: bigint];

const TWO_M32 = 2 ** -32;
const TWO_M53 = 2 ** -53;
/** Relative widening of a ratio computed with at most 3 roundings (3·2^−53 < 2^−51 < 2^−49). */
const RATIO_SLACK = 2 ** -49;
/** Below this a double may be subnormal and lose its relative precision: bounds become absolute. */
const TINY = 2 ** -1000;
/** Numbers up to this size convert to doubles with one rounding and no overflow. */
const BIG_LIMIT = 1n << 1000n;
/** Above this a denominator times a counter may leave the safe integers: switch to bigints. */
const SAFE = 2 ** 53;

/**
 * Decides U < p at `bits` bits of U (u = ⌊U·2^bits⌋): 1 when U < p for certain, 0 when U ≥ p,
 * −1 when U's interval contains p's position.
 */
function exactStage(num: bigint, den: bigint, u: bigint, bits: number): number {
  const scaled = num << BigInt(bits);
  const q = scaled / den; // p·2^bits lies in [q, q + 1)
  if (u < q) return 1; // U < (u + 1)/2^bits ≤ q/2^bits ≤ p
  if (u > q) return 0; // U ≥ u/2^bits ≥ (q + 1)/2^bits > p
  // u = q: decided only if p = q/2^bits exactly, and then U ≥ p.
  return scaled % den === 0n ? 0 : -1;
}

/**
 * Bernoulli(p) for lo ≤ p ≤ hi (guaranteed bounds, see the module comment); `exact(arg)` gives p
 * exactly and is called only when the bounds cannot decide, `num`/`den` otherwise (exact = undefined).
 */
function decide(
  source: RandomSource,
  lo: number,
  hi: number,
  exact: ExactProbability | undefined,
  arg: number,
  num: bigint | number,
  den: bigint | number,
): boolean {
  const w1 = source.nextUint32();
  const x1 = w1 * TWO_M32;
  if (x1 + TWO_M32 <= lo) return true;
  if (x1 >= hi) return false;
  // Undecided by the bounds at 32 bits: 21 more bits of U (its first 53 bits are a double). Had
  // the exact p decided at 32 bits, it decides the same at 53: U's interval only narrows.
  const w2 = source.nextUint32() >>> 11;
  const x2 = x1 + w2 * TWO_M53;
  if (x2 + TWO_M53 <= lo) return true;
  if (x2 >= hi) return false;
  let n: bigint;
  let d: bigint;
  if (exact === undefined) {
    n = BigInt(num);
    d = BigInt(den);
  } else {
    [n, d] = exact(arg);
  }
  let u = (BigInt(w1) << 21n) | BigInt(w2);
  let bits = 53;
  for (;;) {
    const stage = exactStage(n, d, u, bits);
    if (stage >= 0) return stage === 1;
    u = (u << 32n) | BigInt(source.nextUint32());
    bits += 32;
  }
}

/**
 * Bernoulli(lo ≤ p ≤ hi) with `exact(arg)` = p: for probabilities whose exact value is costly
 * (a long product) but whose double approximation has a proven error bound.
 */
export function bernoulliBetween(
  source: RandomSource,
  lo: number,
  hi: number,
  exact: ExactProbability,
  arg: number,
): boolean {
  if (hi <= 0) return false;
  return decide(source, lo, hi, exact, arg, 0, 1);
}

/** Bernoulli(num/den) exactly, for integers 0 ≤ num and 1 ≤ den (numbers must be safe integers). */
export function bernoulli(source: RandomSource, num: number | bigint, den: number | bigint): boolean {
  if (num <= 0) return false;
  if (num >= den) return true;
  let a: number;
  if (typeof num === 'number' && typeof den === 'number') {
    a = num / den; // one rounding of exact integers
  } else {
    const n = BigInt(num);
    let d = BigInt(den);
    if (d < BIG_LIMIT) {
      a = Number(n) / Number(d); // three roundings
    } else {
      // Shift both down to ~64 bits: p lies in [n'/(d' + 1), (n' + 1)/d'], which the two
      // ratios below bound (with the same three roundings each).
      const shift = BigInt(d.toString(2).length - 64);
      const ns = n >> shift;
      d >>= shift;
      const lo = (Number(ns) / Number(d + 1n)) * (1 - RATIO_SLACK);
      const hi = (Number(ns + 1n) / Number(d)) * (1 + RATIO_SLACK) + TINY;
      return decide(source, lo < TINY ? 0 : lo, hi, undefined, 0, num, den);
    }
  }
  const lo = a < TINY ? 0 : a * (1 - RATIO_SLACK);
  const hi = a * (1 + RATIO_SLACK) + TINY;
  return decide(source, lo, hi, undefined, 0, num, den);
}

/** Bernoulli(exp(−1)): Algorithm 1 of Canonne, Kamath & Steinke with γ = 1. */
export function bernoulliExpMinusOne(source: RandomSource): boolean {
  let k = 1;
  while (bernoulli(source, 1, k)) k++;
  return (k & 1) === 1;
}

/**
 * Bernoulli(exp(−num/den)) for integers num ≥ 0, den ≥ 1 — Canonne, Kamath & Steinke,
 * Algorithm 1: while γ > 1, a Bernoulli(exp(−1)) trial that must succeed (γ ← γ − 1); then for
 * γ ∈ [0, 1], count K = 1, 2, … while Bernoulli(γ/K) succeeds and answer K odd. The expected
 * number of trials is below 3 whatever γ: each exp(−1) step fails with probability 1 − 1/e.
 */
export function bernoulliExp(source: RandomSource, num: number | bigint, den: number | bigint): boolean {
  if (typeof num === 'number' && typeof den === 'number') {
    let n = num;
    while (n > den) {
      if (!bernoulliExpMinusOne(source)) return false;
      n -= den;
    }
    for (let k = 1; ; k++) {
      const dk = den * k;
      // den·K stays exact below 2^53; past it (K beyond 2^53/den, a vanishing chance) use bigints.
      if (dk >= SAFE) return bernoulliExpTail(source, BigInt(n), BigInt(den), k);
      if (!bernoulli(source, n, dk)) return (k & 1) === 1;
    }
  }
  let n = BigInt(num);
  const d = BigInt(den);
  while (n > d) {
    if (!bernoulliExpMinusOne(source)) return false;
    n -= d;
  }
  return bernoulliExpTail(source, n, d, 1);
}

/** The K loop of Algorithm 1 in bigints, from K = k on (γ = n/d ≤ 1). */
function bernoulliExpTail(source: RandomSource, n: bigint, d: bigint, k: number): boolean {
  let kk = k;
  while (bernoulli(source, n, d * BigInt(kk))) kk++;
  return (kk & 1) === 1;
}
