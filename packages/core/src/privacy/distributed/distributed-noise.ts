/**
 * Distributed noise under secure aggregation (docs/privacy.md §2): what an update participant does
 * to its update before masking, what the coordinator does to the unmasked average, and how a
 * coordinator picks the units so that the mask config's range holds update and noise.
 *
 * A participant (`privatizeUpdate`):
 * 1. clips its update x to ‖x‖₂ ≤ C (C' with adaptive clipping: round-privacy.ts `effectiveClipNorm`);
 * 2. scales it to units, x·c/C, and rounds every coordinate to a neighbouring integer at random
 *    (up with probability equal to its fractional part), again until ‖z‖₂ ≤ Δ₂ (conditional
 *    randomized rounding, Kairouz, Liu & Steinke 2021; round-privacy.ts `roundedNormBound`);
 * 3. adds its noise η, Sk(μ) or N_ℤ(0, σ²) per coordinate, drawn exactly from the CSPRNG
 *    (@petfl/core privacy/sampling);
 * 4. hands the masker k·2^−s for every k = z + η: the mask config's fixed point E (protocol.md
 *    §4.3) is a multiple of 2^s, so the masked integer is exactly k·E/2^s + A·E — no rounding.
 *
 * Secure aggregation adds the participants' integers exactly (the group never wraps: protocol.md
 * §4.1), and the coordinator (`releaseAverage`) turns the unmasked average back into update units:
 * avg·2^s·C'/c = γ·Σ(zᵢ + ηᵢ)/m, m the round's number of updates (C' = `effectiveClipNorm`).
 *
 * The range: every k must stay within the config's ±A·2^s units, or the masker would clamp it and
 * the noise would no longer be what the accountant assumed. |z_j| ≤ Δ₂, and the noise exceeds t
 * with probability below `TAIL_PROBABILITY` per coordinate (sub-Gaussian tail of the discrete
 * Gaussian, Canonne, Kamath & Steinke 2020, Proposition 17; Bernstein's inequality for the Skellam
 * as a limit of sums of bounded variables). `planDistributedPrivacy` chooses the largest c with
 * Δ₂ + t within the range; should the improbable happen anyway, the participant does not clamp:
 * it refuses (`noise-out-of-range`) and sits the round out.
 */

import type { PetCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import type { MaskConfig } from '../../mask/config.ts';
import { maskParams } from '../../mask/config.ts';
import { clipL2 } from '../../run/vector-layout.ts';
import { MECHANISM_LIMITS, mechanismProblems } from '../accountant/mechanism.ts';
import { noiseSampler } from '../sampling/noise.ts';
import { randomSource, uniformInt } from '../sampling/random-source.ts';
import { rationalAtLeast, sigma2FromSigma } from '../sampling/rational.ts';
import { type Rotation, rotate, unrotate } from './rotation.ts';
import {
  type DistributedRoundPrivacy,
  effectiveClipNorm,
  ROUND_PRIVACY_LIMITS,
  roundedL1Bound,
  roundedNormBound,
  roundPrivacyMechanism,
  validateRoundPrivacy,
} from './round-privacy.ts';

/** Per coordinate, the probability that a participant's noise leaves the range: 2^−64. */
export const TAIL_PROBABILITY = 2 ** -64;
/** Rounding attempts before giving up; each passes with probability ≥ 1 − e^{−1/2} ≈ 0.39. */
export const MAX_ROUNDING_ATTEMPTS = 200;
const TWO_53 = 2 ** 53;

/** t with P(|η| > t) ≤ TAIL_PROBABILITY for one participant's noise. */
export function noiseTailBound(mechanism: DistributedRoundPrivacy['mechanism'], noise: number): number {
  const L = Math.log(2 / TAIL_PROBABILITY);
  if (mechanism === 'distributed-discrete-gaussian') {
    // N_ℤ(0, σ²) is σ-sub-Gaussian: P(|η| ≥ t) ≤ 2·exp(−t²/(2σ²)).
    return noise * Math.sqrt(2 * L);
  }
  // Sk(μ): variance 2μ, increments bounded by 1: P(|η| ≥ t) ≤ 2·exp(−t²/(2(2μ + t/3))).
  return L / 3 + Math.sqrt((L * L) / 9 + 4 * noise * L);
}

/** s: the largest power of two dividing the config's fixed-point scale E (at most 60). */
export function unitShift(config: MaskConfig): number {
  let e = maskParams(config).expShift;
  let s = 0;
  while (e % 2n === 0n && s < ROUND_PRIVACY_LIMITS.maxShift) {
    e /= 2n;
    s += 1;
  }
  return s;
}

/** The most units a participant's coordinate may hold in this config: A·2^s, kept below 2^52. */
export function unitRange(config: MaskConfig): number {
  const params = maskParams(config);
  const a = Math.min(params.boundAsDouble, params.upperBoundAsDouble);
  return Math.min(a * 2 ** unitShift(config), 2 ** 52);
}

/** The range, in units, one participant's coordinates need: Δ₂ + the noise's tail bound. */
export function requiredUnits(privacy: DistributedRoundPrivacy): number {
  return roundedNormBound(privacy.scale, privacy.dimension) + noiseTailBound(privacy.mechanism, privacy.noise);
}

/** Why `privacy` does not fit `config` (or the round), or undefined when it does. */
export function distributedPrivacyProblem(
  privacy: DistributedRoundPrivacy,
  config: MaskConfig,
  modelLength: number,
): string | undefined {
  if (privacy.dimension !== modelLength) {
    return `privacy.dimension: expected the round's model length ${modelLength}, got ${privacy.dimension}`;
  }
  if (privacy.shift !== unitShift(config)) {
    return `privacy.shift: expected ${unitShift(config)} for the mask config, got ${privacy.shift}`;
  }
  const need = requiredUnits(privacy);
  const range = unitRange(config);
  if (need > range) {
    return (
      `privacy: a participant's coordinates need ±${need.toPrecision(4)} units with the noise, ` +
      `the mask config holds ±${range}: the masker would clamp the noise`
    );
  }
  return undefined;
}

/**
 * Bits per coordinate a modular sum of `participants` such vectors would need — the papers'
 * figure of merit for the communication a mechanism costs; petfl's masks use the config's
 * `elementBits` (protocol.md §3.6) instead, which must be at least this.
 */
export function bitsPerCoordinate(privacy: DistributedRoundPrivacy, participants = privacy.participants): number {
  return Math.ceil(Math.log2(2 * requiredUnits(privacy) * participants + 1));
}

/** What a coordinator needs to plan a round's distributed noise. */
export interface DistributedPlanInput {
  readonly mechanism: DistributedRoundPrivacy['mechanism'];
  readonly clipNorm: number;
  /** σ: the noise on the sum has standard deviation σ·Δ₂ (σ·C in update units, up to rounding). */
  readonly noiseMultiplier: number;
  readonly participants: number;
  readonly dimension: number;
  readonly maskConfig: MaskConfig;
  /** Adaptive clipping: the clip bit's weight β (round-privacy.ts `applyClipBit`). */
  readonly clipBitWeight?: number;
  /** Rotate the clipped updates first (rotation.ts). */
  readonly rotation?: Rotation;
}

function plannedAt(input: DistributedPlanInput, scale: number, shift: number): DistributedRoundPrivacy {
  const n = input.participants;
  const sd = input.noiseMultiplier * roundedNormBound(scale, input.dimension); // of the sum
  const noise = input.mechanism === 'skellam' ? (sd * sd) / (2 * n) : sd / Math.sqrt(n);
  return {
    mechanism: input.mechanism,
    clipNorm: input.clipNorm,
    dimension: input.dimension,
    scale,
    shift,
    participants: n,
    noise,
    ...(input.clipBitWeight === undefined ? {} : { clipBitWeight: input.clipBitWeight }),
    ...(input.rotation === undefined ? {} : { rotation: input.rotation }),
  };
}

/**
 * The round privacy with the largest integer scale c whose update and noise fit the mask config
 * (finer units: the rounding matters less). Throws `invalid-field` naming what to change when even
 * c = 1 does not fit, or when the discrete Gaussian's share would fall below σ = ½.
 */
export function planDistributedPrivacy(input: DistributedPlanInput): DistributedRoundPrivacy {
  const shift = unitShift(input.maskConfig);
  const range = unitRange(input.maskConfig);
  // The range, and the accountant's own upper bounds on μ, σ and the sensitivities (mechanism.ts).
  const fits = (scale: number) => {
    const plan = plannedAt(input, scale, shift);
    return (
      requiredUnits(plan) <= range &&
      plan.noise <= MECHANISM_LIMITS.maxNoise &&
      roundedL1Bound(scale, input.dimension) <= MECHANISM_LIMITS.maxSensitivity
    );
  };
  if (!(input.noiseMultiplier > 0)) {
    throw new PetError('invalid-field', `privacy: expected a noise multiplier > 0, got ${input.noiseMultiplier}`);
  }
  if (!fits(1)) {
    throw new PetError(
      'invalid-field',
      `privacy: the mask config ${maskParams(input.maskConfig).name} holds ±${range} units per coordinate, too few ` +
        `for the noise of σ = ${input.noiseMultiplier} shared by ${input.participants} participants: ` +
        'choose a larger bound (b2, b4, b6)',
    );
  }
  let lo = 1;
  let hi = ROUND_PRIVACY_LIMITS.maxScale;
  if (fits(hi)) lo = hi;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  const planned = plannedAt(input, lo, shift);
  if (input.mechanism === 'distributed-discrete-gaussian' && planned.noise < 0.5) {
    throw new PetError(
      'invalid-field',
      `privacy: each participant's share of the noise, σ = ${planned.noise.toPrecision(3)} units, is below ½ ` +
        "(the distributed discrete Gaussian's analysis needs σ ≥ ½): raise the noise multiplier or the bound",
    );
  }
  const problems = mechanismProblems('privacy', roundPrivacyMechanism(planned));
  if (problems.length > 0) throw new PetError('invalid-field', `privacy: ${problems.join('; ')}`);
  return validateRoundPrivacy(planned) as DistributedRoundPrivacy;
}

/**
 * What an update participant masks instead of its update under distributed noise: clipped, scaled,
 * randomly rounded and noised, as exact multiples of 2^−s (module comment). `vector` is not changed.
 * `seed` makes the randomness reproducible (tests only: SECURITY, whoever holds it knows the noise).
 * Throws `noise-out-of-range` in the improbable event that a coordinate leaves the mask range.
 */
export function privatizeUpdate(
  crypto: PetCrypto,
  privacy: DistributedRoundPrivacy,
  config: MaskConfig,
  vector: ArrayLike<number>,
  options: { readonly seed?: Uint8Array; readonly roundSeed?: Uint8Array } = {},
): Float64Array {
  const problem = distributedPrivacyProblem(privacy, config, vector.length);
  if (problem !== undefined) throw new PetError('invalid-field', problem);
  if (privacy.rotation !== undefined && options.roundSeed === undefined) {
    throw new PetError('invalid-field', missingSeed(privacy.rotation));
  }
  const d = privacy.dimension;
  const x = new Float64Array(d);
  for (let j = 0; j < d; j++) x[j] = vector[j] as number;
  const clipNorm = effectiveClipNorm(privacy);
  clipL2(x, clipNorm);
  // The rotation keeps the norm: x stays within C' (rotation.ts).
  if (privacy.rotation !== undefined) rotate(crypto, options.roundSeed as Uint8Array, x);
  const toUnits = privacy.scale / clipNorm;
  const bound = roundedNormBound(privacy.scale, d);
  const bound2 = bound * bound;
  const range = unitRange(config);
  const unit = 2 ** -privacy.shift;
  // SECURITY: the source's randomness is the noise that hides this participant's update.
  const source = randomSource(crypto, options.seed);
  const z = new Float64Array(d);
  try {
    let attempt = 0;
    for (;;) {
      let norm2 = 0;
      for (let j = 0; j < d; j++) {
        const v = (x[j] as number) * toUnits;
        const floor = Math.floor(v);
        // Up with probability v − ⌊v⌋ (to within 2^−53).
        const k = floor + +(uniformInt(source, TWO_53) < (v - floor) * TWO_53);
        z[j] = k;
        norm2 += k * k;
      }
      if (norm2 <= bound2) break;
      attempt += 1;
      if (attempt >= MAX_ROUNDING_ATTEMPTS) {
        throw new PetError('out-of-range', `privacy: no rounding within Δ₂ = ${bound} after ${attempt} attempts`);
      }
    }
    const sampler = noiseSampler(
      privacy.mechanism === 'skellam'
        ? { kind: 'skellam', mu: rationalAtLeast(privacy.noise, 'privacy.noise') }
        : { kind: 'discrete-gaussian', sigma2: sigma2FromSigma(privacy.noise, 'privacy.noise') },
      source,
    );
    const out = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      const k = (z[j] as number) + sampler.sample();
      if (Math.abs(k) > range) {
        throw new PetError(
          'noise-out-of-range',
          `privacy: coordinate ${j} would be ${k} units, outside the mask range ±${range}; not clamped, not sent`,
        );
      }
      out[j] = k * unit;
    }
    return out;
  } finally {
    source.dispose();
    z.fill(0);
    x.fill(0);
  }
}

/**
 * The update the round releases: the unmasked average of the participants' privatized vectors
 * (scalars equal), back in update units — avg·2^s·C'/c, rotated back when the round rotates
 * (`rotation`: the crypto and the round seed the participants rotated with). `average` is not changed.
 */
export function releaseAverage(
  privacy: DistributedRoundPrivacy,
  average: ArrayLike<number>,
  rotation?: { readonly crypto: PetCrypto; readonly roundSeed: Uint8Array },
): Float64Array {
  if (average.length !== privacy.dimension) {
    throw new PetError('length-mismatch', `average: expected ${privacy.dimension} values, got ${average.length}`);
  }
  const factor = (2 ** privacy.shift * effectiveClipNorm(privacy)) / privacy.scale;
  const out = new Float64Array(average.length);
  for (let j = 0; j < average.length; j++) out[j] = (average[j] as number) * factor;
  if (privacy.rotation !== undefined) {
    if (rotation === undefined) throw new PetError('invalid-field', missingSeed(privacy.rotation));
    unrotate(rotation.crypto, rotation.roundSeed, out);
  }
  return out;
}

const missingSeed = (rotation: Rotation) =>
  `privacy: the round rotates every update (rotation ${rotation}): its round seed is needed`;
