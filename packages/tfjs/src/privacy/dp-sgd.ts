/**
 * Local differential privacy for a participant's training: DP-SGD (Abadi et al., "Deep Learning
 * with Differential Privacy", CCS 2016), as declearn's local DP and Opacus do it. Each step
 *
 * 1. Poisson-samples a batch: every example independently with probability q = b/N from the
 *    CSPRNG (poisson-batch.ts);
 * 2. sums the microbatches' gradients, each clipped to L2 norm C (clipped-gradients.ts);
 * 3. adds Gaussian noise of standard deviation σ·C per coordinate, drawn exactly as a discrete
 *    Gaussian on a fine grid (grid-noise.ts);
 * 4. divides by the expected number of microbatches b/m — fixed, not the sampled count, which
 *    would depend on the data (as in Opacus and TF Privacy) — and applies the result with the
 *    model's compiled optimizer;
 *
 * and is charged to a Rényi DP ledger (@petfl/core's accountant) as one `subsampled-gaussian`
 * event with sampling rate q and the noise multiplier grid-noise.ts accounts. Before training,
 * the number of steps is cut so that the ledger's ε at δ never exceeds `maxEpsilon`: training
 * stops *before* the step that would cross it, and says so (`stoppedBy: 'budget'`).
 *
 * What is protected: one example of the participant's local dataset (add/remove adjacency), in
 * everything the trained model reveals, whoever sees it — the ledger is plain data that the app
 * keeps across rounds and hands back, so ε covers every round trained from that dataset. Clipping
 * is per example (microbatches of 1): larger microbatches cut from the sampled batch in order
 * regroup after an added example, so one example could move the sum by about 2⌈b/m⌉·C and no
 * stated guarantee would hold; the options refuse them.
 */

import {
  Accountant,
  type AccountantState,
  accountantEpsilon,
  addAccountantEvent,
  createAccountantState,
  type PetCrypto,
  PetError,
  randomSource,
  type SubsampledGaussianMechanism,
  validateAccountantState,
} from '@petfl/core';
import type * as tf from '@tensorflow/tfjs';
import { trainableSlices } from '../fl/trainable-slices.ts';
import {
  applyGradientVector,
  clippedGradientSum,
  compiledLoss,
  dpSgdModelProblems,
  type ExampleLoss,
} from './clipped-gradients.ts';
import { type DpSgdOptions, resolveDpSgd } from './dp-sgd-options.ts';
import { gridNoise } from './grid-noise.ts';
import { poissonBatch } from './poisson-batch.ts';

/** What `trainDpSgd` works with besides the settings: ports and the state kept across calls. */
export interface DpSgdContext {
  /** From `initCrypto()`: the CSPRNG behind the batches and the noise. */
  readonly crypto: PetCrypto;
  /** The ledger a previous call returned (plain data, stored by the app); a fresh one otherwise. */
  readonly accountant?: AccountantState;
  /** The loss per example; the model's compiled loss unless given (required for several outputs). */
  readonly loss?: ExampleLoss;
  /**
   * Draws batches and noise from this 32-byte seed's keystream instead of the CSPRNG, for tests
   * and reproducible runs. SECURITY: whoever knows the seed knows the noise, and the guarantee is
   * gone; never use it in production.
   */
  readonly seed?: Uint8Array;
  /** Stops training between steps (`stoppedBy: 'aborted'`). */
  readonly signal?: AbortSignal;
  /**
   * Called after each step with the ledger so far: persist it to keep what was spent if a later
   * step throws. A listener that throws is reported (console.error) and training goes on.
   */
  readonly onStep?: (progress: DpSgdProgress) => void;
}

export interface DpSgdProgress {
  /** Steps taken in this call (1-based) of `plannedSteps`. */
  readonly step: number;
  readonly plannedSteps: number;
  readonly accountant: AccountantState;
  /** ε of the whole ledger at the options' δ. */
  readonly epsilon: number;
}

/** Why training ended before its planned steps. */
export type DpSgdStop = 'budget' | 'aborted';

export interface DpSgdResult {
  /** The ledger with this call's steps added: keep it and pass it back next round. */
  readonly accountant: AccountantState;
  /** ε of the whole ledger (earlier calls included) at the options' δ; 0 for an empty ledger. */
  readonly epsilon: number;
  /** Steps taken. */
  readonly steps: number;
  /** Steps the options asked for: ⌈epochs·N/expectedBatchSize⌉. */
  readonly plannedSteps: number;
  /** σ of the noise drawn (given, or solved from targetEpsilon). */
  readonly noiseMultiplier: number;
  /** What each step was charged as. */
  readonly mechanism: SubsampledGaussianMechanism;
  /** Set when fewer steps than planned were taken. */
  readonly stoppedBy?: DpSgdStop;
}

/** ε of a ledger at δ; 0 when nothing has been released. */
function ledgerEpsilon(state: AccountantState, delta: number): number {
  return state.events.length === 0 ? 0 : accountantEpsilon(state, delta).value;
}

/**
 * How many of `planned` more releases of `mechanism` keep the ledger's ε at δ within
 * `maxEpsilon` (ε grows with every release, so bisection finds the last one that fits).
 */
export function stepsWithinBudget(
  state: AccountantState,
  mechanism: SubsampledGaussianMechanism,
  planned: number,
  delta: number,
  maxEpsilon: number,
): number {
  if (maxEpsilon === Number.POSITIVE_INFINITY || planned === 0) return planned;
  const within = (k: number) => ledgerEpsilon(addAccountantEvent(state, mechanism, k), delta) <= maxEpsilon;
  if (within(planned)) return planned;
  let lo = 0; // fits (k = 0 adds nothing; a ledger already over budget allows no step)
  let hi = planned; // does not fit
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (within(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Trains `model` in place with DP-SGD on `xs`/`ys` (first axis: the N examples), with the
 * model's compiled optimizer. Throws `PetError('invalid-field')` listing every problem with the
 * options, the model or the data before any step; `PetError('invalid-model-value')` if the
 * gradients stop being finite (the steps before it are in the last `onStep` ledger).
 */
export async function trainDpSgd(
  model: tf.LayersModel,
  xs: tf.Tensor,
  ys: tf.Tensor,
  options: DpSgdOptions,
  context: DpSgdContext,
): Promise<DpSgdResult> {
  const examples = xs.shape[0] ?? 0;
  const problems = dpSgdModelProblems(model);
  if (ys.shape[0] !== examples) {
    problems.push(`ys: expected ${examples} examples (as xs has), got ${ys.shape[0] ?? 'a scalar'}`);
  }
  const loss = context.loss ?? compiledLoss(model);
  if (loss === undefined) problems.push('loss: expected one for a model without exactly one compiled loss');
  if (problems.length > 0) throw new PetError('invalid-field', `DP-SGD: ${problems.join('; ')}`);
  const settings = resolveDpSgd(options, examples);
  const start =
    context.accountant === undefined ? createAccountantState() : validateAccountantState(context.accountant);
  const { mechanism, delta } = settings;
  const allowed = stepsWithinBudget(start, mechanism, settings.steps, delta, settings.maxEpsilon);

  const slices = trainableSlices(model);
  const length = slices.reduce((n, s) => n + s.size, 0);
  // SECURITY: both sources decide the participant's privacy (which examples a step saw, and the
  // noise); they live for this call and are wiped in `finally`. With a seed the noise's seed is
  // the first 32 bytes of the batches' keystream.
  const batches = randomSource(context.crypto, context.seed);
  let noiseSeed: Uint8Array | undefined;
  if (context.seed !== undefined) {
    noiseSeed = new Uint8Array(32);
    const view = new DataView(noiseSeed.buffer);
    for (let i = 0; i < 8; i++) view.setUint32(4 * i, batches.nextUint32(), true);
  }
  const accountant = Accountant.restore(start);
  let steps = 0;
  let stoppedBy: DpSgdStop | undefined = allowed < settings.steps ? 'budget' : undefined;
  try {
    const noise = gridNoise(
      context.crypto,
      { clipNorm: settings.clipNorm, noiseMultiplier: settings.noiseMultiplier, length },
      noiseSeed,
    );
    try {
      const scale = settings.microbatchSize / settings.expectedBatchSize;
      const optimizer = model.optimizer;
      for (; steps < allowed; ) {
        if (context.signal?.aborted === true) {
          stoppedBy = 'aborted';
          break;
        }
        const batch = poissonBatch(batches, examples, settings.expectedBatchSize);
        const sum = await clippedGradientSum(model, slices, loss as ExampleLoss, { xs, ys }, batch, settings);
        noise.add(sum);
        // Charged once the noisy sum exists, before it reaches the model.
        accountant.add(mechanism);
        applyGradientVector(optimizer, slices, sum, scale);
        steps++;
        emit(context.onStep, {
          step: steps,
          plannedSteps: settings.steps,
          accountant: accountant.state,
          epsilon: accountant.epsilon(delta),
        });
      }
    } finally {
      noise.dispose();
    }
  } finally {
    batches.dispose();
    noiseSeed?.fill(0);
  }
  const state = accountant.state;
  return {
    accountant: state,
    epsilon: ledgerEpsilon(state, delta),
    steps,
    plannedSteps: settings.steps,
    noiseMultiplier: settings.noiseMultiplier,
    mechanism,
    ...(stoppedBy === undefined ? {} : { stoppedBy }),
  };
}

function emit(listener: DpSgdContext['onStep'], progress: DpSgdProgress): void {
  if (listener === undefined) return;
  try {
    listener(progress);
  } catch (err) {
    // A UI callback never stops training (architecture.md §7.4).
    console.error('trainDpSgd onStep threw', err);
  }
}
