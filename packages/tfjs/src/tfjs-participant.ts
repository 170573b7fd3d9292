/**
 * TfjsParticipant — a ready ParticipantABC (architecture.md §5.2) for a compiled
 * `tf.LayersModel`. Each update task: the global model (when there is one)
 * becomes the model's weights, the model trains on the local data with
 * `model.fit`, and the trained weights, flattened by `modelToVector`, are the
 * local model. Progress (epoch, batch, loss) goes to `onProgress` for UIs.
 *
 * Data given as tensors belongs to the app and stays alive; data given as a
 * function is made fresh for each round and disposed after it.
 */

import { ParticipantABC } from '@petfl/sdk';
import type * as tf from '@tensorflow/tfjs';
import { CustomCallback } from '@tensorflow/tfjs';
import { modelToVector, modelToVectorAsync, vectorToModel } from './weights.ts';

/** The local training set: inputs and targets, first axis = examples. */
export interface LocalData {
  readonly xs: tf.Tensor;
  readonly ys: tf.Tensor;
}

/** Where training stands, after each batch. Counts are 1-based: batch 3 of 10 in epoch 2 of 5. */
export interface TrainingProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly batch: number;
  readonly batches: number;
  /** The batch's loss, when the model reports one. */
  readonly loss?: number;
}

export interface TfjsParticipantOptions {
  /** A compiled model (`model.compile({ optimizer, loss })`); trained in place each round. */
  readonly model: tf.LayersModel;
  /** The local data; a function is called once per round and its tensors are disposed after training. */
  readonly data: LocalData | (() => LocalData | Promise<LocalData>);
  /** Passed to `model.fit` (epochs, batchSize, shuffle …); its callbacks run besides the progress one. */
  readonly fit?: tf.ModelFitArgs;
  /** Called after each batch. A listener that throws is reported (console.error) and training goes on. */
  readonly onProgress?: (progress: TrainingProgress) => void;
}

type BaseCallback = NonNullable<ConstructorParameters<typeof tf.CallbackList>[0]>[number];

export class TfjsParticipant extends ParticipantABC<Float32Array | Float64Array, tf.LayersModel> {
  readonly model: tf.LayersModel;
  readonly #data: TfjsParticipantOptions['data'];
  readonly #fit: tf.ModelFitArgs;
  readonly #onProgress: ((progress: TrainingProgress) => void) | undefined;
  /** The weights the last `trainRound` ended with, read asynchronously for `serializeTrainingResult`. */
  #trained: { readonly model: tf.LayersModel; readonly vector: Float32Array } | null = null;

  constructor(options: TfjsParticipantOptions) {
    super();
    if (options.model.optimizer === undefined) {
      throw new Error('TfjsParticipant: expected a compiled model (model.compile({ optimizer, loss })), got none');
    }
    this.model = options.model;
    this.#data = options.data;
    this.#fit = options.fit ?? {};
    this.#onProgress = options.onProgress;
  }

  /**
   * Starts from `input` when given (else from the model's current weights), fits on the
   * local data, then reads the trained weights with `data()` (not `dataSync()`): on WebGPU a
   * synchronous read stalls the page, and in headless Chromium's software WebGPU it goes
   * through a canvas the GPU process cannot create, which loses the device for good.
   */
  async trainRound(input: Float32Array | Float64Array | null): Promise<tf.LayersModel> {
    if (input !== null) vectorToModel(this.model, input);
    const owned = typeof this.#data === 'function';
    const data = typeof this.#data === 'function' ? await this.#data() : this.#data;
    try {
      await this.model.fit(data.xs, data.ys, {
        ...this.#fit,
        callbacks: [...userCallbacks(this.#fit.callbacks), this.#progressCallback(data.xs)],
      });
    } finally {
      if (owned) {
        data.xs.dispose();
        data.ys.dispose();
      }
    }
    this.#trained = { model: this.model, vector: await modelToVectorAsync(this.model) };
    return this.model;
  }

  /**
   * The trained weights as one Float32Array (`modelToVector` order), as `trainRound` read them
   * when it ended: a subclass that changes the weights after `super.trainRound()` must override
   * this (README), or its last changes are not sent.
   */
  serializeTrainingResult(result: tf.LayersModel): Float32Array {
    const trained = this.#trained;
    this.#trained = null;
    // A result trainRound did not produce (a subclass's own) is read here, synchronously.
    return trained !== null && trained.model === result ? trained.vector : modelToVector(result);
  }

  /** The global model as is: `trainRound` writes it into the model. */
  deserializeTrainingInput(globalModel: Float32Array | Float64Array): Float32Array | Float64Array {
    return globalModel;
  }

  #progressCallback(xs: tf.Tensor): BaseCallback {
    const fit = this.#fit;
    const epochs = (fit.epochs ?? 1) - (fit.initialEpoch ?? 0);
    // model.fit holds out the last validationSplit of the examples (tfjs-layers training_tensors).
    const examples = xs.shape[0] ?? 0;
    const trained =
      fit.validationData === undefined && fit.validationSplit !== undefined && fit.validationSplit > 0
        ? Math.floor(examples * (1 - fit.validationSplit))
        : examples;
    const batches = fit.stepsPerEpoch ?? Math.ceil(trained / (fit.batchSize ?? 32));
    let epoch = 0;
    return new CustomCallback({
      onEpochBegin: (e) => {
        epoch = e - (fit.initialEpoch ?? 0) + 1;
      },
      onBatchEnd: (batch, logs) => {
        const loss = logs?.['loss'];
        const progress: TrainingProgress =
          typeof loss === 'number'
            ? { epoch, epochs, batch: batch + 1, batches, loss }
            : { epoch, epochs, batch: batch + 1, batches };
        this.#emit(progress);
      },
    });
  }

  #emit(progress: TrainingProgress): void {
    if (this.#onProgress === undefined) return;
    try {
      this.#onProgress(progress);
    } catch (err) {
      // architecture.md §7.4: a UI callback never stops training.
      console.error('TfjsParticipant onProgress threw', err);
    }
  }
}

function userCallbacks(callbacks: tf.ModelFitArgs['callbacks']): BaseCallback[] {
  if (callbacks === undefined) return [];
  const list: unknown[] = Array.isArray(callbacks) ? callbacks : [callbacks];
  return list.map((c) =>
    typeof (c as { setParams?: unknown }).setParams === 'function'
      ? (c as BaseCallback)
      : new CustomCallback(c as tf.CustomCallbackArgs),
  );
}
