/**
 * The data-dependent part of a DP-SGD step (Abadi et al., "Deep Learning with Differential
 * Privacy", CCS 2016, Algorithm 1): the sampled batch is cut into microbatches, each
 * microbatch's gradient of its mean loss — all trainable variables together, as one vector — is
 * clipped to L2 norm C, and the clipped gradients are summed. TensorFlow.js has no per-example
 * gradients, so each microbatch is its own `tf.variableGrads`; a microbatch of one example is
 * per-example clipping. Whatever a microbatch contains, its contribution to the sum has norm at
 * most C: that is the sensitivity the noise (grid-noise.ts) is calibrated to.
 *
 * The model runs in training mode (dropout on). Layers that update state from the data in
 * training mode (batch normalisation's moving statistics) would leak it past the noise, so models
 * with them are refused (`dpSgdModelProblems`). Regularisers of the layers are not part of the
 * loss here.
 *
 * The clipping and the sum run in float32 on the model's backend; the clip target is C·(1 − 2⁻²⁰),
 * so that float32 rounding of the norm cannot let a clipped gradient exceed C. The accumulated
 * rounding of the float32 sum (relative ~2⁻²⁴ per addition) is neglected, as in Opacus and
 * TF Privacy.
 */

import * as tf from '@tensorflow/tfjs';
import type { TrainableSlice } from '../fl/trainable-slices.ts';

/** A loss per example (or already averaged) of targets and predictions, like a compiled tfjs loss. */
export type ExampleLoss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/** Clipped norms stay below C·(1 − CLIP_MARGIN) before float32 rounding (module comment). */
const CLIP_MARGIN = 2 ** -20;

/** Why `model` cannot be trained with DP-SGD (empty when it can). */
export function dpSgdModelProblems(model: tf.LayersModel): string[] {
  const problems: string[] = [];
  if (model.optimizer === undefined) problems.push('model: expected a compiled model (an optimizer), got none');
  const visit = (layers: readonly tf.layers.Layer[]): void => {
    for (const layer of layers) {
      if (layer.getClassName() === 'BatchNormalization') {
        problems.push(`model.${layer.name}: batch normalisation learns from the data outside DP-SGD's noise`);
      }
      const inner = (layer as { layers?: readonly tf.layers.Layer[] }).layers;
      if (Array.isArray(inner)) visit(inner);
    }
  };
  visit(model.layers);
  return problems;
}

/**
 * The compiled loss of a single-output model, or undefined when there is not exactly one. It is
 * the resolved function `compile` keeps in `lossFunctions` — for a `tf.Sequential`, on the
 * functional model it wraps (its `model`, private in the typings but where `compile` puts it).
 */
export function compiledLoss(model: tf.LayersModel): ExampleLoss | undefined {
  const inner = (model as unknown as { model?: { lossFunctions?: unknown } }).model;
  const losses = model.lossFunctions ?? inner?.lossFunctions;
  return Array.isArray(losses) && losses.length === 1 && typeof losses[0] === 'function'
    ? (losses[0] as ExampleLoss)
    : undefined;
}

/**
 * Σ over the microbatches of `batch` (example indices, cut in order into groups of
 * `microbatchSize`) of each microbatch's gradient clipped to `clipNorm`, as one float64 vector in
 * the order of `slices` (their sizes concatenated). An empty batch sums to zeros.
 */
export async function clippedGradientSum(
  model: tf.LayersModel,
  slices: readonly TrainableSlice[],
  loss: ExampleLoss,
  data: { readonly xs: tf.Tensor; readonly ys: tf.Tensor },
  batch: Int32Array,
  settings: { readonly clipNorm: number; readonly microbatchSize: number },
): Promise<Float64Array> {
  const length = slices.reduce((n, s) => n + s.size, 0);
  const vars = slices.map((s) => s.variable);
  const clipTarget = settings.clipNorm * (1 - CLIP_MARGIN);
  let sum: tf.Tensor[] | undefined;
  try {
    for (let start = 0; start < batch.length; start += settings.microbatchSize) {
      const members = batch.subarray(start, Math.min(start + settings.microbatchSize, batch.length));
      const next = tf.tidy(() => {
        const indices = tf.tensor1d(members, 'int32');
        const xs = tf.gather(data.xs, indices);
        const ys = tf.gather(data.ys, indices);
        const { grads } = tf.variableGrads(
          () => tf.mean(loss(ys, model.apply(xs, { training: true }) as tf.Tensor)) as tf.Scalar,
          vars,
        );
        // A variable the loss does not reach has no gradient: zero.
        const g = vars.map((v) => grads[v.name] ?? tf.zerosLike(v));
        const norm = tf.sqrt(tf.addN(g.map((t) => tf.sum(tf.square(t)))));
        // min(1, C/‖g‖); a NaN or infinite norm makes the sum non-finite, which the noise refuses.
        const factor = tf.div(clipTarget, tf.maximum(norm, clipTarget));
        return g.map((t, i) =>
          sum === undefined ? tf.mul(t, factor) : tf.add(sum[i] as tf.Tensor, tf.mul(t, factor)),
        );
      });
      if (sum !== undefined) tf.dispose(sum);
      sum = next;
    }
    if (sum === undefined) return new Float64Array(length);
    const parts = sum;
    const flat = tf.tidy(() => tf.concat(parts.map((t) => tf.reshape(t, [-1]))));
    try {
      // data(), not dataSync(): a synchronous read stalls WebGPU (tfjs-participant.ts).
      return Float64Array.from(await flat.data());
    } finally {
      flat.dispose();
    }
  } finally {
    if (sum !== undefined) tf.dispose(sum);
  }
}

/**
 * Applies `vector · scale` (in the order of `slices`) as the gradient of one step of `optimizer`,
 * with its own update rule and state.
 */
export function applyGradientVector(
  optimizer: tf.Optimizer,
  slices: readonly TrainableSlice[],
  vector: Float64Array,
  scale: number,
): void {
  tf.tidy(() => {
    const gradients: tf.NamedTensorMap = {};
    let offset = 0;
    for (const slice of slices) {
      const values = new Float32Array(slice.size);
      for (let i = 0; i < slice.size; i++) values[i] = (vector[offset + i] as number) * scale;
      gradients[slice.variable.name] = tf.tensor(values, [...slice.shape], 'float32');
      offset += slice.size;
    }
    optimizer.applyGradients(gradients);
  });
}
