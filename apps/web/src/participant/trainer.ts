/**
 * The tab's training, in the AsyncParticipant style (docs/architecture.md §5.2): the tab
 * trains at its own pace, not only inside an update task, and whenever an epoch ends the
 * trained weights become the local model the next update task takes. So the model is usually
 * ready when the update phase opens, and a slow device, whose epoch outlasts a round, still
 * contributes: its model goes to the round in progress when the epoch ends.
 *
 * What it trains on: each new global model starts `epochs` epochs from that model (an epoch in
 * progress on an older one finishes first, so a slow device's work is never thrown away). An
 * update task that finds no model ready (the last one went to an earlier round and no global
 * model came since, e.g. after a failed round) starts one more epoch from the current weights.
 * Otherwise it rests: at most about one epoch per round, so the tabs leave the machine to the
 * rest of the protocol.
 */

import { modelToVectorAsync, type TrainingProgress, vectorToModel } from '@petfl/tfjs';
import type * as tf from '@tensorflow/tfjs';

export interface TrainerOptions {
  /** A compiled model, trained in place. */
  readonly model: tf.LayersModel;
  readonly data: { readonly xs: tf.Tensor; readonly ys: tf.Tensor };
  /** Epochs from each new global model (each one's end sets the local model). */
  readonly epochs: number;
  readonly batchSize: number;
  /** After each batch. */
  readonly onProgress?: (progress: TrainingProgress) => void;
  /** When an epoch ended and its model is ready; `ms` is how long the epoch took. */
  readonly onEpoch?: (epoch: EpochEnd) => void;
}

export interface EpochEnd {
  /** The round whose global model the training started from, or null (the initial model). */
  readonly baseRound: number | null;
  readonly ms: number;
}

export class ContinuousTrainer {
  readonly #options: TrainerOptions;
  /** The global model the next epoch starts from (null: go on from the current weights). */
  #base: { readonly roundId: number | null; readonly model: Float32Array | Float64Array } | null = null;
  /** The round of the global model the current weights descend from. */
  #baseRound: number | null = null;
  #epochsLeft = 0;
  /** The latest epoch's model, until an update task takes it. */
  #ready: Float32Array | null = null;
  #running = false;
  #stopped = false;
  readonly #waiters: ((model: Float32Array) => void)[] = [];

  constructor(options: TrainerOptions) {
    this.#options = options;
  }

  /** Whether an epoch is running now. */
  get training(): boolean {
    return this.#running;
  }

  /** Starts training from the model's current weights (the shared initial model). */
  start(): void {
    this.#epochsLeft = Math.max(this.#epochsLeft, this.#options.epochs);
    this.#kick();
  }

  /** A new global model: the next epochs start from it. */
  newGlobalModel(model: Float32Array | Float64Array, roundId: number | null): void {
    this.#base = { roundId, model };
    this.#epochsLeft = this.#options.epochs;
    this.#kick();
  }

  /**
   * The latest epoch's model for an update task, handed over once; null while there is none
   * (an epoch is then running or started, and `onEpoch` says when it ended).
   */
  take(): Float32Array | null {
    const ready = this.#ready;
    this.#ready = null;
    if (ready === null && !this.#running) {
      this.#epochsLeft = Math.max(this.#epochsLeft, 1);
      this.#kick();
    }
    return ready;
  }

  /** The next model to hand over: the ready one, else the next epoch's. */
  next(): Promise<Float32Array> {
    const ready = this.take();
    if (ready !== null) return Promise.resolve(ready);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    this.#options.model.stopTraining = true;
  }

  #kick(): void {
    if (this.#running || this.#stopped || this.#epochsLeft <= 0) return;
    this.#running = true;
    void this.#loop().finally(() => {
      this.#running = false;
      this.#kick(); // work that came in as the loop ended
    });
  }

  async #loop(): Promise<void> {
    const { model, data, batchSize, onProgress, onEpoch } = this.#options;
    while (this.#epochsLeft > 0 && !this.#stopped) {
      const base = this.#base;
      this.#base = null;
      if (base !== null) {
        vectorToModel(model, base.model);
        this.#baseRound = base.roundId;
      }
      const baseRound = this.#baseRound;
      this.#epochsLeft--;
      const started = performance.now();
      const batches = Math.ceil((data.xs.shape[0] ?? 0) / batchSize);
      await model.fit(data.xs, data.ys, {
        epochs: 1,
        batchSize,
        shuffle: true,
        ...(onProgress === undefined
          ? {}
          : {
              callbacks: {
                onBatchEnd: (batch: number) => onProgress({ epoch: 1, epochs: 1, batch: batch + 1, batches }),
              },
            }),
      });
      if (this.#stopped) return;
      // Read with data(), not dataSync(): a GPU backend would stall the page (TfjsParticipant).
      const vector = await modelToVectorAsync(model);
      const waiter = this.#waiters.shift();
      if (waiter === undefined) this.#ready = vector;
      else waiter(vector);
      onEpoch?.({ baseRound, ms: performance.now() - started });
    }
  }
}
