/**
 * The privacy promise of a run's rounds (docs/privacy.md §2): computed once from the settings,
 * announced in every round's parameters and bound into its seed (ADR 0012), charged to the run's
 * ledger for every released round.
 *
 * - `central-gaussian`: σ as set, or solved from the target ε (central-privacy.ts).
 * - `skellam`, `distributed-discrete-gaussian`: @petfl/core `planDistributedPrivacy` picks the
 *   integer units for the mask config; with a target ε, σ starts at the continuous Gaussian's and
 *   grows by 0.5 % steps until the discrete mechanism's accountant spends at most the target.
 */

import {
  accountantEpsilon,
  addAccountantEvent,
  calibrateNoiseMultiplier,
  createAccountantState,
  type DistributedRoundPrivacy,
  type MaskConfig,
  maskedLength,
  planDistributedPrivacy,
  type RoundPrivacy,
  roundPrivacyMechanism,
  type VectorLayout,
} from '@petfl/core';
import { noiseMultiplier } from './central-privacy.ts';

/** What the promise is computed from: the settings' `mask` and `run` (written out, the settings schema calls this). */
export interface PromiseSettings {
  readonly mask: MaskConfig;
  readonly run: {
    readonly enabled: boolean;
    readonly rounds: number;
    readonly layout: VectorLayout;
    readonly privacy: PrivacyInput | null;
  };
}

interface PrivacyInput {
  readonly mechanism: 'central-gaussian' | DistributedRoundPrivacy['mechanism'];
  readonly clipNorm: number;
  readonly participants: number;
  readonly noiseMultiplier: number;
  readonly targetEpsilon: number;
  readonly delta: number;
  readonly adaptive: { readonly bitWeight: number } | null;
  readonly rotation?: 'hadamard' | null;
}

const plans = new WeakMap<object, RoundPrivacy | null>();

/** σ grows by this factor per step while solving for a target ε. */
const SOLVE_STEP = 1.005;
const SOLVE_STEPS = 2000;

/** ε spent by `rounds` releases of `privacy` at δ. */
export function epsilonOverRounds(privacy: RoundPrivacy, rounds: number, delta: number): number {
  return accountantEpsilon(addAccountantEvent(createAccountantState(), roundPrivacyMechanism(privacy), rounds), delta)
    .value;
}

function planDistributed(
  privacy: PrivacyInput & { readonly mechanism: DistributedRoundPrivacy['mechanism'] },
  rounds: number,
  settings: PromiseSettings,
): DistributedRoundPrivacy {
  const input = {
    mechanism: privacy.mechanism,
    clipNorm: privacy.clipNorm,
    participants: privacy.participants,
    dimension: maskedLength(settings.run.layout),
    maskConfig: settings.mask,
    ...(privacy.adaptive === null ? {} : { clipBitWeight: privacy.adaptive.bitWeight }),
    ...(privacy.rotation === 'hadamard' ? { rotation: privacy.rotation } : {}),
  };
  if (privacy.targetEpsilon === 0)
    return planDistributedPrivacy({ ...input, noiseMultiplier: privacy.noiseMultiplier });
  let sigma = calibrateNoiseMultiplier({
    targetEpsilon: privacy.targetEpsilon,
    delta: privacy.delta,
    rounds,
    samplingRate: 1,
  });
  for (let step = 0; step < SOLVE_STEPS; step++) {
    const plan = planDistributedPrivacy({ ...input, noiseMultiplier: sigma });
    if (epsilonOverRounds(plan, rounds, privacy.delta) <= privacy.targetEpsilon) return plan;
    sigma *= SOLVE_STEP;
  }
  throw new RangeError(`privacy: no noise multiplier up to ${sigma} reaches ε = ${privacy.targetEpsilon}`);
}

/**
 * The promise every round of the run makes, or undefined without differential privacy. Throws
 * (`invalid-field`, naming what to change) when the mask config cannot hold the noise.
 */
export function runRoundPrivacy(settings: PromiseSettings): RoundPrivacy | undefined {
  const { run } = settings;
  if (!run.enabled || run.privacy === null) return undefined;
  const cached = plans.get(run);
  if (cached !== undefined) return cached ?? undefined;
  const privacy = run.privacy;
  const plan: RoundPrivacy =
    privacy.mechanism === 'central-gaussian'
      ? {
          mechanism: 'central-gaussian',
          clipNorm: privacy.clipNorm,
          dimension: maskedLength(run.layout),
          noiseMultiplier: noiseMultiplier(privacy, run.rounds),
          ...(privacy.adaptive === null ? {} : { clipBitWeight: privacy.adaptive.bitWeight }),
        }
      : planDistributed({ ...privacy, mechanism: privacy.mechanism }, run.rounds, settings);
  plans.set(run, plan);
  return plan;
}
