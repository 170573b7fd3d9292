/**
 * The page's side of its training Worker (training-worker.ts; messages: training-messages.ts):
 * what main.ts called on the `ContinuousTrainer` when the page trained on its own main thread —
 * `start`, `newGlobalModel`, `take`, `next`, `stop` — with the same meaning, while TensorFlow.js
 * runs in the Worker. Each epoch's weights arrive the moment the epoch ends and wait here, so
 * `take` stays synchronous for an update task; when none is waiting, `take` asks the Worker to
 * train one more epoch unless one is running, as `ContinuousTrainer.take` does.
 *
 * Global models move to the Worker (no copy on the page's thread); the Worker moves back a copy
 * of each, which `newGlobalModel` resolves with, and a copy of each epoch's base with the first
 * epoch trained from it (training-messages.ts).
 */

import { type BackendSelection, CHOICE_KEY_PREFIX, type TrainingProgress } from '@petfl/tfjs';
import type { EpochEnd, TrainedEpoch, TrainingBase } from './trainer.ts';
import type { FromTrainer, ToTrainer, TrainingMemory } from './training-messages.ts';

export interface RemoteTrainerOptions {
  readonly layers: readonly number[];
  readonly backends: readonly string[];
  readonly wasmPaths: Readonly<Record<string, string>>;
  /** The training examples (mnist.ts `exampleArrays`); their buffers are transferred. */
  readonly xs: Float32Array;
  readonly ys: Float32Array;
  readonly count: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly onProgress?: (progress: TrainingProgress) => void;
  readonly onEpoch?: (epoch: EpochEnd) => void;
  /** The Worker failed after it started (a training error); before, `create` rejects instead. */
  readonly onError?: (error: Error) => void;
  /** Starts the Worker (tests pass a fake); default the module Worker training-worker.ts. */
  readonly createWorker?: () => TrainerWorker;
}

/** What this class uses of a Worker. */
export type TrainerWorker = Pick<Worker, 'postMessage' | 'terminate' | 'onmessage' | 'onerror'>;

function trainingWorker(): TrainerWorker {
  return new Worker(new URL('./training-worker.ts', import.meta.url), { type: 'module', name: 'petfl-training' });
}

/** How many global models back the page keeps a base for: an epoch names one it trained from lately. */
const KEPT_BASES = 8;

export class RemoteTrainer {
  readonly #worker: TrainerWorker;
  readonly #options: RemoteTrainerOptions;
  /** The bases epochs came from, as the Worker sent them: 0 the initial weights, n ≥ 1 the global models sent. */
  readonly #bases = new Map<number, TrainingBase>();
  #nextBaseId = 1;
  /** `newGlobalModel` calls waiting for the Worker's copy, by base number. */
  readonly #copies = new Map<number, { resolve(model: Float32Array | Float64Array): void; reject(e: Error): void }>();
  #ready: TrainedEpoch | null = null;
  readonly #waiters: ((epoch: TrainedEpoch) => void)[] = [];
  #memory: TrainingMemory = { numTensors: 0, numBytes: 0 };
  #stopped = false;

  private constructor(worker: TrainerWorker, options: RemoteTrainerOptions) {
    this.#worker = worker;
    this.#options = options;
  }

  /**
   * Starts the Worker and waits until it has chosen its backend and built the model; rejects
   * with the Worker's error (no usable backend, …). Training starts with `start()`.
   */
  static async create(
    options: RemoteTrainerOptions,
  ): Promise<{ trainer: RemoteTrainer; selection: BackendSelection; weights: number }> {
    const worker = (options.createWorker ?? trainingWorker)();
    const trainer = new RemoteTrainer(worker, options);
    const ready = new Promise<{ selection: BackendSelection; weights: number }>((resolve, reject) => {
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        const error = new Error(`training worker: ${event.message || 'failed to load'}`);
        if (trainer.#started) options.onError?.(error);
        else reject(error);
      };
      worker.onmessage = (event: MessageEvent) => {
        const message = event.data as FromTrainer;
        if (message.kind === 'ready') {
          trainer.#memory = message.memory;
          trainer.#started = true;
          resolve({ selection: message.selection, weights: message.weights });
        } else if (message.kind === 'failed') {
          const error = Object.assign(new Error(message.message), { name: message.name });
          if (trainer.#started) options.onError?.(error);
          else reject(error);
        } else {
          trainer.#receive(message);
        }
      };
    });
    const { xs, ys } = options;
    trainer.#post(
      {
        kind: 'init',
        layers: options.layers,
        backends: options.backends,
        wasmPaths: options.wasmPaths,
        remembered: rememberedChoices(),
        xs,
        ys,
        count: options.count,
        epochs: options.epochs,
        batchSize: options.batchSize,
      },
      [xs.buffer, ys.buffer],
    );
    try {
      const { selection, weights } = await ready;
      return { trainer, selection, weights };
    } catch (error) {
      worker.terminate();
      throw error;
    }
  }

  #started = false;

  /** TensorFlow.js's tensor count and bytes in the Worker, as of its last epoch (or of its start). */
  memory(): TrainingMemory {
    return this.#memory;
  }

  /** Starts training from the model's current weights (the shared initial model). */
  start(): void {
    this.#post({ kind: 'start' });
  }

  /**
   * A new global model: the next epochs start from it. The model is handed over: its buffer moves
   * to the Worker and the array is empty afterwards (a view on part of a buffer is copied first).
   * Resolves with a copy the Worker made, the page's to keep or hand on; rejects once stopped.
   */
  newGlobalModel(model: Float32Array | Float64Array, roundId: number | null): Promise<Float32Array | Float64Array> {
    if (this.#stopped) return Promise.reject(new Error('training worker: stopped'));
    const id = this.#nextBaseId++;
    const whole = model.byteOffset === 0 && model.byteLength === model.buffer.byteLength;
    const moved = whole && model.buffer instanceof ArrayBuffer ? model : model.slice();
    const copy = new Promise<Float32Array | Float64Array>((resolve, reject) =>
      this.#copies.set(id, { resolve, reject }),
    );
    this.#post({ kind: 'global', id, roundId, model: moved }, [moved.buffer as ArrayBuffer]);
    return copy;
  }

  /**
   * The latest epoch's model for an update task, handed over once; null while there is none
   * (the Worker then trains one more epoch unless one is running, and `onEpoch` says when it ended).
   */
  take(): TrainedEpoch | null {
    const ready = this.#ready;
    this.#ready = null;
    if (ready === null) this.#post({ kind: 'want' });
    return ready;
  }

  /** The next model to hand over: the ready one, else the next epoch's. */
  next(): Promise<TrainedEpoch> {
    const ready = this.take();
    if (ready !== null) return Promise.resolve(ready);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Stops training for good and ends the Worker (as `ContinuousTrainer.stop`, final). */
  stop(): void {
    if (this.#stopped) return;
    this.#post({ kind: 'stop' });
    this.#stopped = true;
    this.#worker.terminate();
    for (const { reject } of this.#copies.values()) reject(new Error('training worker: stopped'));
    this.#copies.clear();
  }

  #post(message: ToTrainer, transfer: Transferable[] = []): void {
    if (this.#stopped) return;
    this.#worker.postMessage(message, transfer);
  }

  #receive(message: FromTrainer): void {
    switch (message.kind) {
      case 'progress':
        this.#options.onProgress?.(message.progress);
        break;
      case 'remember':
        try {
          localStorage.setItem(message.key, message.value);
        } catch {
          // storage full or refused: measured again next time
        }
        break;
      case 'global-copy': {
        const waiting = this.#copies.get(message.id);
        this.#copies.delete(message.id);
        waiting?.resolve(message.model);
        break;
      }
      case 'epoch': {
        this.#memory = message.memory;
        if (message.base !== undefined) {
          this.#bases.set(message.baseId, { roundId: message.baseRound, model: message.base });
          this.#bases.delete(message.baseId - KEPT_BASES);
        }
        const base = this.#bases.get(message.baseId);
        if (base === undefined) {
          this.#options.onError?.(
            new Error(`training worker: an epoch from base ${message.baseId}, which the page no longer keeps`),
          );
          return;
        }
        const epoch: TrainedEpoch = { weights: message.weights, base };
        const waiter = this.#waiters.shift();
        if (waiter === undefined) this.#ready = epoch;
        else waiter(epoch);
        this.#options.onEpoch?.({ baseRound: message.baseRound, ms: message.ms });
        break;
      }
      case 'ready':
      case 'failed':
        break; // handled in create
    }
  }
}

/** The backend choices remembered in this browser (`selectBackend`'s keys), for the Worker, which has no localStorage. */
function rememberedChoices(): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (key === null || !key.startsWith(CHOICE_KEY_PREFIX)) continue;
      const value = localStorage.getItem(key);
      if (value !== null) out[key] = value;
    }
  } catch {
    // access refused (an opaque origin): nothing remembered
  }
  return out;
}
