/**
 * Test support for the samplers' statistical tests (not exported by the package): reference
 * pmfs computed numerically in doubles, Pearson's chi-square test, and a small deterministic
 * random source.
 *
 * Why fixed seeds: a statistical test at level α fails a correct sampler with probability α on
 * fresh randomness; with a fixed seed the verdict is reproducible (never flaky), and α is the
 * chance that the seed we happened to fix would have made a correct sampler fail. We use
 * α = 10^−4: small enough that a pass is not luck-picked, large enough to keep the test's power
 * (a sampler off by a few percent in any region holding a few hundred expected draws fails).
 */

import type { RandomSource } from '../random-source.ts';

/** The level of every chi-square test in this directory (module comment). */
export const CHI_SQUARE_ALPHA = 1e-4;

/** A pmf on the integers lo, lo + 1, …, lo + p.length − 1 (the rest of the mass is negligible). */
export interface Pmf {
  readonly lo: number;
  readonly p: Float64Array;
}

function normalize(lo: number, w: Float64Array): Pmf {
  let total = 0;
  for (const x of w) total += x;
  for (let i = 0; i < w.length; i++) w[i] = (w[i] as number) / total;
  return { lo, p: w };
}

/** N_Z(0, σ²): ∝ exp(−x²/(2σ²)) on |x| ≤ 14σ + 10, normalised numerically. */
export function discreteGaussianPmf(sigma2: number): Pmf {
  const r = Math.ceil(14 * Math.sqrt(sigma2)) + 10;
  const w = new Float64Array(2 * r + 1);
  for (let x = -r; x <= r; x++) w[x + r] = Math.exp((-x * x) / (2 * sigma2));
  return normalize(-r, w);
}

/** Poisson(μ) by the ratio recurrence from the mode, normalised numerically. */
export function poissonPmf(mu: number): Pmf {
  const mode = Math.floor(mu);
  const r = Math.ceil(14 * Math.sqrt(mu)) + 30;
  const lo = Math.max(0, mode - r);
  const hi = mode + r;
  const w = new Float64Array(hi - lo + 1);
  w[mode - lo] = 1;
  for (let k = mode; k < hi; k++) w[k + 1 - lo] = ((w[k - lo] as number) * mu) / (k + 1);
  for (let k = mode; k > lo; k--) w[k - 1 - lo] = ((w[k - lo] as number) * k) / mu;
  return normalize(lo, w);
}

/**
 * Sk(μ): P(k) = e^(−2μ)·I_|k|(2μ). The modified Bessel functions come from the backward
 * recurrence I_{k−1}(x) = (2k/x)·I_k(x) + I_{k+1}(x) (stable downwards: I_k is its minimal
 * solution), normalised by I_0 + 2·Σ_{k≥1} I_k = e^x.
 */
export function skellamPmf(mu: number): Pmf {
  const x = 2 * mu;
  const top = Math.ceil(14 * Math.sqrt(x) + 40);
  const bessel = new Float64Array(top + 2);
  bessel[top] = 1e-280;
  for (let k = top; k >= 1; k--) {
    bessel[k - 1] = ((2 * k) / x) * (bessel[k] as number) + (bessel[k + 1] as number);
    if ((bessel[k - 1] as number) > 1e250)
      for (let j = k - 1; j <= top; j++) bessel[j] = (bessel[j] as number) * 1e-250;
  }
  const w = new Float64Array(2 * top + 1);
  for (let k = -top; k <= top; k++) w[k + top] = bessel[Math.abs(k)] as number;
  return normalize(-top, w);
}

/** The pmf of X + Y for independent X ~ f, Y ~ g. */
export function convolve(f: Pmf, g: Pmf): Pmf {
  const p = new Float64Array(f.p.length + g.p.length - 1);
  for (let i = 0; i < f.p.length; i++) {
    const fi = f.p[i] as number;
    if (fi < 1e-300) continue;
    for (let j = 0; j < g.p.length; j++) p[i + j] = (p[i + j] as number) + fi * (g.p[j] as number);
  }
  return { lo: f.lo + g.lo, p };
}

/** Mean and variance of a pmf. */
export function moments(f: Pmf): { mean: number; variance: number } {
  let mean = 0;
  for (let i = 0; i < f.p.length; i++) mean += (f.lo + i) * (f.p[i] as number);
  let variance = 0;
  for (let i = 0; i < f.p.length; i++) variance += (f.lo + i - mean) ** 2 * (f.p[i] as number);
  return { mean, variance };
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: ~15 digits). */
function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let a = c[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (c[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Q(a, x) = Γ(a, x)/Γ(a), the regularised upper incomplete gamma function. */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const front = Math.exp(-x + a * Math.log(x) - lnGamma(a));
  if (x < a + 1) {
    // series for P(a, x)
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (term < sum * 1e-16) break;
    }
    return 1 - sum * front;
  }
  // continued fraction for Q(a, x) (modified Lentz)
  let b = x + 1 - a;
  let c = 1e300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return front * h;
}

/** P(χ²_dof ≥ x). */
export function chiSquarePValue(x: number, dof: number): number {
  return gammaQ(dof / 2, x / 2);
}

/** The x with P(χ²_dof ≥ x) = alpha (bisection). */
export function chiSquareCritical(dof: number, alpha = CHI_SQUARE_ALPHA): number {
  let lo = 0;
  let hi = dof + 20 * Math.sqrt(2 * dof) + 100;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (chiSquarePValue(mid, dof) > alpha) lo = mid;
    else hi = mid;
  }
  return hi;
}

export interface ChiSquare {
  readonly statistic: number;
  readonly dof: number;
  readonly critical: number;
  readonly pValue: number;
  readonly bins: number;
}

/**
 * Pearson's chi-square test of integer samples against `pmf`. Consecutive integers are merged
 * into bins of expected count ≥ `minExpected` (the two end bins take the tails, samples outside
 * the pmf's range included); dof = bins − 1.
 */
export function chiSquareTest(samples: ArrayLike<number>, pmf: Pmf, minExpected = 20): ChiSquare {
  const n = samples.length;
  // Bin edges: [start, end) indices into pmf.p.
  const starts: number[] = [];
  const expected: number[] = [];
  let acc = 0;
  let start = 0;
  for (let i = 0; i < pmf.p.length; i++) {
    acc += (pmf.p[i] as number) * n;
    if (acc >= minExpected) {
      starts.push(start);
      expected.push(acc);
      acc = 0;
      start = i + 1;
    }
  }
  if (expected.length === 0) throw new Error('chiSquareTest: too few samples for one bin');
  expected[expected.length - 1] = (expected[expected.length - 1] as number) + acc; // leftover tail
  const binOf = new Int32Array(pmf.p.length);
  for (let b = 0, i = 0; i < pmf.p.length; i++) {
    while (b + 1 < starts.length && i >= (starts[b + 1] as number)) b++;
    binOf[i] = b;
  }
  const observed = new Float64Array(expected.length);
  for (let k = 0; k < n; k++) {
    const i = Math.min(Math.max((samples[k] as number) - pmf.lo, 0), pmf.p.length - 1);
    observed[binOf[i] as number] = (observed[binOf[i] as number] as number) + 1;
  }
  let statistic = 0;
  for (let b = 0; b < expected.length; b++) {
    const e = expected[b] as number;
    statistic += ((observed[b] as number) - e) ** 2 / e;
  }
  const dof = expected.length - 1;
  return {
    statistic,
    dof,
    critical: chiSquareCritical(dof),
    pValue: chiSquarePValue(statistic, dof),
    bins: expected.length,
  };
}

/** Sample mean and (population) variance. */
export function sampleMoments(samples: ArrayLike<number>): { mean: number; variance: number } {
  let mean = 0;
  for (let i = 0; i < samples.length; i++) mean += samples[i] as number;
  mean /= samples.length;
  let variance = 0;
  for (let i = 0; i < samples.length; i++) variance += ((samples[i] as number) - mean) ** 2;
  return { mean, variance: variance / samples.length };
}

/** SplitMix64 words (Steele, Lea & Flood): a fast, fixed-seed source for property tests only. */
export function splitMixSource(seed: number): RandomSource {
  let state = BigInt.asUintN(64, BigInt(seed));
  let spare = -1;
  return {
    nextUint32() {
      if (spare >= 0) {
        const w = spare;
        spare = -1;
        return w;
      }
      state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n);
      let z = state;
      z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
      z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
      z ^= z >> 31n;
      spare = Number(z >> 32n);
      return Number(z & 0xffffffffn);
    },
  };
}

/** A source replaying `words` in order, counting what it handed out; throws when they run out. */
export function replaySource(words: readonly number[]): RandomSource & { readonly used: number } {
  let used = 0;
  return {
    get used() {
      return used;
    },
    nextUint32() {
      if (used >= words.length) throw new Error('replaySource: out of words');
      return words[used++] as number;
    },
  };
}
