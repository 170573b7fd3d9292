/**
 * The scalar-weighted average as secure aggregation computes it, without the masks — the second
 * plain replay of `npm run bench:convergence`. Each entry is encoded in fixed point as the masker
 * encodes it (protocol.md §4.3, exactly: floor(clamp(fl(s·w), −A, U)·E)), the encodings of the
 * round's participants are summed, and the sum is decoded (§4.5):
 *
 *     value_i = Σⱼ floor(clamp(sⱼ·wᵢⱼ)·E) / Σⱼ floor(clamp(sⱼ)·E)
 *
 * which differs from the float64 average Σ sⱼwᵢⱼ / Σ sⱼ by less than n/E in numerator and
 * denominator (§4.6). Masks add a uniform element and take it away again modulo the group order, so
 * with the masks the coordinator decodes this very number; a replay that averages this way must
 * give the secure run's models bit for bit.
 *
 * An independent reference, not @petfl/core's code: the floor is taken on the exact product with
 * BigInt (the double is m·2^k, so floor(m·E·2^k) is integer arithmetic), except where a double
 * product is provably far enough from an integer to floor directly.
 */

import { type MaskConfig, maskParams } from '../packages/core/src/index.ts';

const view = new DataView(new ArrayBuffer(8));

/** floor(v·E) exactly, for a finite double v and an integer E > 0. */
export function floorTimes(v: number, e: bigint): bigint {
  if (v === 0) return 0n;
  view.setFloat64(0, v);
  const bits = view.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const field = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & 0xf_ffff_ffff_ffffn;
  let exponent = -1074; // subnormal
  if (field !== 0) {
    mantissa |= 1n << 52n;
    exponent = field - 1075;
  }
  // |v| = mantissa · 2^exponent
  const scaled = mantissa * e;
  if (exponent >= 0) return negative ? -(scaled << BigInt(exponent)) : scaled << BigInt(exponent);
  const shift = BigInt(-exponent);
  const whole = scaled >> shift;
  if (!negative) return whole;
  return whole << shift === scaled ? -whole : -(whole + 1n);
}

/** Sums fixed-point encodings of scalar-weighted vectors; `average()` decodes them. */
export class FixedPointSum {
  private readonly a: number;
  private readonly u: number;
  private readonly e: bigint;
  private readonly eNumber: number;
  /** Exact integers below 2^53 (E·A·count small enough), else BigInts. */
  private readonly small: boolean;
  private readonly sums: Float64Array | bigint[];
  private scalarSum = 0n;
  private count = 0;

  constructor(config: MaskConfig, length: number, most: number) {
    const params = maskParams(config);
    this.a = params.boundAsDouble;
    this.u = params.upperBoundAsDouble;
    this.e = params.expShift;
    this.eNumber = Number(params.expShift);
    this.small = params.addShift * params.expShift * BigInt(most) < 2n ** 52n;
    this.sums = this.small ? new Float64Array(length) : Array.from({ length }, () => 0n);
  }

  private clamp(v: number): number {
    return Math.min(Math.max(v, -this.a), this.u);
  }

  /** floor(clamp(v)·E) as a double, exact: below 2^52 here. */
  private floorSmall(v: number): number {
    const p = v * this.eNumber;
    const f = Math.floor(p);
    // Below 2^40, p is within ulp(p)/2 ≤ 2^-13 of the exact product: the floor of the exact
    // product is floor(p) unless p is within 2^-10 of an integer (then BigInt decides).
    const frac = p - f;
    if (Math.abs(p) < 2 ** 40 && frac > 2 ** -10 && frac < 1 - 2 ** -10) return f;
    return Number(floorTimes(v, this.e));
  }

  add(vector: ArrayLike<number>, scalar: number): void {
    this.count++;
    this.scalarSum += floorTimes(this.clamp(scalar), this.e);
    if (this.small) {
      const sums = this.sums as Float64Array;
      for (let i = 0; i < sums.length; i++) {
        sums[i] = (sums[i] as number) + this.floorSmall(this.clamp(scalar * (vector[i] as number)));
      }
    } else {
      const sums = this.sums as bigint[];
      for (let i = 0; i < sums.length; i++) {
        sums[i] = (sums[i] as bigint) + floorTimes(this.clamp(scalar * (vector[i] as number)), this.e);
      }
    }
  }

  /** Σ floor(clamp(sⱼwᵢⱼ)·E) / Σ floor(clamp(sⱼ)·E): each correctly rounded to a double, then divided. */
  average(): Float64Array {
    if (this.count === 0 || this.scalarSum <= 0n) throw new Error('fixed-point average: nothing to average');
    const den = Number(this.scalarSum);
    return Float64Array.from(this.sums as ArrayLike<number | bigint>, (x) => Number(x) / den);
  }
}
