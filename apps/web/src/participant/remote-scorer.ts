/**
 * Scoring global models off the page's main thread (docs/architecture.md §5.4): a small module
 * Worker (scoring-worker.ts) holds the examples a tab scores on and runs evaluate.ts's `scores`
 * there, so that a million-weight model on 1,000 digits (a second or more of plain JavaScript)
 * never runs on the thread that renders and answers input. On the page, sliced scoring still took
 * about 20 ms of CPU a slice, and among a tab's busy threads those slices were its longest tasks
 * (bench/results/e2e.json).
 *
 * The page sends the examples to score on once (`init`), then each model to score with the set to score it
 * on: `test` (the shared test digits every tab reports accuracy on) or `evaluation` (the shard's
 * held-out examples of a training run). The Worker gets a copy of each model, unless the page
 * hands the array over (moved: no copy). Answers come back in the order asked, one per request.
 */

import { type Scores, scores } from '../evaluate.ts';
import { type MnistData, PIXELS } from '../mnist.ts';

/** The sets of examples a tab scores on, as indices into its MnistData. */
export type ScoringSet = 'test' | 'evaluation';

/** Page → Worker. */
export type ToScorer =
  | {
      readonly kind: 'init';
      /** Dense layer sizes, input first. */
      readonly layers: readonly number[];
      readonly data: MnistData;
      readonly sets: Readonly<Record<ScoringSet, readonly number[]>>;
    }
  | {
      readonly kind: 'score';
      readonly id: number;
      readonly set: ScoringSet;
      readonly model: Float32Array | Float64Array;
    };

/** Worker → page: one answer per `score`, by its id. */
export type FromScorer =
  | { readonly kind: 'scores'; readonly id: number; readonly scores: Scores }
  | { readonly kind: 'failed'; readonly id: number; readonly message: string };

/**
 * The Worker's side, without the Worker: answers one message (undefined for `init`). A `score`
 * before `init` fails with a reason, as does a model of the wrong length (evaluate.ts).
 */
export class ScoringService {
  #init: Extract<ToScorer, { kind: 'init' }> | undefined;

  answer(message: ToScorer): FromScorer | undefined {
    if (message.kind === 'init') {
      this.#init = message;
      return undefined;
    }
    const init = this.#init;
    if (init === undefined) return { kind: 'failed', id: message.id, message: 'scoring worker: no examples yet' };
    try {
      return {
        kind: 'scores',
        id: message.id,
        scores: scores(message.model, init.layers, init.data, init.sets[message.set]),
      };
    } catch (error) {
      return { kind: 'failed', id: message.id, message: error instanceof Error ? error.message : String(error) };
    }
  }
}

/** What RemoteScorer uses of a Worker. */
export type ScorerWorker = Pick<Worker, 'postMessage' | 'terminate' | 'onmessage' | 'onerror'>;

function scoringWorker(): ScorerWorker {
  return new Worker(new URL('./scoring-worker.ts', import.meta.url), { type: 'module', name: 'petfl-scoring' });
}

export interface RemoteScorerOptions {
  readonly layers: readonly number[];
  /** The tab's examples; those the sets name are copied to the Worker once. */
  readonly data: MnistData;
  readonly sets: Readonly<Record<ScoringSet, readonly number[]>>;
  /** Starts the Worker (tests pass their own); default the module Worker scoring-worker.ts. */
  readonly createWorker?: () => ScorerWorker;
}

/**
 * Only the examples the sets name, in a MnistData of their own (moved to the Worker), and the
 * sets renumbered into it: the Worker holds a tab's 1,000-odd scoring digits, not the whole
 * 10,000 of mnist.bin (7.8 MB of pixels).
 */
function examplesOf(
  data: MnistData,
  sets: Readonly<Record<ScoringSet, readonly number[]>>,
): { data: MnistData; sets: Record<ScoringSet, number[]> } {
  const count = sets.test.length + sets.evaluation.length;
  const pixels = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let next = 0;
  const take = (indices: readonly number[]): number[] =>
    indices.map((index) => {
      if (!Number.isInteger(index) || index < 0 || index >= data.count) {
        throw new RangeError(`scoring: example ${index} is not among the ${data.count} examples`);
      }
      pixels.set(data.pixels.subarray(index * PIXELS, (index + 1) * PIXELS), next * PIXELS);
      labels[next] = data.labels[index] as number;
      return next++;
    });
  const renumbered = { test: take(sets.test), evaluation: take(sets.evaluation) };
  return { data: { count, pixels, labels }, sets: renumbered };
}

interface Pending {
  readonly resolve: (scores: Scores) => void;
  readonly reject: (error: Error) => void;
}

/** The page's side of the scoring Worker. */
export class RemoteScorer {
  readonly #worker: ScorerWorker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  /** Why the Worker can no longer answer (it failed, or `stop()`); every later request fails with it. */
  #ended: Error | undefined;

  constructor(options: RemoteScorerOptions) {
    const { data, sets } = examplesOf(options.data, options.sets); // before a Worker starts: it may throw
    this.#worker = (options.createWorker ?? scoringWorker)();
    this.#worker.onmessage = (event: MessageEvent) => this.#receive(event.data as FromScorer);
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#end(new Error(`scoring worker: ${event.message || 'failed to load'}`));
    };
    const init: ToScorer = { kind: 'init', layers: options.layers, data, sets };
    this.#worker.postMessage(init, [data.pixels.buffer, data.labels.buffer]);
  }

  /**
   * The model's loss and accuracy on `set`, scored in the Worker, which gets a copy of `model` —
   * or, `handOver`, the array itself: its buffer moves to the Worker (no copy on this thread; the
   * array is empty afterwards; it must cover its whole buffer).
   */
  scores(model: Float32Array | Float64Array, set: ScoringSet, handOver = false): Promise<Scores> {
    if (this.#ended !== undefined) return Promise.reject(this.#ended);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const request: ToScorer = { kind: 'score', id, set, model };
      this.#worker.postMessage(request, handOver ? [model.buffer as ArrayBuffer] : []);
    });
  }

  /** Ends the Worker; requests still open fail. */
  stop(): void {
    if (this.#ended !== undefined) return;
    this.#worker.terminate();
    this.#end(new Error('scoring worker: stopped'));
  }

  #receive(answer: FromScorer): void {
    const pending = this.#pending.get(answer.id);
    if (pending === undefined) return;
    this.#pending.delete(answer.id);
    if (answer.kind === 'scores') pending.resolve(answer.scores);
    else pending.reject(new Error(answer.message));
  }

  #end(error: Error): void {
    this.#ended ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
