/**
 * Central differential privacy for a training run (docs/learning.md §7): participants clip their
 * updates to L2 norm C (the vector layout's `clipNorm`), so one participant moves the sum of n
 * updates by at most C and their average by C/n; the coordinator adds noise to the average update
 * before the strategy sees it, and an accountant adds up what each round spends.
 *
 * The noise is the discrete Gaussian (Canonne, Kamath & Steinke, "The Discrete Gaussian for
 * Differential Privacy", NeurIPS 2020), sampled exactly from the CSPRNG (@petfl/core privacy
 * sampling), on a grid: the average is rounded to multiples of g = C/(n·K) and noise k·g is added,
 * k ~ N_Z(0, (σK)²), with K = GRID_STEPS·√P. Rounding moves each coordinate by at most g/2, so in
 * grid units the L2 sensitivity is K + √P (both neighbouring averages are rounded, each coordinate
 * of their difference moves by less than one step) and the release is ρ-zCDP with
 * ρ = (K + √P)²/(2(σK)²) = (1 + √P/K)²/(2σ²) — within 3.2 % of the continuous Gaussian's
 * 1/(2σ²), and the same mechanism in every round whatever n is, so the ledger stays one event.
 * Floating-point Gaussian noise is avoided: its low bits can leak (Mironov, CCS 2012).
 *
 * This protects the released models against whoever sees them, with a trusted coordinator: the
 * coordinator itself sees the average before the noise.
 */

import {
  type AccountantState,
  accountantEpsilon,
  accountantRho,
  addAccountantEvent,
  CENTRAL_GRID_STEPS,
  calibrateNoiseMultiplier,
  createAccountantState,
  createNoiseSampler,
  type Mechanism,
  type PetCrypto,
  sigma2FromSigma,
} from '@petfl/core';
import type { RunSettings } from '../settings/schema.ts';

/** Grid steps per C/n, over √P: the grid's rounding costs (1 + 1/GRID_STEPS)² in ρ (core's `roundPrivacyMechanism` accounts for it). */
export const GRID_STEPS = CENTRAL_GRID_STEPS;

export type PrivacySettings = NonNullable<RunSettings['privacy']>;

/** What the run's checkpoint keeps of its privacy: the ledger, and ε after every round. */
export interface PrivacyLedger {
  readonly accountant: AccountantState;
  /**
   * ε spent in total (at the run's δ) after each released round, oldest first; with adaptive
   * clipping also the round's clip norm and the noised fraction of updates it did not clip.
   */
  readonly spent: readonly {
    readonly roundId: number;
    readonly epsilon: number;
    readonly clipNorm?: number;
    readonly unclipped?: number;
  }[];
  /** Adaptive clipping: the clip norm the next round announces (absent: the setting's). */
  readonly clipNorm?: number;
}

export const EMPTY_LEDGER: PrivacyLedger = { accountant: createAccountantState(), spent: [] };

/** The noise multiplier σ on the sum: the setting, or solved from the target ε over the run's rounds. */
export function noiseMultiplier(
  privacy: Pick<PrivacySettings, 'targetEpsilon' | 'noiseMultiplier' | 'delta'>,
  rounds: number,
): number {
  if (privacy.targetEpsilon === 0) return privacy.noiseMultiplier;
  const gaussian = calibrateNoiseMultiplier({
    targetEpsilon: privacy.targetEpsilon,
    delta: privacy.delta,
    rounds,
    samplingRate: 1,
  });
  // The grid's rounding adds √P to the sensitivity K = GRID_STEPS·√P: σ grows by as much.
  return gaussian * (1 + 1 / GRID_STEPS);
}

/** The ledger after one more round, and the ε it would have spent in total. */
export function charge(
  ledger: PrivacyLedger,
  mechanism: Mechanism,
  delta: number,
): { readonly accountant: AccountantState; readonly epsilon: number } {
  const accountant = addAccountantEvent(ledger.accountant, mechanism);
  return { accountant, epsilon: accountantEpsilon(accountant, delta).value };
}

/** ε and ρ spent so far (ρ-zCDP; dpsa4fl's ε²/2-zCDP form is √(2ρ)). */
export function spent(ledger: PrivacyLedger, delta: number): { epsilon: number; rho: number | null } {
  if (ledger.accountant.events.length === 0) return { epsilon: 0, rho: 0 };
  return { epsilon: accountantEpsilon(ledger.accountant, delta).value, rho: accountantRho(ledger.accountant) ?? null };
}

/**
 * Adds the round's noise to `update` (the average of n clipped updates), in place: rounded to the
 * grid g = C/(n·K), plus k·g with k ~ N_Z(0, (σK)²) from the CSPRNG.
 * SECURITY: the noise is what keeps a participant's update out of the release; it never leaves this function.
 */
export function addCentralNoise(
  crypto: PetCrypto,
  update: Float64Array,
  count: number,
  clipNorm: number,
  sigma: number,
): void {
  const K = GRID_STEPS * Math.sqrt(update.length);
  const g = clipNorm / (count * K);
  const sampler = createNoiseSampler(crypto, { kind: 'discrete-gaussian', sigma2: sigma2FromSigma(sigma * K) });
  try {
    for (let i = 0; i < update.length; i++) {
      update[i] = g * (Math.round((update[i] as number) / g) + sampler.sample());
    }
  } finally {
    sampler.dispose();
  }
}
