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
 *
 * Each epoch's model comes with its base: the global model (or the initial weights) the training
 * that led to it started from. In a training run the tab sends the update relative to that base
 * (run-contribution.ts), which is not always the coordinator's current global model: an epoch
 * that started from round r's model and ends after round r + 1's came sends an update relative
 * to round r's — a stale update, which the server strategy applies to the newer model all the
 * same (docs/learning.md). A slow tab's stale work still counts, as it does without a run.
 */

import { modelToVectorAsync, type TrainingProgress, vectorToModel } from '@petfl/tfjs';
import type * as tf from '@tensorflow/tfjs';
import { SLICE_MS, yieldToEventLoop } from '../event-loop.ts';

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

/** The model the training of an epoch descends from: a global model, or the initial weights. */
export interface TrainingBase {
  /** The round that produced it; null for the initial weights. */
  readonly roundId: number | null;
  readonly model: Float32Array | Float64Array;
}

/** An epoch's trained weights (`modelToVector` order) and the base its training started from. */
export interface TrainedEpoch {
  readonly weights: Float32Array;
  readonly base: TrainingBase;
}

export class ContinuousTrainer {
  readonly #options: TrainerOptions;
  /** The global model the next epoch starts from (null: go on from the current weights). */
  #next: TrainingBase | null = null;
  /** The model the current weights descend from; null until the first epoch starts. */
  #base: TrainingBase | null = null;
  #epochsLeft = 0;
  /** The latest epoch's model, until an update task takes it. */
  #ready: TrainedEpoch | null = null;
  #running = false;
  #stopped = false;
  readonly #waiters: ((epoch: TrainedEpoch) => void)[] = [];

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
    this.#next = { roundId, model };
    this.#epochsLeft = this.#options.epochs;
    this.#kick();
  }

  /**
   * The latest epoch's model for an update task, handed over once; null while there is none
   * (an epoch is then running or started, and `onEpoch` says when it ended).
   */
  take(): TrainedEpoch | null {
    const ready = this.#ready;
    this.#ready = null;
    if (ready === null && !this.#running) {
      this.#epochsLeft = Math.max(this.#epochsLeft, 1);
      this.#kick();
    }
    return ready;
  }

  /** The next model to hand over: the ready one, else the next epoch's. */
  next(): Promise<TrainedEpoch> {
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
    // Not in the caller's task (e.g. the one delivering a global model): an epoch's first batches
    // would run in it, up to the first yield.
    await yieldToEventLoop();
    while (this.#epochsLeft > 0 && !this.#stopped) {
      const next = this.#next;
      this.#next = null;
      if (next !== null) {
        vectorToModel(model, next.model);
        this.#base = next;
      } else if (this.#base === null) {
        // The first epoch, before any global model: it starts from the initial weights.
        this.#base = { roundId: null, model: await modelToVectorAsync(model) };
      }
      const base = this.#base;
      this.#epochsLeft--;
      const started = performance.now();
      const batches = Math.ceil((data.xs.shape[0] ?? 0) / batchSize);
      // Yield to the thread's event loop after SLICE_MS of batches (tfjs's default is
      // 125 ms: long tasks), through a message-channel task rather than tfjs's animation frame,
      // which waits for the next frame and never comes in a hidden tab (event-loop.ts).
      await model.fit(data.xs, data.ys, {
        epochs: 1,
        batchSize,
        shuffle: true,
        yieldEvery: SLICE_MS,
        callbacks: {
          nextFrameFunc: yieldToEventLoop,
          ...(onProgress === undefined
            ? {}
            : { onBatchEnd: (batch: number) => onProgress({ epoch: 1, epochs: 1, batch: batch + 1, batches }) }),
        },
      });
      if (this.#stopped) return;
      // Read with data(), not dataSync(): a GPU backend would stall the page (TfjsParticipant).
      const epoch: TrainedEpoch = { weights: await modelToVectorAsync(model), base };
      const waiter = this.#waiters.shift();
      if (waiter === undefined) this.#ready = epoch;
      else waiter(epoch);
      onEpoch?.({ baseRound: base.roundId, ms: performance.now() - started });
    }
  }
}
