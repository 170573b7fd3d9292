/**
 * Model weights <-> one flat vector. The PET protocol aggregates a model as a
 * flat list of numbers (protocol.md §3.10); a `tf.LayersModel` holds it as a
 * list of variables. The vector is every weight in `model.getWeights()` order
 * (trainable weights first, then non-trainable ones, each layer in model
 * order), each flattened row-major — the same order `model.setWeights` takes,
 * so a round trip is bit-exact for float32 weights.
 *
 * Neither direction leaks tensors: `getWeights()` hands out the model's own
 * variables (never disposed here), and the tensors built for `setWeights` are
 * disposed once the variables have taken their values.
 */

import * as tf from '@tensorflow/tfjs';

/** The vector does not fit the model: wrong length. */
export class ModelShapeMismatchError extends Error {
  override readonly name = 'ModelShapeMismatchError';
  /** The model's weight count. */
  readonly expected: number;
  /** The vector's length. */
  readonly got: number;

  constructor(expected: number, got: number, shapes: readonly (readonly number[])[]) {
    super(
      `model vector: expected ${expected} weights (shapes ${shapes.map((s) => `[${s.join(',')}]`).join(' ')}), got ${got}`,
    );
    this.expected = expected;
    this.got = got;
  }
}

/** The vector holds a value that is not a finite float32 (NaN, ±Infinity, or beyond the float32 range). */
export class NonFiniteWeightError extends Error {
  override readonly name = 'NonFiniteWeightError';
  /** Index in the vector. */
  readonly index: number;
  /** The value found there. */
  readonly value: number;

  constructor(index: number, value: number, weightName: string) {
    super(`model vector[${index}] (weight ${weightName}): expected a finite float32, got ${value}`);
    this.index = index;
    this.value = value;
  }
}

/** How many numbers `modelToVector(model)` returns: the size of every weight, added up. */
export function weightCount(model: tf.LayersModel): number {
  let n = 0;
  for (const w of model.getWeights()) n += w.size;
  return n;
}

/**
 * All of the model's weights, flattened into one Float32Array in
 * `model.getWeights()` order. Reads synchronously (`dataSync`); on GPU
 * backends prefer `modelToVectorAsync`, which does not block the page.
 */
export function modelToVector(model: tf.LayersModel): Float32Array {
  const weights = model.getWeights();
  const out = new Float32Array(weightCount(model));
  let offset = 0;
  for (const w of weights) {
    const values = w.dataSync();
    out.set(values, offset);
    offset += values.length;
  }
  return out;
}

/** `modelToVector`, reading each weight with `data()` so a GPU backend does not block. */
export async function modelToVectorAsync(model: tf.LayersModel): Promise<Float32Array> {
  const weights = model.getWeights();
  const out = new Float32Array(weightCount(model));
  const values = await Promise.all(weights.map((w) => w.data()));
  let offset = 0;
  for (const v of values) {
    out.set(v, offset);
    offset += v.length;
  }
  return out;
}

/**
 * Sets every weight of `model` from `vector` (the layout of `modelToVector`).
 * Validates first, then writes (architecture.md §7.4): a wrong length throws
 * ModelShapeMismatchError, a value that is not a finite float32 throws
 * NonFiniteWeightError; either way the model is left unchanged.
 */
export function vectorToModel(model: tf.LayersModel, vector: ArrayLike<number>): void {
  // The model's own variables (not copies) in setWeights order; only their shapes are read.
  const current = model.getWeights();
  const expected = weightCount(model);
  if (vector.length !== expected) {
    throw new ModelShapeMismatchError(
      expected,
      vector.length,
      current.map((w) => w.shape),
    );
  }
  // One float32 copy; checked after rounding, as a float64 like 1e300 is finite but not as float32.
  const values = Float32Array.from(vector);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new NonFiniteWeightError(i, vector[i] as number, weightNameAt(model, i));
  }
  const tensors: tf.Tensor[] = [];
  try {
    let offset = 0;
    for (const w of current) {
      tensors.push(tf.tensor(values.subarray(offset, offset + w.size), w.shape, w.dtype));
      offset += w.size;
    }
    model.setWeights(tensors);
  } finally {
    // The variables now hold their own reference to the data (Variable.assign).
    for (const t of tensors) t.dispose();
  }
}

/** The name of the weight that vector index `index` falls in (for error messages). */
function weightNameAt(model: tf.LayersModel, index: number): string {
  let end = 0;
  for (const w of model.weights) {
    end += w.read().size;
    if (index < end) return w.name;
  }
  return '?';
}
