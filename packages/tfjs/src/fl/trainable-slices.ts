/**
 * Where each trainable variable of a model lies in its weight vector (the `modelToVector`
 * order, weights.ts): FedProx's proximal term and SCAFFOLD's correction act on the trainable
 * variables' gradients, but x, c and cᵢ are vectors. Non-trainable weights (a batch norm's
 * moving statistics) have no gradient: no correction reaches them.
 */

import * as tf from '@tensorflow/tfjs';

/** One trainable variable and its range [offset, offset + size) of the weight vector. */
export interface TrainableSlice {
  /** The variable the optimizer updates; its `name` keys the gradients. */
  readonly variable: tf.Variable;
  readonly offset: number;
  readonly size: number;
  readonly shape: readonly number[];
}

/** The model's trainable variables with their vector ranges, in vector order. */
export function trainableSlices(model: tf.LayersModel): TrainableSlice[] {
  const trainable = new Set(model.trainableWeights);
  const slices: TrainableSlice[] = [];
  let offset = 0;
  for (const weight of model.weights) {
    // LayerVariable.read() is the tf.Variable itself (no copy, nothing to dispose).
    const variable = weight.read() as tf.Variable;
    const { size } = variable;
    if (trainable.has(weight)) slices.push({ variable, offset, size, shape: variable.shape });
    offset += size;
  }
  return slices;
}

/**
 * One float32 tensor per slice from the matching range of `vector` (the caller disposes them),
 * keyed by the variable's name.
 */
export function tensorsBySlice(
  slices: readonly TrainableSlice[],
  vector: ArrayLike<number>,
): Map<string, { readonly slice: TrainableSlice; readonly tensor: tf.Tensor }> {
  const out = new Map<string, { readonly slice: TrainableSlice; readonly tensor: tf.Tensor }>();
  for (const slice of slices) {
    const values = new Float32Array(slice.size);
    for (let i = 0; i < slice.size; i++) values[i] = vector[slice.offset + i] as number;
    out.set(slice.variable.name, { slice, tensor: tf.tensor(values, [...slice.shape], 'float32') });
  }
  return out;
}
