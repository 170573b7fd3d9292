/**
 * Local data as `TfjsParticipant` takes it: for training (`data`) and for evaluating the global
 * model (`run.evaluationData`). Tensors given as such belong to the app and stay alive; a
 * function makes them fresh for each round, and they are disposed after use.
 */

import type * as tf from '@tensorflow/tfjs';

/** Inputs and targets, first axis = examples. */
export interface LocalData {
  readonly xs: tf.Tensor;
  readonly ys: tf.Tensor;
}

/** Data as given: tensors the app owns, or a function that makes them per round. */
export type LocalDataSource = LocalData | (() => LocalData | Promise<LocalData>);

/**
 * Runs `use` on the data of `source` for this round; tensors a function made are disposed after,
 * whether `use` succeeds or throws.
 */
export async function withLocalData<T>(source: LocalDataSource, use: (data: LocalData) => Promise<T>): Promise<T> {
  if (typeof source !== 'function') return use(source);
  const data = await source();
  try {
    return await use(data);
  } finally {
    data.xs.dispose();
    data.ys.dispose();
  }
}
