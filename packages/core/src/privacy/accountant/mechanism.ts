/**
 * The mechanisms an accountant can record, as plain data: a discriminated union on `kind`, each
 * with the parameters its privacy depends on, and for each its RDP curve and, when it is
 * ρ-zCDP, its ρ.
 *
 * | kind                            | RDP at order α                                 | ρ-zCDP      |
 * | ------------------------------- | ---------------------------------------------- | ----------- |
 * | `gaussian`                      | α/(2σ²)                    (gaussian.ts)       | 1/(2σ²)     |
 * | `subsampled-gaussian`           | log(A_α)/(α − 1)           (subsampled-gaussian.ts) | —      |
 * | `zcdp`                          | ξ + ρ·α                    (zcdp.ts)           | ρ if ξ = 0  |
 * | `discrete-gaussian`             | α·Δ₂²/(2σ²)                (discrete-gaussian.ts) | Δ₂²/(2σ²) |
 * | `distributed-discrete-gaussian` | min((α/2)ℓ₂² + τd, α·ρ)    (distributed-discrete-gaussian.ts) | ρ |
 * | `skellam`                       | α·Δ₂²/(2V) + min(…)        (skellam.ts)        | —           |
 *
 * Gaussian noise multipliers σ are relative to an L2 sensitivity of 1 (the noise's standard
 * deviation over the clipping norm); the discrete mechanisms take σ, μ and sensitivities in the
 * integer units the noise is added in.
 */

import { assertNever } from '../../mask/config.ts';
import { discreteGaussianRho } from './discrete-gaussian.ts';
import {
  type DistributedDiscreteGaussianParameters,
  distributedDiscreteGaussianRdp,
  distributedDiscreteGaussianRho,
} from './distributed-discrete-gaussian.ts';
import { gaussianRdp, gaussianRho } from './gaussian.ts';
import { checkInteger, checkNumber, describeValue, throwProblems } from './parameters.ts';
import { type SkellamParameters, skellamRdp } from './skellam.ts';
import { subsampledGaussianRdp } from './subsampled-gaussian.ts';
import { zcdpRdp } from './zcdp.ts';

export interface GaussianMechanism {
  readonly kind: 'gaussian';
  /** σ: noise standard deviation over the L2 sensitivity. */
  readonly noiseMultiplier: number;
}

export interface SubsampledGaussianMechanism {
  readonly kind: 'subsampled-gaussian';
  readonly noiseMultiplier: number;
  /** q: the probability that a given record (participant) is in the round (Poisson sampling). */
  readonly samplingRate: number;
}

export interface ZcdpMechanism {
  readonly kind: 'zcdp';
  readonly rho: number;
  /** ξ of (ξ, ρ)-zCDP; 0 when absent. */
  readonly xi?: number;
}

export interface DiscreteGaussianMechanism {
  readonly kind: 'discrete-gaussian';
  readonly sigma: number;
  readonly l2Sensitivity: number;
}

export interface DistributedDiscreteGaussianMechanism extends DistributedDiscreteGaussianParameters {
  readonly kind: 'distributed-discrete-gaussian';
}

export interface SkellamMechanism extends SkellamParameters {
  readonly kind: 'skellam';
}

export type Mechanism =
  | GaussianMechanism
  | SubsampledGaussianMechanism
  | ZcdpMechanism
  | DiscreteGaussianMechanism
  | DistributedDiscreteGaussianMechanism
  | SkellamMechanism;

export type MechanismKind = Mechanism['kind'];

/** Bounds on parameters: wide enough for any sensible run, narrow enough that nothing overflows. */
export const MECHANISM_LIMITS = {
  /** σ (Gaussian noise multiplier or discrete scale) and μ. */
  maxNoise: 1e12,
  /** ρ and ξ of a zCDP event. */
  maxRho: 1e6,
  /** Sensitivities, in integer units. */
  maxSensitivity: 1e15,
  /** n: τ is a sum of n − 1 terms (a few ms at this bound). */
  maxParticipants: 1_000_000,
  /** d. */
  maxDimension: 1e12,
} as const;

/** The fields each kind has, besides `kind`; anything else is reported. */
const FIELDS: { readonly [K in MechanismKind]: readonly string[] } = {
  gaussian: ['noiseMultiplier'],
  'subsampled-gaussian': ['noiseMultiplier', 'samplingRate'],
  zcdp: ['rho', 'xi'],
  'discrete-gaussian': ['sigma', 'l2Sensitivity'],
  'distributed-discrete-gaussian': ['sigma', 'participants', 'dimension', 'l1Sensitivity', 'l2Sensitivity'],
  skellam: ['mu', 'participants', 'l1Sensitivity', 'l2Sensitivity'],
};

function isKind(value: unknown): value is MechanismKind {
  return typeof value === 'string' && Object.hasOwn(FIELDS, value);
}

/** Everything wrong with a value that should be a Mechanism, each naming its field under `field`. */
export function mechanismProblems(field: string, value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`${field}: expected a mechanism object, got ${describeValue(value)}`];
  }
  const m = value as Record<string, unknown>;
  const kind = m['kind'];
  if (!isKind(kind)) {
    return [`${field}.kind: expected one of ${Object.keys(FIELDS).join(', ')}, got ${describeValue(kind)}`];
  }
  const problems: (string | undefined)[] = [];
  for (const key of Object.keys(m)) {
    if (key !== 'kind' && !FIELDS[kind].includes(key)) problems.push(`${field}.${key}: not a field of ${kind}`);
  }
  const L = MECHANISM_LIMITS;
  const f = (name: string) => `${field}.${name}`;
  switch (kind) {
    case 'gaussian':
      problems.push(checkNumber(f('noiseMultiplier'), m['noiseMultiplier'], 0, L.maxNoise));
      break;
    case 'subsampled-gaussian':
      problems.push(checkNumber(f('noiseMultiplier'), m['noiseMultiplier'], 0, L.maxNoise));
      problems.push(checkNumber(f('samplingRate'), m['samplingRate'], 0, 1));
      break;
    case 'zcdp':
      problems.push(checkNumber(f('rho'), m['rho'], 0, L.maxRho, true));
      if (m['xi'] !== undefined) problems.push(checkNumber(f('xi'), m['xi'], 0, L.maxRho, true));
      break;
    case 'discrete-gaussian':
      problems.push(checkNumber(f('sigma'), m['sigma'], 0, L.maxNoise));
      problems.push(checkNumber(f('l2Sensitivity'), m['l2Sensitivity'], 0, L.maxSensitivity));
      break;
    case 'distributed-discrete-gaussian':
      // Kairouz, Liu & Steinke's Theorem 1 assumes σ ≥ ½.
      problems.push(checkNumber(f('sigma'), m['sigma'], 0.5, L.maxNoise, true));
      problems.push(checkInteger(f('participants'), m['participants'], 1, L.maxParticipants));
      problems.push(checkInteger(f('dimension'), m['dimension'], 1, L.maxDimension));
      problems.push(checkNumber(f('l1Sensitivity'), m['l1Sensitivity'], 0, L.maxSensitivity));
      problems.push(checkNumber(f('l2Sensitivity'), m['l2Sensitivity'], 0, L.maxSensitivity));
      break;
    case 'skellam':
      problems.push(checkNumber(f('mu'), m['mu'], 0, L.maxNoise));
      problems.push(checkInteger(f('participants'), m['participants'], 1, L.maxParticipants));
      problems.push(checkNumber(f('l1Sensitivity'), m['l1Sensitivity'], 0, L.maxSensitivity));
      problems.push(checkNumber(f('l2Sensitivity'), m['l2Sensitivity'], 0, L.maxSensitivity));
      break;
    default:
      assertNever(kind);
  }
  return problems.filter((p): p is string => p !== undefined);
}

/** Throws `PetError('invalid-field')` listing every problem unless `value` is a valid Mechanism. */
export function validateMechanism(value: unknown, field = 'mechanism'): Mechanism {
  throwProblems(undefined, mechanismProblems(field, value));
  return value as Mechanism;
}

/** RDP of one release of a (valid) mechanism at each order. */
export function mechanismRdp(m: Mechanism, orders: readonly number[]): number[] {
  switch (m.kind) {
    case 'gaussian':
      return gaussianRdp(m.noiseMultiplier, orders);
    case 'subsampled-gaussian':
      return subsampledGaussianRdp(m.noiseMultiplier, m.samplingRate, orders);
    case 'zcdp':
      return zcdpRdp(m.rho, m.xi ?? 0, orders);
    case 'discrete-gaussian':
      return zcdpRdp(discreteGaussianRho(m.sigma, m.l2Sensitivity), 0, orders);
    case 'distributed-discrete-gaussian':
      return distributedDiscreteGaussianRdp(m, orders);
    case 'skellam':
      return skellamRdp(m, orders);
    default:
      return assertNever(m);
  }
}

/** ρ when one release is ρ-zCDP (ξ = 0); undefined for mechanisms whose bound is not of that form. */
export function mechanismRho(m: Mechanism): number | undefined {
  switch (m.kind) {
    case 'gaussian':
      return gaussianRho(m.noiseMultiplier);
    case 'zcdp':
      return (m.xi ?? 0) === 0 ? m.rho : undefined;
    case 'discrete-gaussian':
      return discreteGaussianRho(m.sigma, m.l2Sensitivity);
    case 'distributed-discrete-gaussian':
      return distributedDiscreteGaussianRho(m);
    case 'subsampled-gaussian':
    case 'skellam':
      return undefined;
    default:
      return assertNever(m);
  }
}

/** A canonical string for a mechanism: equal for mechanisms with equal parameters (ξ = 0 ≡ absent). */
export function mechanismKey(m: Mechanism): string {
  const record = m as unknown as Record<string, unknown>;
  const values = FIELDS[m.kind].map((name) => (m.kind === 'zcdp' && name === 'xi' ? (m.xi ?? 0) : record[name]));
  return `${m.kind}:${values.join(',')}`;
}
