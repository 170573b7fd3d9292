/**
 * The tab's contribution to a training run (docs/learning.md §2). Without a run a tab sends its
 * trained weights; in a run it sends what the run's vector layout asks for, built by
 * `encodeContribution`: the update y − x from the base x its epoch trained from (trainer.ts: a
 * global model, possibly an older one than the coordinator's latest), and its evaluation of that
 * base on the examples it holds out (mnist.ts `holdOut`) — metrics of x taken before any
 * training, as every participant of the run reports them. The evaluation is computed in plain
 * JavaScript (evaluate.ts, in the page's scoring Worker: remote-scorer.ts), off the TensorFlow.js
 * backend that trains, once per base.
 *
 * A tab has no SCAFFOLD control variate and computes loss and accuracy only: a run that asks
 * for more (`tabRunProblem`) is one the tab cannot join, and the page says why.
 */

import { type Evaluation, encodeContribution, type VectorLayout } from '@petfl/sdk';
import type { Scores } from '../evaluate.ts';
import type { TrainedEpoch } from './trainer.ts';

/** The metrics a tab reports (evaluate.ts `scores`). */
export const TAB_METRICS: readonly (keyof Scores)[] = ['loss', 'accuracy'];

/** Why a tab whose model has `weights` weights cannot take part in a run of `layout`; undefined when it can. */
export function tabRunProblem(layout: VectorLayout, weights: number): string | undefined {
  if (layout.modelLength !== weights) {
    return `the training run's model has ${layout.modelLength} weights, this page's ${weights} (model=)`;
  }
  if (layout.controlVariates) {
    return 'the training run uses SCAFFOLD control variates, which this page does not keep (the Node participants do)';
  }
  const unknown = layout.metrics.filter((m) => !(TAB_METRICS as readonly string[]).includes(m));
  if (unknown.length > 0) {
    return `the training run asks for ${unknown.map((m) => `"${m}"`).join(', ')}; this page reports ${TAB_METRICS.join(' and ')}`;
  }
  return undefined;
}

export interface RunContributorOptions {
  /** The run's layout: the constructor throws `tabRunProblem`'s reason when the tab cannot join. */
  readonly layout: VectorLayout;
  /** The page model's weight count. */
  readonly weights: number;
  /** The scalar the tab masks with (its number of training examples): the evaluation entries are divided by it. */
  readonly scalar: number;
  /** How many examples the tab holds out, and the scores of a model on them. */
  readonly examples: number;
  readonly score: (model: Float32Array | Float64Array) => Scores | Promise<Scores>;
}

/** Builds a tab's masked vectors in one run, evaluating each base once. */
export class RunContributor {
  readonly #options: RunContributorOptions;
  /** The evaluation of each base model (keyed by the array: a base is never changed), once asked for. */
  readonly #evaluations = new WeakMap<object, Promise<Evaluation>>();

  constructor(options: RunContributorOptions) {
    const problem = tabRunProblem(options.layout, options.weights);
    if (problem !== undefined) throw new Error(problem);
    this.#options = options;
  }

  /** The masked vector for `epoch` (`maskedLength(layout)` values, float64 math rounded to float32 like the weights). */
  async contribution(epoch: TrainedEpoch): Promise<Float32Array> {
    const { layout, scalar } = this.#options;
    const { weights, base } = epoch;
    if (weights.length !== layout.modelLength || base.model.length !== layout.modelLength) {
      throw new Error(
        `run contribution: expected ${layout.modelLength} weights, got ${weights.length} (base ${base.model.length})`,
      );
    }
    let model: ArrayLike<number> = weights;
    if (layout.send === 'update') {
      const update = new Float64Array(weights.length);
      for (let i = 0; i < update.length; i++) update[i] = (weights[i] as number) - (base.model[i] as number);
      model = update;
    }
    const evaluation = layout.metrics.length === 0 ? undefined : await this.#evaluate(base.model);
    return Float32Array.from(
      encodeContribution(layout, { model, ...(evaluation === undefined ? {} : { evaluation }) }, scalar),
    );
  }

  #evaluate(model: Float32Array | Float64Array): Promise<Evaluation> | null {
    const { layout, examples, score } = this.#options;
    if (examples === 0) return null;
    let evaluation = this.#evaluations.get(model);
    if (evaluation === undefined) {
      evaluation = Promise.resolve(score(model)).then((scores) => ({
        examples,
        metrics: Object.fromEntries(layout.metrics.map((m) => [m, scores[m as keyof Scores]])),
      }));
      this.#evaluations.set(model, evaluation);
    }
    return evaluation;
  }
}
