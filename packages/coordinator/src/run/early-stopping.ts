/**
 * Early stopping on a federated metric (docs/learning.md §5): the run ends once the metric has
 * not improved on its best value for `patience` evaluations in a row. An evaluation improves
 * when it beats the best by at least `tolerance` — an absolute amount, or with `relative` a
 * fraction of |best| — in the metric's direction (`mode`: "min" for a loss, "max" for an
 * accuracy). These are declearn's early-stopping semantics (tolerance, patience, relative,
 * decrease). Pure and plain data: the state is persisted in the run's checkpoint.
 */

export interface EarlyStoppingSettings {
  /** The federated metric judged; one of the run's metrics. */
  readonly metric: string;
  readonly mode: 'min' | 'max';
  /** Evaluations without improvement after which the run ends (≥ 1). */
  readonly patience: number;
  /** The least improvement that counts (≥ 0). */
  readonly tolerance: number;
  /** The tolerance is a fraction of |best| instead of an absolute amount. */
  readonly relative: boolean;
}

export interface EarlyStoppingState {
  /** The best value so far and the global model round it was measured on; null before the first. */
  readonly best: { readonly roundId: number; readonly value: number } | null;
  /** Evaluations since the best one. */
  readonly stuck: number;
}

export const EARLY_STOPPING_START: EarlyStoppingState = { best: null, stuck: 0 };

/** The verdict on one evaluation of the model of `roundId`: the next state, and whether to stop. */
export function judgeEvaluation(
  settings: EarlyStoppingSettings,
  state: EarlyStoppingState,
  roundId: number,
  value: number,
): { readonly state: EarlyStoppingState; readonly stop: boolean } {
  const { best } = state;
  if (best === null) return { state: { best: { roundId, value }, stuck: 0 }, stop: false };
  const gain = settings.mode === 'min' ? best.value - value : value - best.value;
  const needed = settings.relative ? settings.tolerance * Math.abs(best.value) : settings.tolerance;
  // A tolerance of 0 still needs a strict gain: an equal value is no improvement.
  const improved = settings.tolerance === 0 ? gain > 0 : gain >= needed;
  if (improved) return { state: { best: { roundId, value }, stuck: 0 }, stop: false };
  const stuck = state.stuck + 1;
  return { state: { best, stuck }, stop: stuck >= settings.patience };
}
