/**
 * Training with corrected gradients: FedProx and SCAFFOLD change only the gradient of each local
 * step (g + μ(w − x), g − cᵢ + c); everything else — the minibatch loop, epochs, batchSize,
 * shuffle, validationSplit, the app's fit callbacks and the progress reports — is the model's
 * own `model.fit`. So the correction is applied where fit hands the gradients to the compiled
 * optimizer: while `train` runs, the optimizer's `applyGradients` corrects each gradient, then
 * applies it with the optimizer's own update rule (and state, e.g. Adam's moments).
 *
 * Why not a loop of our own: fit's loss (the compiled loss per output, sample and class weights,
 * the layers' regularisers) is not reachable through the public API of a `tf.Sequential`, and a
 * loop of our own would have to copy fit's batching and shuffling to give the same steps. Why
 * not swap `model.optimizer` for a wrapper: the setter marks the optimizer as not owned by the
 * model, so `model.dispose()` would no longer dispose it. The hook is an own property of the
 * optimizer instance, removed when `train` settles; the optimizer's class is untouched.
 */

import * as tf from '@tensorflow/tfjs';

/** What `Optimizer.applyGradients` takes: a map by variable name, or a list of named gradients. */
type Gradients = Parameters<tf.Optimizer['applyGradients']>[0];

/**
 * The corrected gradient of the variable named `name` (the variable still holds its value before
 * the step), or undefined to leave it as it is. Called inside a `tf.tidy`: what it creates is
 * disposed after the step.
 */
export type GradientCorrection = (name: string, gradient: tf.Tensor) => tf.Tensor | undefined;

/**
 * Runs `train` (a `model.fit`) with every gradient step of `optimizer` corrected by `correct`;
 * resolves to what `train` returned and the number of steps taken (K).
 */
export async function trainWithCorrection<T>(
  optimizer: tf.Optimizer,
  correct: GradientCorrection,
  train: () => Promise<T>,
): Promise<{ readonly result: T; readonly steps: number }> {
  if (Object.hasOwn(optimizer, 'applyGradients')) {
    throw new Error('trainWithCorrection: the optimizer is already being trained with a correction');
  }
  const apply = optimizer.applyGradients;
  let steps = 0;
  const corrected = (gradients: Gradients): void => {
    steps++;
    tf.tidy(() => {
      const fix = (name: string, gradient: tf.Tensor): tf.Tensor =>
        // A variable without a gradient (null) is skipped by the optimizer as it is.
        gradient == null ? gradient : (correct(name, gradient) ?? gradient);
      if (Array.isArray(gradients)) {
        apply.call(
          optimizer,
          gradients.map(({ name, tensor }) => ({ name, tensor: fix(name, tensor) })),
        );
      } else {
        const map: tf.NamedTensorMap = {};
        for (const [name, gradient] of Object.entries(gradients)) map[name] = fix(name, gradient);
        apply.call(optimizer, map);
      }
    });
  };
  Object.defineProperty(optimizer, 'applyGradients', { value: corrected, configurable: true, writable: true });
  try {
    const result = await train();
    return { result, steps };
  } finally {
    delete (optimizer as { applyGradients?: unknown }).applyGradients;
  }
}
