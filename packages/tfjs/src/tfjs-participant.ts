/**
 * TfjsParticipant — a ready ParticipantABC (architecture.md §5.2) for a compiled
 * `tf.LayersModel`. Each update task: the global model (when there is one)
 * becomes the model's weights, the model trains on the local data with
 * `model.fit`, and the trained weights, flattened by `modelToVector`, are the
 * local model. Progress (epoch, batch, loss) goes to `onProgress` for UIs.
 *
 * In a training run (the `run` option, fl/training-run.ts) what it masks is the run's vector
 * (docs/learning.md §2): the update y − x from the global model x, SCAFFOLD's control-variate
 * delta, and the evaluation of x on the participant's validation data, built by
 * `encodeContribution`; local training is FedAvg's, FedProx's or SCAFFOLD's (fl/).
 *
 * With the `dpSgd` option local training is DP-SGD (privacy/dp-sgd-rounds.ts, docs/privacy.md §4)
 * instead of `model.fit`, in every algorithm: FedProx's and SCAFFOLD's corrections hook the
 * optimizer's `applyGradients`, which DP-SGD applies its noisy gradient through, and they depend
 * only on the weights, the global model and cᵢ — all released already — so they add no privacy
 * cost (post-processing).
 *
 * Data given as tensors belongs to the app and stays alive; data given as a
 * function is made fresh for each round and disposed after it.
 */

import { type Evaluation, encodeContribution, globalLength, handOver, ParticipantABC, splitGlobal } from '@petfl/sdk';
import type * as tf from '@tensorflow/tfjs';
import { CustomCallback } from '@tensorflow/tfjs';
import { evaluateModel } from './fl/evaluation.ts';
import { proximalCorrection } from './fl/fedprox.ts';
import { trainWithCorrection } from './fl/gradient-correction.ts';
import { type LocalData, type LocalDataSource, withLocalData } from './fl/local-data.ts';
import { ScaffoldClient, sgdLearningRate } from './fl/scaffold.ts';
import { trainableSlices } from './fl/trainable-slices.ts';
import { type CheckedRun, checkTrainingRun, type TrainingRun, TrainingRunError } from './fl/training-run.ts';
import { DpSgdRounds, type DpSgdStatus, type DpSgdTraining } from './privacy/dp-sgd-rounds.ts';
import { modelToVector, modelToVectorAsync, vectorToModel } from './weights.ts';

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
  readonly data: LocalDataSource;
  /**
   * Passed to `model.fit` (epochs, batchSize, shuffle …); its callbacks run besides the progress one.
   * FedProx and SCAFFOLD train through `model.fit` too, with every option as here.
   */
  readonly fit?: tf.ModelFitArgs;
  /** Called after each batch. A listener that throws is reported (console.error) and training goes on. */
  readonly onProgress?: (progress: TrainingProgress) => void;
  /**
   * The training run this participant takes part in (README, "Training runs"). Without it, or with
   * a layout that sends the model and declares no metrics, the participant sends its trained weights
   * as they are.
   */
  readonly run?: TrainingRun;
  /**
   * Train each round with DP-SGD instead of `model.fit` (README, "DP-SGD"): the settings, the
   * ledger to resume from and where to persist it. `fit` may then only set `batchSize` (for the
   * evaluation of the global model). A round the budget allows no step in is sat out
   * (`DpSgdBudgetError`, reported by the SDK as `snapshot.lastError`).
   */
  readonly dpSgd?: DpSgdTraining;
}

type BaseCallback = NonNullable<ConstructorParameters<typeof tf.CallbackList>[0]>[number];

export class TfjsParticipant extends ParticipantABC<Float32Array | Float64Array, tf.LayersModel> {
  readonly model: tf.LayersModel;
  readonly #data: LocalDataSource;
  readonly #fit: tf.ModelFitArgs;
  readonly #onProgress: ((progress: TrainingProgress) => void) | undefined;
  /** The checked run; undefined without one, or when it asks for the plain model (send "model", no metrics). */
  readonly #run: CheckedRun | undefined;
  /** SCAFFOLD's client state cᵢ, kept across rounds in memory (fl/scaffold.ts). */
  readonly #scaffold: ScaffoldClient | undefined;
  /** DP-SGD's settings and ledger, kept across rounds in memory; undefined without `dpSgd`. */
  readonly #dpSgd: DpSgdRounds | undefined;
  /**
   * What the last `trainRound` produced for `serializeTrainingResult`: the trained weights (read
   * asynchronously), or in a run the whole masked vector.
   */
  #trained: { readonly model: tf.LayersModel; readonly vector: Float32Array } | null = null;
  /** A trainRound is running (one at a time). */
  #training = false;

  constructor(options: TfjsParticipantOptions) {
    super();
    if (options.model.optimizer === undefined) {
      throw new Error('TfjsParticipant: expected a compiled model (model.compile({ optimizer, loss })), got none');
    }
    this.model = options.model;
    this.#data = options.data;
    this.#fit = options.fit ?? {};
    this.#onProgress = options.onProgress;
    this.#dpSgd = options.dpSgd === undefined ? undefined : new DpSgdRounds(options.dpSgd, options.model, options.fit);
    const run = options.run === undefined ? undefined : checkTrainingRun(options.run, options.model);
    if (run?.algorithm.kind === 'scaffold') {
      sgdLearningRate(options.model.optimizer); // refuse a wrong optimizer now, not in the first round
      this.#scaffold = new ScaffoldClient(run.layout.modelLength);
    }
    this.#run = run !== undefined && (run.layout.send === 'update' || run.layout.metrics.length > 0) ? run : undefined;
  }

  /**
   * Where the DP-SGD budget stands: the ledger, its ε, the latest round's result and whether that
   * round was sat out. Undefined without the `dpSgd` option.
   */
  get dpSgdStatus(): DpSgdStatus | undefined {
    return this.#dpSgd?.status;
  }

  /**
   * Starts from `input` when given (else from the model's current weights), fits on the
   * local data, then reads the trained weights with `data()` (not `dataSync()`): on WebGPU a
   * synchronous read stalls the page, and in headless Chromium's software WebGPU it goes
   * through a canvas the GPU process cannot create, which loses the device for good.
   *
   * In a training run `input` is the served global model [x | c] (`globalLength(layout)` values):
   * x is evaluated first (when the layout has metrics), then the model trains from x with the
   * run's algorithm, and the masked vector is built (`serializeTrainingResult` returns it).
   */
  async trainRound(input: Float32Array | Float64Array | null): Promise<tf.LayersModel> {
    // One model trains one round at a time: a round whose task comes while the last one is still
    // training is skipped (it could not be ready in time), rather than overwriting the weights
    // under the running fit.
    if (this.#training) {
      throw new TrainingRunError('trainRound: the previous round is still training; this round is skipped');
    }
    this.#training = true;
    try {
      const run = this.#run;
      if (run !== undefined) return await this.#trainRun(run, input);
      if (input !== null) vectorToModel(this.model, input);
      await this.#trainLocal();
      this.#trained = { model: this.model, vector: await modelToVectorAsync(this.model) };
      return this.model;
    } finally {
      this.#training = false;
    }
  }

  /**
   * The trained weights as one Float32Array (`modelToVector` order), as `trainRound` read them
   * when it ended: a subclass that changes the weights after `super.trainRound()` must override
   * this (README), or its last changes are not sent.
   *
   * In a training run: the masked vector `trainRound` built (`maskedLength(layout)` values), for
   * the model `trainRound` returned; the same until the next `trainRound`. Otherwise the vector is
   * kept by nobody here, so it is handed over to the SDK (`handOver`): in Worker mode it moves to
   * the Worker without a copy, and the array is empty afterwards (an override that keeps it must
   * copy it).
   */
  serializeTrainingResult(result: tf.LayersModel): Float32Array {
    const trained = this.#trained;
    if (this.#run !== undefined) {
      if (trained === null || trained.model !== result) {
        throw new TrainingRunError(
          'serializeTrainingResult: in a training run, expected the model a finished trainRound returned',
        );
      }
      return trained.vector;
    }
    this.#trained = null;
    // A result trainRound did not produce (a subclass's own) is read here, synchronously.
    return handOver(trained !== null && trained.model === result ? trained.vector : modelToVector(result));
  }

  /** The global model as is: `trainRound` writes it into the model. */
  deserializeTrainingInput(globalModel: Float32Array | Float64Array): Float32Array | Float64Array {
    return globalModel;
  }

  /**
   * The coordinator accepted this round's update: SCAFFOLD's cᵢ moves by the Δc it carried
   * (fl/scaffold.ts; docs/learning.md §3.2). A subclass that overrides this calls `super`.
   */
  override onUpdateAccepted(roundId: number): void {
    super.onUpdateAccepted(roundId);
    this.#scaffold?.accept();
  }

  /** One round of a training run; see trainRound. */
  async #trainRun(run: CheckedRun, input: Float32Array | Float64Array | null): Promise<tf.LayersModel> {
    const { layout, algorithm } = run;
    this.#trained = null;
    if (input !== null && input.length !== globalLength(layout)) {
      throw new TrainingRunError(
        `global model: expected ${globalLength(layout)} values (the run layout's globalLength), got ${input.length}`,
      );
    }
    const global = input === null ? undefined : splitGlobal(layout, input);
    if (global === undefined && layout.send === 'update') {
      throw new TrainingRunError(
        'global model: expected one to train from (the run sends updates relative to it), got none yet',
      );
    }
    if (global !== undefined) vectorToModel(this.model, global.model);
    // Metrics describe the global model, so they are taken before training moves away from it.
    let evaluation: Evaluation | null | undefined;
    if (layout.metrics.length > 0) evaluation = global === undefined ? null : await this.#evaluate(layout.metrics);

    // x as loaded: the model's weights are float32, so a float64 global model is compared at the
    // precision the training started from (else untrained weights would send rounding residue).
    const x = global === undefined ? undefined : Float32Array.from(global.model);
    /** SCAFFOLD's control update, once the trained weights y are read. */
    let controlUpdate: ((y: Float32Array) => Float64Array) | undefined;
    if (algorithm.kind === 'fedavg' || x === undefined) {
      await this.#trainLocal();
    } else if (algorithm.kind === 'fedprox') {
      const proximal = proximalCorrection(trainableSlices(this.model), x, algorithm.mu);
      try {
        await trainWithCorrection(this.model.optimizer, proximal.correct, () => this.#trainLocal());
      } finally {
        proximal.dispose();
      }
    } else {
      const scaffold = this.#scaffold as ScaffoldClient; // made in the constructor for scaffold
      const rate = sgdLearningRate(this.model.optimizer); // again: the app may have recompiled
      const c = global?.control as Float32Array | Float64Array; // the layout has control variates
      const slices = trainableSlices(this.model);
      scaffold.resume(x); // a Δc never accepted dropped; an accepted one undone if its round never completed
      const correction = scaffold.correction(slices, c);
      let steps: number;
      try {
        ({ steps } = await trainWithCorrection(this.model.optimizer, correction.correct, () => this.#trainLocal()));
      } finally {
        correction.dispose();
      }
      controlUpdate = (y) => scaffold.update(slices, x, y, c, steps, rate);
    }
    const y = await modelToVectorAsync(this.model);
    this.#trained = { model: this.model, vector: this.#encode(run, y, x, controlUpdate?.(y), evaluation) };
    return this.model;
  }

  /**
   * The masked vector: the update y − x (or the model y), Δc and the evaluation, by the layout.
   * Computed in float64, handed out as float32 like the weights without a run (the type of
   * `serializeTrainingResult` stays the same): each entry is rounded to the precision the
   * model's weights have anyway (relative 2⁻²⁴).
   */
  #encode(
    run: CheckedRun,
    y: Float32Array,
    x: Float32Array | Float64Array | undefined,
    controlDelta: Float64Array | undefined,
    evaluation: Evaluation | null | undefined,
  ): Float32Array {
    let model: ArrayLike<number> = y;
    if (run.layout.send === 'update') {
      const update = new Float64Array(y.length);
      const from = x as Float32Array | Float64Array; // trainRun refuses an update run without x
      for (let i = 0; i < update.length; i++) update[i] = (y[i] as number) - (from[i] as number);
      model = update;
    }
    const contribution = {
      model,
      ...(controlDelta === undefined ? {} : { controlDelta }),
      ...(evaluation === undefined ? {} : { evaluation }),
    };
    return Float32Array.from(encodeContribution(run.layout, contribution, run.scalar));
  }

  /** The model as it is now (the global model) on the evaluation data; null without any. */
  async #evaluate(metrics: readonly string[]): Promise<Evaluation | null> {
    const source = this.#run?.evaluationData;
    if (source === undefined) return null;
    return withLocalData(source, (data) => evaluateModel(this.model, data, metrics, this.#fit.batchSize));
  }

  /**
   * This round's local training: DP-SGD with the `dpSgd` option (one optimizer step per DP-SGD
   * step, so SCAFFOLD's K counts them), else `model.fit` with the app's callbacks and the
   * progress one.
   */
  async #trainLocal(): Promise<void> {
    const dpSgd = this.#dpSgd;
    if (dpSgd !== undefined) {
      // No loss in the progress: a loss on the data would be released outside the noise.
      await withLocalData(this.#data, (data) => dpSgd.train(this.model, data, (p) => this.#emit(p)));
      return;
    }
    await withLocalData(this.#data, async (data: LocalData) => {
      await this.model.fit(data.xs, data.ys, {
        ...this.#fit,
        callbacks: [...userCallbacks(this.#fit.callbacks), this.#progressCallback(data.xs)],
      });
    });
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
