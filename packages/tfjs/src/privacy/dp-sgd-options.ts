/**
 * The settings of DP-SGD (dp-sgd.ts) as one typed object, checked once before training: every
 * problem is listed in one `PetError('invalid-field')`, each naming its field, what was expected
 * and what came. `resolveDpSgd` then fills the defaults and fixes the numbers a run depends on:
 * the sampling rate q = expectedBatchSize/N, the planned steps, the noise multiplier σ (given, or
 * solved from a target ε with @petfl/core's `calibrateNoiseMultiplier`) and the mechanism each
 * step is charged as.
 */

import { calibrateNoiseMultiplier, PetError, type SubsampledGaussianMechanism } from '@petfl/core';
import { accountedNoiseMultiplier, inflatedNoiseMultiplier } from './grid-noise.ts';

export interface DpSgdOptions {
  /** C: each microbatch's gradient (all trainable variables together) is clipped to this L2 norm. */
  readonly clipNorm: number;
  /**
   * σ: the noise added to the sum of clipped gradients has standard deviation σ·C per coordinate.
   * Give either this or `targetEpsilon`.
   */
  readonly noiseMultiplier?: number;
  /**
   * Instead of `noiseMultiplier`: σ is solved so that `plannedEpochs` epochs spend this ε at `delta`
   * (and `maxEpsilon` defaults to it).
   */
  readonly targetEpsilon?: number;
  /** Epochs the target ε is spread over, all calls sharing one ledger together; `epochs` unless given. */
  readonly plannedEpochs?: number;
  /** δ of the (ε, δ) reported and budgeted; should be well below 1/N. */
  readonly delta: number;
  /** Passes over the data this call trains: ⌈epochs·N/expectedBatchSize⌉ steps. Default 1. */
  readonly epochs?: number;
  /** qN: each example is in a step's batch with probability q = expectedBatchSize/N (Poisson sampling). */
  readonly expectedBatchSize: number;
  /**
   * Examples per clipped gradient: 1 (per-example clipping), the only value accepted. Microbatches
   * cut from a sampled batch in order regroup after an added example, so with m > 1 one example
   * could move the sum by about 2⌈b/m⌉·C: no guarantee the accountant states would hold.
   */
  readonly microbatchSize?: number;
  /** Training stops before a step that would take the ledger's ε (at `delta`) above this. */
  readonly maxEpsilon?: number;
}

/** The options with their defaults and the numbers derived from them, for a dataset of N examples. */
export interface ResolvedDpSgd {
  readonly clipNorm: number;
  /** σ of the noise actually drawn (std σ·C per coordinate of the sum). */
  readonly noiseMultiplier: number;
  readonly delta: number;
  readonly expectedBatchSize: number;
  readonly microbatchSize: number;
  readonly maxEpsilon: number;
  /** N. */
  readonly examples: number;
  /** The steps this call plans: ⌈epochs·N/expectedBatchSize⌉. */
  readonly steps: number;
  /** What each step is charged as (grid-noise.ts: σ as accounted). */
  readonly mechanism: SubsampledGaussianMechanism;
}

/** Bounds that keep every derived number exact and every loop finite. */
export const DP_SGD_LIMITS = {
  /** N: indices are sampled with 32-bit words (poisson-batch.ts). */
  maxExamples: 2 ** 31,
  maxClipNorm: 1e9,
  maxNoiseMultiplier: 1e6,
  maxEpochs: 1e6,
  maxEpsilon: 1e6,
} as const;

const KEYS = [
  'clipNorm',
  'noiseMultiplier',
  'targetEpsilon',
  'plannedEpochs',
  'delta',
  'epochs',
  'expectedBatchSize',
  'microbatchSize',
  'maxEpsilon',
];

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : typeof value;
}

/** A finite number in (min, max] (or [min, max] when `closed`), else what is wrong. */
function numberProblem(field: string, value: unknown, min: number, max: number, closed = false): string | undefined {
  const ok =
    typeof value === 'number' && Number.isFinite(value) && (closed ? value >= min : value > min) && value <= max;
  return ok ? undefined : `${field}: expected a number in ${closed ? '[' : '('}${min}, ${max}], got ${describe(value)}`;
}

function integerProblem(field: string, value: unknown, min: number, max: number): string | undefined {
  const ok = typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
  return ok ? undefined : `${field}: expected an integer in [${min}, ${max}], got ${describe(value)}`;
}

/** Everything wrong with `options` for a dataset of `examples` examples (empty when valid). */
export function dpSgdOptionProblems(options: unknown, examples: number): string[] {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    return [`expected an options object, got ${describe(options)}`];
  }
  const o = options as Record<string, unknown>;
  const L = DP_SGD_LIMITS;
  const problems: (string | undefined)[] = [];
  for (const key of Object.keys(o)) if (!KEYS.includes(key)) problems.push(`${key}: not a DP-SGD option`);
  problems.push(integerProblem('examples (the data set size N)', examples, 1, L.maxExamples));
  problems.push(numberProblem('clipNorm', o['clipNorm'], 0, L.maxClipNorm));
  const hasSigma = o['noiseMultiplier'] !== undefined;
  const hasTarget = o['targetEpsilon'] !== undefined;
  if (hasSigma === hasTarget) {
    problems.push(`noiseMultiplier, targetEpsilon: expected exactly one of them, got ${hasSigma ? 'both' : 'neither'}`);
  }
  if (hasSigma) problems.push(numberProblem('noiseMultiplier', o['noiseMultiplier'], 0, L.maxNoiseMultiplier));
  if (hasTarget) problems.push(numberProblem('targetEpsilon', o['targetEpsilon'], 0, L.maxEpsilon));
  if (o['plannedEpochs'] !== undefined) {
    if (!hasTarget) problems.push('plannedEpochs: only used with targetEpsilon, got it without');
    problems.push(numberProblem('plannedEpochs', o['plannedEpochs'], 0, L.maxEpochs));
  }
  // δ = 1 would make every ε 0.
  const delta = o['delta'];
  if (!(typeof delta === 'number' && delta > 0 && delta < 1)) {
    problems.push(`delta: expected a number in (0, 1), got ${describe(delta)}`);
  }
  if (o['epochs'] !== undefined) problems.push(numberProblem('epochs', o['epochs'], 0, L.maxEpochs));
  const n = Number.isInteger(examples) && examples >= 1 ? Math.min(examples, L.maxExamples) : L.maxExamples;
  problems.push(integerProblem('expectedBatchSize', o['expectedBatchSize'], 1, n));
  if (o['microbatchSize'] !== undefined && o['microbatchSize'] !== 1) {
    problems.push(
      `microbatchSize: expected 1 (per-example clipping; larger microbatches regroup after an added example, ` +
        `and the sensitivity is then no longer C), got ${describe(o['microbatchSize'])}`,
    );
  }
  if (o['maxEpsilon'] !== undefined) problems.push(numberProblem('maxEpsilon', o['maxEpsilon'], 0, L.maxEpsilon));
  return problems.filter((p): p is string => p !== undefined);
}

/**
 * The options resolved for a dataset of `examples` examples; throws `PetError('invalid-field')`
 * listing every problem (and when no σ up to 10⁶ reaches `targetEpsilon`).
 */
export function resolveDpSgd(options: DpSgdOptions, examples: number): ResolvedDpSgd {
  const problems = dpSgdOptionProblems(options, examples);
  if (problems.length > 0) throw new PetError('invalid-field', `DP-SGD options: ${problems.join('; ')}`);
  const { clipNorm, delta, expectedBatchSize } = options;
  const epochs = options.epochs ?? 1;
  // q = b/N exactly: batches are drawn as "uniform index in [0, N) is below b" (poisson-batch.ts).
  const samplingRate = expectedBatchSize / examples;
  const steps = Math.ceil((epochs * examples) / expectedBatchSize);
  let noiseMultiplier: number;
  if (options.targetEpsilon === undefined) {
    noiseMultiplier = options.noiseMultiplier as number; // exactly one of the two (checked above)
  } else {
    const plannedSteps = Math.ceil(((options.plannedEpochs ?? epochs) * examples) / expectedBatchSize);
    const accounted = calibrateNoiseMultiplier({
      targetEpsilon: options.targetEpsilon,
      delta,
      rounds: plannedSteps,
      samplingRate,
    });
    noiseMultiplier = inflatedNoiseMultiplier(accounted);
  }
  return {
    clipNorm,
    noiseMultiplier,
    delta,
    expectedBatchSize,
    microbatchSize: options.microbatchSize ?? 1,
    maxEpsilon: options.maxEpsilon ?? options.targetEpsilon ?? Number.POSITIVE_INFINITY,
    examples,
    steps,
    mechanism: {
      kind: 'subsampled-gaussian',
      noiseMultiplier: accountedNoiseMultiplier(noiseMultiplier),
      samplingRate,
    },
  };
}
