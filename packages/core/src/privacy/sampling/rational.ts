/**
 * Exact rational parameters for the noise samplers.
 *
 * A noise distribution is fixed by one rational number (σ² for the discrete Gaussian, μ for
 * Skellam), so that every participant samples from exactly the distribution the privacy
 * accounting assumed. Canonne, Kamath & Steinke ("The Discrete Gaussian for Differential
 * Privacy") show why a floating-point parameter is not enough: their exact samplers need the
 * parameter as a ratio of integers. `num` and `den` are bigints, reduced, `den > 0`.
 *
 * A parameter given as a JavaScript number is converted *upwards* to a multiple of
 * 2^−PARAMETER_DENOMINATOR_BITS: the noise is then never smaller than asked for, so the privacy
 * guarantee computed from the number still holds, and σ² or μ grows by less than 2^−32.
 */

import { PetError } from '../../errors.ts';

export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

/** Numbers become multiples of 2^−32 (rounded up), see the module comment. */
export const PARAMETER_DENOMINATOR_BITS = 32;
/**
 * Largest denominator a noise parameter may have: doubles approximate the samplers' ratios, and
 * a bound keeps every numerator and denominator far below 2^1024 (a parameter comes from the
 * round parameters: it is bounded before any work, like every input).
 */
export const MAX_PARAMETER_DENOMINATOR = 2n ** 256n;

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

function toBigInt(value: bigint | number, field: string): bigint {
  if (typeof value === 'bigint') return value;
  if (!Number.isSafeInteger(value)) {
    throw new PetError('out-of-range', `${field}: expected a safe integer, got ${value}`);
  }
  return BigInt(value);
}

/** `num / den` reduced to lowest terms; `den` must be positive. */
export function rational(num: bigint | number, den: bigint | number = 1n, field = 'rational'): Rational {
  const n = toBigInt(num, `${field}.num`);
  const d = toBigInt(den, `${field}.den`);
  if (d <= 0n) throw new PetError('out-of-range', `${field}.den: expected a positive integer, got ${d}`);
  const g = gcd(n, d);
  return g <= 1n ? { num: n, den: d } : { num: n / g, den: d / g };
}

/** The exact value of a finite double as a reduced rational (every double is m·2^e). */
export function exactRational(x: number, field = 'number'): Rational {
  if (!Number.isFinite(x)) throw new PetError('out-of-range', `${field}: expected a finite number, got ${x}`);
  if (x === 0) return { num: 0n, den: 1n };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const negative = hi >>> 31 === 1;
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  // IEEE 754 binary64: a normal number is (2^52 + fraction)·2^(exponent − 1075), a subnormal one
  // fraction·2^−1074.
  if (biased !== 0) mantissa |= 1n << 52n;
  const exponent = (biased === 0 ? 1 : biased) - 1075;
  const signed = negative ? -mantissa : mantissa;
  return exponent >= 0 ? { num: signed << BigInt(exponent), den: 1n } : rational(signed, 1n << BigInt(-exponent));
}

/** The smallest multiple of 2^−bits that is ≥ r. */
export function ceilToDenominator(r: Rational, bits = PARAMETER_DENOMINATOR_BITS): Rational {
  const scaled = r.num << BigInt(bits);
  let q = scaled / r.den;
  if (q * r.den < scaled) q += 1n; // bigint division truncates toward zero: this is the ceiling
  return rational(q, 1n << BigInt(bits));
}

/** A parameter given as a number or a rational; a number is rounded up (module comment). */
export function rationalAtLeast(x: number | Rational, field: string): Rational {
  if (typeof x !== 'number') return rational(x.num, x.den, field);
  return ceilToDenominator(exactRational(x, field));
}

/** σ² from a standard deviation σ given as a number: the exact square of the double, rounded up. */
export function sigma2FromSigma(sigma: number, field = 'sigma'): Rational {
  if (!(sigma > 0) || !Number.isFinite(sigma)) {
    throw new PetError('out-of-range', `${field}: expected a positive finite number, got ${sigma}`);
  }
  const s = exactRational(sigma, field);
  return ceilToDenominator({ num: s.num * s.num, den: s.den * s.den });
}

/** `r` reduced, checked to have a denominator ≤ 2^256 (`MAX_PARAMETER_DENOMINATOR`). */
export function parameter(r: Rational, field: string): Rational {
  const reduced = rational(r.num, r.den, field);
  if (reduced.den > MAX_PARAMETER_DENOMINATOR) {
    throw new PetError(
      'out-of-range',
      `${field}.den: expected at most 2^256, got ${reduced.den.toString(2).length} bits`,
    );
  }
  return reduced;
}

/** ⌊√n⌋ for n ≥ 0 (Newton's iteration on integers). */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new PetError('out-of-range', `isqrt: expected n ≥ 0, got ${n}`);
  if (n < 2n) return n;
  // Start above the root: 2^⌈bits/2⌉ > √n, then x decreases monotonically to ⌊√n⌋.
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** ⌊r⌋ for r ≥ 0. */
export function floorOf(r: Rational): bigint {
  return r.num / r.den;
}

/** `a < b` exactly. */
export function lessThan(a: Rational, b: Rational): boolean {
  return a.num * b.den < b.num * a.den;
}
