/**
 * SCAFFOLD (Karimireddy et al. 2020, "SCAFFOLD: Stochastic Controlled Averaging for Federated
 * Learning"), the participant's side. The served global model carries the server control
 * variate c beside x (docs/learning.md §2); the participant keeps its own control variate cᵢ
 * (zeros at first). Each of the K local steps is plain SGD at the local learning rate η_l with
 * the corrected gradient
 *
 *     y ← y − η_l · (g(y) − cᵢ + c)
 *
 * and after them (the paper's option II)
 *
 *     cᵢ⁺ = cᵢ − c + (x − y) / (K · η_l),      Δc = cᵢ⁺ − cᵢ = (x − y) / (K · η_l) − c
 *
 * Δc travels masked beside the update y − x; the coordinator moves c by the average Δc.
 * cᵢ moves by Δc only once the coordinator has accepted the update carrying it (`accept`, called
 * from `ParticipantABC.onUpdateAccepted`): an update refused or never sent leaves cᵢ as it was,
 * since c never takes its Δc. cᵢ lives in memory only: a participant that restarts (a new
 * `TfjsParticipant`) starts again from cᵢ = 0, as if it had never trained, and c is no longer the mean of the participants' cᵢ
 * until it has taken part again (Δc itself does not depend on cᵢ). Entries of non-trainable
 * weights get no correction and report Δc = 0.
 */

import * as tf from '@tensorflow/tfjs';
import type { GradientCorrection } from './gradient-correction.ts';
import type { TrainableSlice } from './trainable-slices.ts';
import { TrainingRunError } from './training-run.ts';

/**
 * η_l: the learning rate of a plain SGD optimizer (`tf.train.sgd`), which SCAFFOLD's steps and
 * control update assume. Momentum, Adam and the others are refused.
 */
export function sgdLearningRate(optimizer: tf.Optimizer | undefined): number {
  // By class name, not instanceof: MomentumOptimizer extends SGDOptimizer, and an app may hold
  // another copy of TensorFlow.js.
  const name = optimizer?.getClassName();
  if (name !== 'SGD') {
    throw new TrainingRunError(
      `scaffold: expected a model compiled with plain SGD (optimizer: tf.train.sgd(learningRate)), got ${name ?? 'none'}`,
    );
  }
  const rate = (optimizer as tf.Optimizer).getConfig()['learningRate'];
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
    throw new TrainingRunError(`scaffold: expected the SGD learning rate to be a number > 0, got ${String(rate)}`);
  }
  return rate;
}

/** The participant's SCAFFOLD state: its control variate cᵢ (P entries, vector order). */
export class ScaffoldClient {
  /** cᵢ; starts at zeros. */
  #control: Float64Array;
  /** The last accepted round's x and the cᵢ before it moved: undone when the next round starts from the same x. */
  #pending: { readonly x: Float32Array; readonly before: Float64Array } | undefined;
  /** The last round's x and the cᵢ it would move to, until its update is accepted. */
  #proposed: { readonly x: Float32Array; readonly next: Float64Array } | undefined;

  constructor(modelLength: number) {
    this.#control = new Float64Array(modelLength);
  }

  /** A copy of cᵢ. */
  get control(): Float64Array {
    return this.#control.slice();
  }

  /**
   * Before a round that starts from `x`: when it is the very x the last round started from, no
   * round has completed since, so the server's c never took this participant's Δc (its update was
   * not aggregated): cᵢ goes back to what it was, or cᵢ and c would drift apart (docs/learning.md
   * §3.2). A round that completed moves x, and cᵢ stays.
   */
  resume(x: ArrayLike<number>): void {
    this.#proposed = undefined; // never accepted: c did not take its Δc
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending === undefined || pending.x.length !== x.length) return;
    for (let j = 0; j < x.length; j++) if (pending.x[j] !== Math.fround(x[j] as number)) return;
    this.#control = pending.before;
  }

  /** The per-step correction g → g + (c − cᵢ) for this round's c, and `dispose()` for its tensors. */
  correction(
    slices: readonly TrainableSlice[],
    c: ArrayLike<number>,
  ): { readonly correct: GradientCorrection; dispose(): void } {
    const shifts = new Map<string, tf.Tensor>();
    for (const { variable, offset, size, shape } of slices) {
      const values = new Float32Array(size);
      for (let i = 0; i < size; i++) values[i] = (c[offset + i] as number) - (this.#control[offset + i] as number);
      shifts.set(variable.name, tf.tensor(values, [...shape], 'float32'));
    }
    return {
      correct: (name, gradient) => {
        const shift = shifts.get(name);
        return shift === undefined ? undefined : tf.add(gradient, shift);
      },
      dispose: () => {
        for (const shift of shifts.values()) shift.dispose();
      },
    };
  }

  /**
   * After K = `steps` local steps at learning rate `rate` from x to y: Δc (returned), and
   * cᵢ + Δc proposed, for `accept` to make cᵢ. With no step taken nothing was learnt: Δc = 0.
   */
  update(
    slices: readonly TrainableSlice[],
    x: ArrayLike<number>,
    y: ArrayLike<number>,
    c: ArrayLike<number>,
    steps: number,
    rate: number,
  ): Float64Array {
    const delta = new Float64Array(this.#control.length);
    if (steps === 0) return delta;
    const scale = 1 / (steps * rate);
    for (const { offset, size } of slices) {
      for (let j = offset; j < offset + size; j++) {
        delta[j] = ((x[j] as number) - (y[j] as number)) * scale - (c[j] as number);
      }
    }
    const next = new Float64Array(this.#control.length);
    for (let j = 0; j < next.length; j++) next[j] = (this.#control[j] as number) + (delta[j] as number);
    this.#proposed = { x: Float32Array.from(x), next };
    return delta;
  }

  /**
   * The coordinator accepted the update that carried the last Δc: cᵢ ← cᵢ + Δc. Nothing when no
   * Δc waits (none proposed, or already accepted).
   */
  accept(): void {
    const proposed = this.#proposed;
    if (proposed === undefined) return;
    this.#proposed = undefined;
    this.#pending = { x: proposed.x, before: this.#control };
    this.#control = proposed.next;
  }
}
