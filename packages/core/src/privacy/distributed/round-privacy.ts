/**
 * The privacy a round promises (docs/privacy.md §2, protocol.md §3.9): announced in the round
 * parameters, bound into the round seed that every participant signs (ADR 0012), and checked by
 * each participant with its own accountant before it sends anything.
 *
 * Three mechanisms:
 *
 * - `skellam` and `distributed-discrete-gaussian`: distributed noise. Every update participant
 *   clips its update to L2 norm C, scales it to integer units (the clip norm is `scale` units),
 *   rounds it to integers by conditional randomized rounding and adds its share of the noise —
 *   Skellam Sk(μ) (Agarwal, Kairouz & Liu, NeurIPS 2021) or N_ℤ(0, σ²) (Kairouz, Liu & Steinke,
 *   ICML 2021) per coordinate — before masking (distributed-noise.ts). Secure aggregation reveals
 *   only the sum, which carries the noise of at least `participants` participants: nobody, the
 *   coordinator included, sees a less noisy value.
 * - `central-gaussian`: participants clip; the coordinator adds discrete Gaussian noise to the
 *   unmasked average (docs/learning.md §7). The participant can check the ε, not the noise.
 *
 * Every value is a plain JSON number, so the object travels as it is in `GET /params` and is
 * hashed in a canonical form (`canonicalRoundPrivacy`).
 */

import { type PetCrypto, SEED_BYTES } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import type { Mechanism } from '../accountant/mechanism.ts';
import { checkInteger, checkNumber, describeValue } from '../accountant/parameters.ts';
import { ROTATIONS, type Rotation } from './rotation.ts';

/** Distributed noise, added by every update participant before masking. */
export interface DistributedRoundPrivacy {
  readonly mechanism: 'skellam' | 'distributed-discrete-gaussian';
  /** C: every participant clips its update (the whole masked vector) to this L2 norm. */
  readonly clipNorm: number;
  /** d: the number of coordinates, the round's `modelLength`. */
  readonly dimension: number;
  /** c: the clip norm in integer units; one unit is γ = C/c. */
  readonly scale: number;
  /** s: an integer k is masked as the value k·2^−s, exact in the mask config's fixed point. */
  readonly shift: number;
  /** n: the revealed sum carries the noise of at least this many participants. */
  readonly participants: number;
  /** Each participant's noise per coordinate, in units: μ of Sk(μ), or σ of N_ℤ(0, σ²). */
  readonly noise: number;
  /** Adaptive clipping (`applyClipBit`): the weight β of the "norm ≤ C" bit in the last coordinate. */
  readonly clipBitWeight?: number;
  /** The clipped update is rotated by a randomized Hadamard transform from the round seed first (rotation.ts). */
  readonly rotation?: Rotation;
}

/** Central noise, added by the coordinator to the unmasked average (docs/learning.md §7). */
export interface CentralRoundPrivacy {
  readonly mechanism: 'central-gaussian';
  readonly clipNorm: number;
  readonly dimension: number;
  /** σ: the noise on the sum has standard deviation σ·C' (C' = `effectiveClipNorm`). */
  readonly noiseMultiplier: number;
  /** Adaptive clipping (`applyClipBit`): the weight β of the "norm ≤ C" bit in the last coordinate. */
  readonly clipBitWeight?: number;
}

export type RoundPrivacy = DistributedRoundPrivacy | CentralRoundPrivacy;
export type RoundPrivacyMechanism = RoundPrivacy['mechanism'];

export const ROUND_PRIVACY_MECHANISMS: readonly RoundPrivacyMechanism[] = [
  'skellam',
  'distributed-discrete-gaussian',
  'central-gaussian',
];

/** The fields of each mechanism, in their canonical order (the seed binding hashes them so). */
const FIELDS: { readonly [K in RoundPrivacyMechanism]: readonly string[] } = {
  skellam: ['clipNorm', 'dimension', 'scale', 'shift', 'participants', 'noise'],
  'distributed-discrete-gaussian': ['clipNorm', 'dimension', 'scale', 'shift', 'participants', 'noise'],
  'central-gaussian': ['clipNorm', 'dimension', 'noiseMultiplier'],
};

/** Grid steps per C/n, over √d, of the central mechanism's noise (docs/learning.md §7). */
export const CENTRAL_GRID_STEPS = 64;

/** Bounds that keep every integer of the computation below 2^53. */
export const ROUND_PRIVACY_LIMITS = {
  maxClipNorm: 1e12,
  maxDimension: 2 ** 32 - 1,
  /** c ≤ 2^40: with the noise's tail, every integer stays far below 2^53. */
  maxScale: 2 ** 40,
  maxShift: 60,
  maxParticipants: 1_000_000,
  /** As the accountant's bound on μ and σ (mechanism.ts MECHANISM_LIMITS.maxNoise). */
  maxNoise: 1e12,
  maxClipBitWeight: 100,
} as const;

/**
 * C': the L2 norm of the whole vector a participant sends — C, or with adaptive clipping
 * C·√(1 + β²/4), since the clip bit's coordinate holds ±β·C/2 (Andrew et al., "Differentially
 * Private Learning with Adaptive Clipping", NeurIPS 2021, with the bit inside the one noised vector).
 */
export function effectiveClipNorm(privacy: RoundPrivacy): number {
  const beta = privacy.clipBitWeight;
  return beta === undefined ? privacy.clipNorm : privacy.clipNorm * Math.sqrt(1 + (beta * beta) / 4);
}

export function isDistributed(privacy: RoundPrivacy): privacy is DistributedRoundPrivacy {
  return privacy.mechanism !== 'central-gaussian';
}

/** Everything wrong with a value that should be a RoundPrivacy, each naming its field under `field`. */
export function roundPrivacyProblems(field: string, value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`${field}: expected an object, got ${describeValue(value)}`];
  }
  const p = value as Record<string, unknown>;
  const mechanism = p['mechanism'];
  if (typeof mechanism !== 'string' || !(ROUND_PRIVACY_MECHANISMS as readonly string[]).includes(mechanism)) {
    return [
      `${field}.mechanism: expected one of ${ROUND_PRIVACY_MECHANISMS.join(', ')}, got ${describeValue(mechanism)}`,
    ];
  }
  const fields = FIELDS[mechanism as RoundPrivacyMechanism];
  const f = (name: string) => `${field}.${name}`;
  const L = ROUND_PRIVACY_LIMITS;
  const problems: (string | undefined)[] = [];
  for (const key of Object.keys(p)) {
    if (key !== 'mechanism' && key !== 'clipBitWeight' && key !== 'rotation' && !fields.includes(key)) {
      problems.push(`${f(key)}: not a field of ${mechanism}`);
    }
  }
  if (p['rotation'] !== undefined) {
    if (mechanism === 'central-gaussian') problems.push(`${f('rotation')}: not a field of ${mechanism}`);
    else if (!(ROTATIONS as readonly unknown[]).includes(p['rotation'])) {
      problems.push(`${f('rotation')}: expected one of ${ROTATIONS.join(', ')}, got ${describeValue(p['rotation'])}`);
    }
  }
  if (p['clipBitWeight'] !== undefined) {
    problems.push(checkNumber(f('clipBitWeight'), p['clipBitWeight'], 0, L.maxClipBitWeight));
    if (p['dimension'] === 1) problems.push(`${f('dimension')}: adaptive clipping needs the update and its bit`);
  }
  problems.push(checkNumber(f('clipNorm'), p['clipNorm'], 0, L.maxClipNorm));
  problems.push(checkInteger(f('dimension'), p['dimension'], 1, L.maxDimension));
  if (mechanism === 'central-gaussian') {
    problems.push(checkNumber(f('noiseMultiplier'), p['noiseMultiplier'], 0, L.maxNoise));
  } else {
    problems.push(checkNumber(f('scale'), p['scale'], 1, L.maxScale, true));
    problems.push(checkInteger(f('shift'), p['shift'], 0, L.maxShift));
    problems.push(checkInteger(f('participants'), p['participants'], 1, L.maxParticipants));
    // Kairouz, Liu & Steinke's analysis assumes σ ≥ ½; Skellam needs μ > 0.
    const min = mechanism === 'distributed-discrete-gaussian' ? 0.5 : 0;
    problems.push(checkNumber(f('noise'), p['noise'], min, L.maxNoise, mechanism === 'distributed-discrete-gaussian'));
  }
  return problems.filter((problem): problem is string => problem !== undefined);
}

/** A fresh copy of a valid RoundPrivacy; throws `PetError('invalid-field')` listing every problem. */
export function validateRoundPrivacy(value: unknown, field = 'privacy'): RoundPrivacy {
  const problems = roundPrivacyProblems(field, value);
  if (problems.length > 0) throw new PetError('invalid-field', problems.join('; '));
  const p = value as Record<string, unknown>;
  const mechanism = p['mechanism'] as RoundPrivacyMechanism;
  const copy: Record<string, unknown> = { mechanism };
  for (const key of FIELDS[mechanism]) copy[key] = p[key];
  if (p['clipBitWeight'] !== undefined) copy['clipBitWeight'] = p['clipBitWeight'];
  if (p['rotation'] !== undefined) copy['rotation'] = p['rotation'];
  return copy as unknown as RoundPrivacy;
}

/** The canonical text of a RoundPrivacy: JSON with its fields in the order of protocol.md §3.9 (then `clipBitWeight` and `rotation`, when present). */
export function canonicalRoundPrivacy(privacy: RoundPrivacy): string {
  const record = privacy as unknown as Record<string, unknown>;
  const parts = [`"mechanism":${JSON.stringify(privacy.mechanism)}`];
  for (const key of FIELDS[privacy.mechanism]) parts.push(`${JSON.stringify(key)}:${JSON.stringify(record[key])}`);
  if (privacy.clipBitWeight !== undefined) parts.push(`"clipBitWeight":${JSON.stringify(privacy.clipBitWeight)}`);
  if (isDistributed(privacy) && privacy.rotation !== undefined) {
    parts.push(`"rotation":${JSON.stringify(privacy.rotation)}`);
  }
  return `{${parts.join(',')}}`;
}

/** ASCII bytes (the canonical text is ASCII: names and JSON numbers). */
const ascii = (text: string): Uint8Array => Uint8Array.from(text, (ch) => ch.charCodeAt(0));
const SEED_DOMAIN = ascii('petfl/round-seed/privacy/v1');

/**
 * The round seed of a round that promises `privacy` (ADR 0012): SHA-256 of the domain, the round's
 * fresh public key and the canonical privacy text. Every task signature signs the round seed
 * (protocol.md §2), so every message a participant sends commits to the promise it was given.
 */
export function privacyRoundSeed(crypto: PetCrypto, coordinatorPk: Uint8Array, privacy: RoundPrivacy): Uint8Array {
  const text = ascii(canonicalRoundPrivacy(privacy));
  const input = new Uint8Array(SEED_DOMAIN.length + coordinatorPk.length + text.length);
  input.set(SEED_DOMAIN, 0);
  input.set(coordinatorPk, SEED_DOMAIN.length);
  input.set(text, SEED_DOMAIN.length + coordinatorPk.length);
  const seed = crypto.hash(input);
  if (seed.length !== SEED_BYTES) throw new Error(`privacyRoundSeed: expected ${SEED_BYTES} bytes of hash`);
  return seed;
}

/**
 * Δ₂ of conditional randomized rounding (Kairouz, Liu & Steinke 2021, Theorem 2, with
 * β = e^{−1/2}, so √(2·ln(1/β)) = 1): a vector of L2 norm ≤ c, rounded coordinate by coordinate
 * to a neighbouring integer at random, is kept only when its norm is at most
 * √min((c + √d)², c² + d/4 + c + √d/2); each attempt passes with probability ≥ 1 − β.
 */
export function roundedNormBound(scale: number, dimension: number): number {
  const root = Math.sqrt(dimension);
  return Math.sqrt(Math.min((scale + root) ** 2, scale * scale + dimension / 4 + scale + root / 2));
}

/** Δ₁ of the same vectors: ‖z‖₁ ≤ min(Δ₂², √d·Δ₂) for an integer vector z with ‖z‖₂ ≤ Δ₂. */
export function roundedL1Bound(scale: number, dimension: number): number {
  const l2 = roundedNormBound(scale, dimension);
  return Math.min(l2 * l2, Math.sqrt(dimension) * l2);
}

/**
 * The mechanism one round releases, for an accountant (@petfl/core privacy/accountant): what the
 * sum reveals about one participant's update (add/remove one participant).
 */
export function roundPrivacyMechanism(privacy: RoundPrivacy): Mechanism {
  if (privacy.mechanism === 'central-gaussian') {
    // The coordinator rounds the average to a grid of C/(n·K), K = CENTRAL_GRID_STEPS·√d, and adds
    // discrete Gaussian noise of σK grid steps. Both neighbouring averages are rounded, so each
    // coordinate of their difference moves by less than one step: in grid units the sensitivity
    // is K + √d.
    const K = CENTRAL_GRID_STEPS * Math.sqrt(privacy.dimension);
    return {
      kind: 'discrete-gaussian',
      sigma: privacy.noiseMultiplier * K,
      l2Sensitivity: K + Math.sqrt(privacy.dimension),
    };
  }
  const l2Sensitivity = roundedNormBound(privacy.scale, privacy.dimension);
  const l1Sensitivity = roundedL1Bound(privacy.scale, privacy.dimension);
  if (privacy.mechanism === 'skellam') {
    return { kind: 'skellam', mu: privacy.noise, participants: privacy.participants, l1Sensitivity, l2Sensitivity };
  }
  return {
    kind: 'distributed-discrete-gaussian',
    sigma: privacy.noise,
    participants: privacy.participants,
    dimension: privacy.dimension,
    l1Sensitivity,
    l2Sensitivity,
  };
}

/**
 * Adaptive clipping (Andrew et al., NeurIPS 2021), what a participant does first: the last
 * coordinate of `vector` is its clip bit. b = 1 when the update (every other coordinate) has L2 norm
 * ≤ C, else 0; the update is clipped to C and the last coordinate set to β·C·(b − ½), so the whole
 * vector has norm ≤ C' (`effectiveClipNorm`) and one participant moves the bit's sum by β·C/2 at
 * most. `vector` is not changed. The coordinator reads the fraction of unclipped updates from the
 * released average (`clipBitFraction`) and moves C toward its target quantile.
 */
export function applyClipBit(privacy: RoundPrivacy, vector: ArrayLike<number>): Float64Array {
  const beta = privacy.clipBitWeight;
  if (beta === undefined)
    throw new PetError('invalid-field', 'privacy.clipBitWeight: the round has no adaptive clipping');
  const d = vector.length;
  const out = new Float64Array(d);
  let sum = 0;
  for (let j = 0; j < d - 1; j++) {
    const v = vector[j] as number;
    if (!Number.isFinite(v))
      throw new PetError('invalid-model-value', `model[${j}]: expected a finite number, got ${v}`);
    out[j] = v;
    sum += v * v;
  }
  const norm = Math.sqrt(sum);
  const C = privacy.clipNorm;
  if (norm > C) for (let j = 0; j < d - 1; j++) out[j] = ((out[j] as number) * C) / norm;
  out[d - 1] = beta * C * ((norm <= C ? 1 : 0) - 0.5);
  return out;
}

/** The fraction of participants whose update was within C, from the released average's bit coordinate. */
export function clipBitFraction(privacy: RoundPrivacy, releasedBit: number): number {
  const beta = privacy.clipBitWeight;
  if (beta === undefined)
    throw new PetError('invalid-field', 'privacy.clipBitWeight: the round has no adaptive clipping');
  return releasedBit / (beta * privacy.clipNorm) + 0.5;
}
