/**
 * The discrete Laplace distribution Lap_Z(t/s): P(x) ∝ exp(−|x|·s/t) for x ∈ Z, sampled exactly
 * by Canonne, Kamath & Steinke, "The Discrete Gaussian for Differential Privacy", Algorithm 2.
 *
 * A geometric magnitude X with P(X = x) ∝ exp(−x/t) is split as X = U + t·V: U uniform in
 * [0, t) kept with probability exp(−U/t), and V the number of Bernoulli(exp(−1)) successes
 * before a failure, so exp(−U/t)·exp(−V) = exp(−X/t). Y = ⌊X/s⌋ then has P(Y = y) ∝ exp(−y·s/t),
 * and a fair sign with "−0" rejected makes it two-sided. Expected cost: O(1) trials for any
 * t — a U is kept with probability at least 1 − 1/e.
 */

import { PetError } from '../../errors.ts';
import { bernoulliExp, bernoulliExpMinusOne } from './bernoulli.ts';
import { type RandomSource, uniformInt } from './random-source.ts';

/** Largest t accepted: U is drawn with one 32-bit word. */
export const MAX_LAPLACE_T = 2 ** 32;

/** Checks the integer scale parameters once, before sampling. */
export function checkLaplaceScale(t: number, s: number): void {
  if (!Number.isSafeInteger(t) || t < 1 || t > MAX_LAPLACE_T) {
    throw new PetError('out-of-range', `discrete Laplace t: expected an integer in [1, 2^32], got ${t}`);
  }
  if (!Number.isSafeInteger(s) || s < 1) {
    throw new PetError('out-of-range', `discrete Laplace s: expected a positive safe integer, got ${s}`);
  }
}

/** One draw of Lap_Z(t/s) (t, s checked by `checkLaplaceScale`). */
export function sampleDiscreteLaplace(source: RandomSource, t: number, s = 1): number {
  for (;;) {
    const u = uniformInt(source, t);
    if (!bernoulliExp(source, u, t)) continue;
    let v = 0;
    while (bernoulliExpMinusOne(source)) v++;
    const x = u + t * v;
    const y = s === 1 ? x : (x - (x % s)) / s; // ⌊x/s⌋ exactly: % and the division of a multiple are exact
    const negative = (source.nextUint32() & 1) === 1;
    if (negative && y === 0) continue;
    return negative ? -y : y;
  }
}
