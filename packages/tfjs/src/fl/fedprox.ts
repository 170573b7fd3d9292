/**
 * FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks"): each participant
 * minimises its local loss plus the proximal term μ/2·‖w − x‖², x being the global model the
 * round started from. The term's gradient is μ(w − x), so every local step applies
 *
 *     g(w) + μ(w − x)
 *
 * with the model's compiled optimizer (gradient-correction.ts). μ = 0 is FedAvg's local training;
 * a larger μ keeps the local model closer to x, which bounds client drift on heterogeneous data.
 */

import * as tf from '@tensorflow/tfjs';
import type { GradientCorrection } from './gradient-correction.ts';
import { type TrainableSlice, tensorsBySlice } from './trainable-slices.ts';

/** The proximal correction towards `x` (the global model, vector order) and `dispose()` for its tensors. */
export function proximalCorrection(
  slices: readonly TrainableSlice[],
  x: ArrayLike<number>,
  mu: number,
): { readonly correct: GradientCorrection; dispose(): void } {
  const anchors = tensorsBySlice(slices, x);
  const scale = tf.scalar(mu, 'float32');
  return {
    correct: (name, gradient) => {
      const anchor = anchors.get(name);
      if (anchor === undefined) return undefined;
      // The variable's value before this step's update: applyGradients has not run yet.
      return tf.add(gradient, tf.mul(scale, tf.sub(anchor.slice.variable, anchor.tensor)));
    },
    dispose: () => {
      scale.dispose();
      for (const { tensor } of anchors.values()) tensor.dispose();
    },
  };
}
