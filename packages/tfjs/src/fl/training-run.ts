/**
 * A training run as `TfjsParticipant` takes part in it: the run's vector layout (from
 * `fetchRunInfo`, docs/learning.md §2), the client algorithm that trains locally, the data the
 * global model is evaluated on, and the scalar the participant masks with. `checkTrainingRun`
 * validates the option once, at construction, against the model; afterwards the participant
 * trusts it (architecture.md §7.4).
 *
 * The algorithms (what the masked vector carries is the same for all: `encodeContribution`):
 * - `fedavg` — `model.fit` from the global model x; the update is y − x.
 * - `fedprox` (Li et al. 2020) — minimises the local loss + μ/2·‖w − x‖²: every gradient step
 *   adds μ(w − x) to the gradient (fedprox.ts).
 * - `scaffold` (Karimireddy et al. 2020, option II) — every gradient step adds c − cᵢ, and the
 *   participant's control variate cᵢ is updated after the round (scaffold.ts).
 */

import { PetflError, type VectorLayout, validateVectorLayout } from '@petfl/sdk';
import type * as tf from '@tensorflow/tfjs';
import { weightCount } from '../weights.ts';
import type { LocalDataSource } from './local-data.ts';

/** The client algorithm: how the participant trains from the global model each round. */
export type ClientAlgorithm =
  | { readonly kind: 'fedavg' }
  | { readonly kind: 'fedprox'; readonly mu: number }
  | { readonly kind: 'scaffold' };

/** The `run` option of `TfjsParticipant`. */
export interface TrainingRun {
  /** The run's layout (`(await fetchRunInfo(url)).layout`); its modelLength must be the model's weight count. */
  readonly layout: VectorLayout;
  /**
   * Default fedavg. fedprox and scaffold need `layout.send === 'update'`; scaffold exactly when the
   * layout has control variates, and a model compiled with `tf.train.sgd` (plain SGD).
   */
  readonly algorithm?: ClientAlgorithm;
  /**
   * The participant's own validation data, on which the global model it starts from is evaluated
   * (before training) when the layout declares metrics. A function is called once per round and
   * its tensors are disposed after. Without it the participant reports no evaluation.
   */
  readonly evaluationData?: LocalDataSource;
  /**
   * The scalar this participant masks with (`spawnParticipant`'s `scalar` option, default 1): it
   * must be the same, because the evaluation entries are divided by it (`encodeContribution`).
   */
  readonly scalar?: number;
}

/** A training run's option or a round's input does not fit the run, named with what was expected. */
export class TrainingRunError extends PetflError {
  override readonly name = 'TrainingRunError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('training-run', message, options);
  }
}

/** A checked `TrainingRun`: every default filled in. */
export interface CheckedRun {
  readonly layout: VectorLayout;
  readonly algorithm: ClientAlgorithm;
  readonly evaluationData: TrainingRun['evaluationData'];
  readonly scalar: number;
}

/** Checks `run` against `model`; throws TrainingRunError naming the first problem. */
export function checkTrainingRun(run: TrainingRun, model: tf.LayersModel): CheckedRun {
  let layout: VectorLayout;
  try {
    layout = validateVectorLayout(run.layout);
  } catch (cause) {
    throw new TrainingRunError(`run.layout: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const weights = weightCount(model);
  if (layout.modelLength !== weights) {
    throw new TrainingRunError(
      `run.layout.modelLength: expected the model's weight count ${weights}, got ${layout.modelLength}`,
    );
  }
  const algorithm = run.algorithm ?? { kind: 'fedavg' };
  switch (algorithm.kind) {
    case 'fedavg':
      break;
    case 'fedprox':
      if (typeof algorithm.mu !== 'number' || !Number.isFinite(algorithm.mu) || algorithm.mu < 0) {
        throw new TrainingRunError(`run.algorithm.mu: expected a finite number ≥ 0, got ${String(algorithm.mu)}`);
      }
      break;
    case 'scaffold':
      break;
    default:
      throw new TrainingRunError(
        `run.algorithm.kind: expected "fedavg", "fedprox" or "scaffold", got ${String((algorithm as { kind: unknown }).kind)}`,
      );
  }
  if (algorithm.kind !== 'fedavg' && layout.send !== 'update') {
    throw new TrainingRunError(`run.algorithm: ${algorithm.kind} needs layout.send = "update", got "${layout.send}"`);
  }
  if ((algorithm.kind === 'scaffold') !== layout.controlVariates) {
    throw new TrainingRunError(
      layout.controlVariates
        ? `run.algorithm: the layout has control variates, which only scaffold produces; got ${algorithm.kind}`
        : 'run.algorithm: scaffold needs a layout with control variates (layout.controlVariates = true)',
    );
  }
  const { evaluationData } = run;
  if (
    evaluationData !== undefined &&
    typeof evaluationData !== 'function' &&
    (typeof evaluationData !== 'object' || evaluationData === null || !('xs' in evaluationData))
  ) {
    throw new TrainingRunError('run.evaluationData: expected { xs, ys } tensors or a function returning them');
  }
  const scalar = run.scalar ?? 1;
  if (typeof scalar !== 'number' || !Number.isFinite(scalar) || scalar < 0) {
    throw new TrainingRunError(`run.scalar: expected a finite number ≥ 0, got ${String(scalar)}`);
  }
  return { layout, algorithm, evaluationData, scalar };
}
