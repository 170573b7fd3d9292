/**
 * The messages between the participant page and its training Worker (training-worker.ts, driven
 * by remote-trainer.ts). The Worker owns TensorFlow.js: it picks the backend, builds the model and
 * the shard's tensors, and runs the page's `ContinuousTrainer` (trainer.ts); the page sends it
 * global models and asks for epochs, and it answers with each epoch's weights as the epoch ends.
 *
 * Models cross by move, never by copy on the page's thread (a million-weight model is 4–8 MB, and
 * a copy of that was one of the page's longest tasks, bench/results/e2e.json): the page moves each
 * global model it gets to the Worker, and the Worker makes the copies the page needs and moves them
 * back — one of each global model, for the page to score, and one of each base with the first
 * epoch trained from it.
 *
 * Bases are named by number across the boundary: the page numbers each global model it sends
 * (1, 2, …), so an epoch that comes back names its base by number, and the page keeps the base
 * copy it got under that number (run-contribution.ts evaluates each base once, keyed by the
 * array). Base 0 is the initial weights.
 */

import type { BackendSelection, TrainingProgress } from '@petfl/tfjs';

/** TensorFlow.js's tensor bookkeeping in the Worker (`tf.memory()`). */
export interface TrainingMemory {
  readonly numTensors: number;
  readonly numBytes: number;
}

/** Page → Worker. */
export type ToTrainer =
  | {
      readonly kind: 'init';
      /** Dense layer sizes, input first. */
      readonly layers: readonly number[];
      /** Backends to try, in order (the page's `backends=`). */
      readonly backends: readonly string[];
      /** The wasm backend's files, as URLs the Worker can fetch. */
      readonly wasmPaths: Readonly<Record<string, string>>;
      /** The page's remembered backend choices (localStorage, which a Worker has not): key → value. */
      readonly remembered: Readonly<Record<string, string>>;
      /** The training examples: `count` × 784 pixels in 0..1, and one-hot labels `count` × 10. */
      readonly xs: Float32Array;
      readonly ys: Float32Array;
      readonly count: number;
      readonly epochs: number;
      readonly batchSize: number;
    }
  | { readonly kind: 'start' }
  /**
   * A new global model, numbered by the page (≥ 1): the next epochs start from it. Its buffer is
   * moved (transferred): the page keeps nothing of it, and gets a copy back (`global-copy`).
   */
  | {
      readonly kind: 'global';
      readonly id: number;
      readonly roundId: number | null;
      readonly model: Float32Array | Float64Array;
    }
  /** An update task found no epoch ready: start one more unless one is running (`ContinuousTrainer.take`). */
  | { readonly kind: 'want' }
  | { readonly kind: 'stop' };

/** Worker → page. */
export type FromTrainer =
  | {
      readonly kind: 'ready';
      readonly selection: BackendSelection;
      /** The model's weight count, as TensorFlow.js counts it. */
      readonly weights: number;
      readonly memory: TrainingMemory;
    }
  /** A measured backend choice to remember in the page's localStorage. */
  | { readonly kind: 'remember'; readonly key: string; readonly value: string }
  | { readonly kind: 'progress'; readonly progress: TrainingProgress }
  /** A copy of global model `id`, made here and moved to the page (which scores it). */
  | { readonly kind: 'global-copy'; readonly id: number; readonly model: Float32Array | Float64Array }
  | {
      readonly kind: 'epoch';
      /** The trained weights (`modelToVector` order); the buffer is transferred. */
      readonly weights: Float32Array;
      /** The base's number (0: the initial weights) and the round that produced it. */
      readonly baseId: number;
      readonly baseRound: number | null;
      /** The base's weights, with the first epoch trained from it: a copy made here, moved to the page. */
      readonly base?: Float32Array | Float64Array;
      readonly ms: number;
      readonly memory: TrainingMemory;
    }
  /** The Worker could not start (no usable backend, a model of the wrong size, …). */
  | { readonly kind: 'failed'; readonly name: string; readonly message: string };
