/**
 * The participant page: trains the demo's dense MNIST model (or another of
 * the `model=` page parameter's, params.ts; the page shows which) on this
 * tab's shard and joins the coordinator's rounds with the SDK's runtime — in
 * Worker mode by default (`@petfl/sdk/worker`: masking, sealing and HTTP off the main
 * thread), `mode=direct` for the main-thread runtime. Training itself
 * (TensorFlow.js) runs in a Worker of its own (training-worker.ts, through
 * remote-trainer.ts), so that no training batch holds the page's main thread,
 * on the backend `selectBackend` found fastest for this model (timed once per
 * browser and remembered; the timings are shown), and in the AsyncParticipant
 * style (trainer.ts): the tab trains whenever a new global model comes, and
 * each epoch's end sets the local model the next update task takes. Every
 * global model is scored on the held-out test set (in a third Worker,
 * remote-scorer.ts) and charted.
 *
 * In a training run (`GET /run` names one: `npm start -- --strategy fedadam`, docs/learning.md)
 * the tab holds out a slice of its shard (demo.ts EVALUATION_SHARE), trains on the rest, and
 * sends what the run's layout asks for instead of its weights (run-contribution.ts): its update
 * relative to the global model its epoch trained from, and its loss and accuracy of that global
 * model on the held-out slice. Without a run it behaves exactly as before: nothing held out, the
 * weights sent.
 *
 * The data-testids and `window.__petfl` (apps/web/test-hooks/hook.ts) are a
 * contract with the e2e tests: keep them stable. The hook and the benchmark-only
 * `mode=plain` live outside src/ (apps/web/test-hooks/) and are loaded only in
 * the dev server and in e2e builds (`vite build --mode e2e`): see
 * `loadTestHooks`.
 */

import { decodeGlobalModel } from '@petfl/core';
import {
  CoordinatorRejectedError,
  CoordinatorUnavailableError,
  createParticipantRuntime,
  fetchRunInfo,
  handOver,
  ParticipantABC,
  type ParticipantHandle,
  type ParticipantOptions,
  type ParticipantRuntime,
  type RunInfo,
  type RuntimeCallbacks,
} from '@petfl/sdk';
import { workerRuntimeFactory } from '@petfl/sdk/worker';
import type { BackendSelection } from '@petfl/tfjs';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { drawAccuracyChart, type Point } from '../chart.ts';
import { BATCH_SIZE, denseWeightCount, EVALUATION_SHARE } from '../demo.ts';
import {
  decodeMnist,
  dominantLabels,
  exampleArrays,
  holdOut,
  labelHistogram,
  type MnistData,
  shardIndices,
  splitTestPool,
} from '../mnist.ts';
import { modelLength, ParamsError, type ParticipantParams, participantParams } from '../params.ts';
import { inPlainWords } from '../plain-words.ts';
import { RemoteScorer } from './remote-scorer.ts';
import { RemoteTrainer } from './remote-trainer.ts';
import { RunContributor, tabRunProblem } from './run-contribution.ts';
import type { TrainedEpoch } from './trainer.ts';
import '../style.css';

/** The wasm backend's files, as absolute URLs: the training Worker fetches them. */
const WASM_PATHS = Object.fromEntries(
  Object.entries({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  }).map(([name, url]) => [name, new URL(url, location.href).href]),
);

function byTestId<T extends Element = HTMLElement>(id: string): T {
  const node = document.querySelector(`[data-testid="${id}"]`);
  if (node === null) throw new Error(`participant.html: no element with data-testid="${id}"`);
  return node as unknown as T;
}

function setText(id: string, text: string): void {
  const node = byTestId(id);
  if (node.textContent !== text) node.textContent = text;
}

function kib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/** How often the participant asks the coordinator what's new: 100 ms, backing off to 1 s while nothing changes. */
const POLL = { pollMs: 100, maxPollMs: 1000 } as const;

type TestHooks = typeof import('../../test-hooks/index.ts');

/**
 * The test-only additions (apps/web/test-hooks/: the `window.__petfl` hook and the
 * benchmark-only `mode=plain`), in the Vite dev server and in e2e builds
 * (`vite build --mode e2e`, e2e/support/web-app.ts) only. `import.meta.env.DEV` and
 * `import.meta.env.MODE` are constants at build time: a production build drops
 * the `import()` and ships none of that code.
 */
function loadTestHooks(): Promise<TestHooks | undefined> {
  return import.meta.env.DEV || import.meta.env.MODE === 'e2e'
    ? import('../../test-hooks/index.ts')
    : Promise.resolve(undefined);
}

const globalModels: Point[] = [];
let handle: ParticipantHandle | undefined;

function showError(text: string, title = ''): void {
  const node = byTestId('last-error');
  node.textContent = text;
  node.title = title;
}

/**
 * A new global model to the trainer, and the copy its Worker sends back to `onCopy` (for
 * scoring): no copy of a million weights on this thread (docs/architecture.md §5.4). `owned`:
 * the array is the page's own (Worker mode, where the SDK moves each global model here); the
 * direct-mode runtime's array is its own, so the page copies that one first.
 */
function toTrainer(
  trainer: RemoteTrainer,
  model: Float32Array | Float64Array,
  roundId: number | null,
  owned: boolean,
  onCopy: (copy: Float32Array | Float64Array) => void,
): void {
  trainer.newGlobalModel(owned ? model : model.slice(), roundId).then(onCopy, () => {
    // the trainer stopped (the page is closing): nothing to score
  });
}

/**
 * The runtime's callbacks over the trainer (the AsyncParticipant's model cache, with the
 * round each model went to known exactly, for the test hook): an update task takes the
 * latest epoch's model, or waits (the snapshot shows training) until an epoch ends. In a
 * training run `contribute` turns the epoch into the run's vector (run-contribution.ts).
 * Either way the vector is the page's to give: it is handed over (`handOver`), so in Worker
 * mode it moves to the SDK's Worker without a copy.
 */
function trainerCallbacks(
  trainer: RemoteTrainer,
  ownsGlobal: boolean,
  onGlobal: (model: Float32Array | Float64Array, roundId: number) => void,
  onSubmitted: ((roundId: number, vector: Float32Array) => void) | undefined,
  contribute: ((epoch: TrainedEpoch) => Promise<Float32Array>) | undefined,
): RuntimeCallbacks {
  return {
    async localModel(roundId, runtime) {
      const epoch = trainer.take();
      runtime.setTraining(epoch === null);
      if (epoch === null) return undefined; // asked again once an epoch ends (runtime.wake())
      const vector = contribute === undefined ? epoch.weights : await contribute(epoch);
      onSubmitted?.(roundId, vector);
      return handOver(vector);
    },
    onGlobalModel(global) {
      toTrainer(trainer, global.model, global.roundId, ownsGlobal, (copy) => onGlobal(copy, global.roundId));
    },
    onStop: () => trainer.stop(),
  };
}

/**
 * BENCHMARK ONLY (`mode=plain`, test-hooks/plain.ts): the same trainer as a ParticipantABC, so
 * the plain-averaging tabs train exactly as the secure ones do.
 */
class PlainTrainerParticipant extends ParticipantABC<Float32Array | Float64Array, Float32Array> {
  readonly #trainer: RemoteTrainer;
  readonly #onGlobal: (model: Float32Array | Float64Array) => void;
  readonly #onSubmitted: ((roundId: number, vector: Float32Array) => void) | undefined;

  constructor(
    trainer: RemoteTrainer,
    onGlobal: (model: Float32Array | Float64Array) => void,
    onSubmitted: ((roundId: number, vector: Float32Array) => void) | undefined,
  ) {
    super();
    this.#trainer = trainer;
    this.#onGlobal = onGlobal;
    this.#onSubmitted = onSubmitted;
  }

  async trainRound(): Promise<Float32Array> {
    return (await this.#trainer.next()).weights;
  }

  serializeTrainingResult(result: Float32Array): Float32Array {
    this.#onSubmitted?.(handle?.getSnapshot().roundId ?? -1, result);
    return result;
  }

  deserializeTrainingInput(globalModel: Float32Array | Float64Array): Float32Array | Float64Array {
    return globalModel;
  }

  override onNewGlobalModel(model: Float32Array | Float64Array | null): void {
    if (model === null) return;
    toTrainer(this.#trainer, model, null, false, (copy) => this.#onGlobal(copy));
  }
}

/** The round that produced `model`: the coordinator's `GET /model` header, when it is still that model. */
async function producingRound(coordinator: string, model: Float32Array | Float64Array): Promise<number> {
  const fallback = Math.max(0, (handle?.getSnapshot().roundId ?? 1) - 1);
  try {
    const res = await fetch(`${coordinator}/model`);
    if (res.status !== 200) return fallback;
    const global = decodeGlobalModel(new Uint8Array(await res.arrayBuffer()));
    if (global.model.length !== model.length) return fallback;
    for (let i = 0; i < model.length; i++) if (global.model[i] !== model[i]) return fallback;
    return global.roundId;
  } catch {
    return fallback;
  }
}

function renderAccuracy(): void {
  globalModels.sort((a, b) => a.roundId - b.roundId);
  drawAccuracyChart(byTestId<SVGSVGElement>('accuracy-chart'), globalModels);
  const latest = globalModels[globalModels.length - 1];
  setText('accuracy-latest', latest === undefined ? '' : latest.accuracy.toFixed(4));
  setText('accuracy-rounds', latest === undefined ? '' : `after round ${latest.roundId}`);
}

function renderSnapshot(): void {
  if (handle === undefined) return;
  const s = handle.getSnapshot();
  setText('participant-id', s.participantPk);
  setText('round-id', s.roundId === null ? '' : String(s.roundId));
  setText('phase', s.phase);
  setText('task', s.task);
  setText('bytes-sent', String(s.bytesSent));
  setText('bytes-sent-human', kib(s.bytesSent));
  if (s.lastError === null) showError('');
  else
    showError(
      `${s.lastError.roundId === null ? '' : `Round ${s.lastError.roundId}: `}${inPlainWords(s.lastError)}`,
      `${s.lastError.code}: ${s.lastError.message}`,
    );
}

function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`;
}

/** The backend chosen, the training-step timings it was chosen by, and why the others were not. */
function renderBackend(selection: BackendSelection): void {
  setText('backend', selection.backend);
  const timings = byTestId('backend-timings');
  timings.replaceChildren(
    ...selection.timings.map((t) => {
      const li = document.createElement('li');
      li.dataset['backend'] = t.backend;
      const device = t.device === undefined ? '' : ` (${t.device})`;
      li.textContent = `${t.backend}: ${formatMs(t.msPerStep)} per step of ${BATCH_SIZE}${device}`;
      return li;
    }),
  );
  setText(
    'backend-source',
    {
      measured: 'timed now on a training step of this model; remembered for this browser',
      remembered: 'remembered from an earlier visit (same browser and model): not timed again',
      first: 'the first that passed its self-check',
    }[selection.source],
  );
  const skipped = byTestId('backend-skipped');
  skipped.replaceChildren(
    ...selection.skipped.map((s) => {
      const li = document.createElement('li');
      li.textContent = `${s.backend}: ${s.reason}`;
      return li;
    }),
  );
  if (selection.skipped.length === 0) skipped.textContent = 'none';
}

/**
 * The coordinator's training run (`GET /run`), or null: asked until the coordinator answers, as
 * the runtime would wait for it. A coordinator from before training runs answers 404: no run.
 */
async function trainingRun(coordinator: string): Promise<RunInfo | null> {
  for (let waitMs = 250; ; waitMs = Math.min(2 * waitMs, 4000)) {
    try {
      const run = await fetchRunInfo(coordinator);
      showError('');
      return run;
    } catch (error) {
      if (error instanceof CoordinatorRejectedError && error.status === 404) return null;
      if (!(error instanceof CoordinatorUnavailableError)) throw error;
      showError(`Waiting for the coordinator: ${error.message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

async function loadShard(params: ParticipantParams): Promise<{ data: MnistData; train: number[]; test: number[] }> {
  const res = await fetch(`${import.meta.env.BASE_URL}mnist.bin`);
  if (!res.ok) throw new Error(`mnist.bin: expected 200, got ${res.status}`);
  const data = decodeMnist(new Uint8Array(await res.arrayBuffer()));
  const { test, pool } = splitTestPool(data);
  return { data, train: shardIndices(data, pool, params.shard, params.shards, params.split), test };
}

async function main(): Promise<void> {
  const loadedAt = performance.now();
  const params = participantParams(location.search);
  setText('shard', `${params.shard} of ${params.shards}`);
  setText(
    'split',
    params.split === 'iid'
      ? 'IID (round-robin)'
      : `non-IID (mostly digits ${dominantLabels(params.shard).join(' and ')})`,
  );
  setText(
    'mode',
    {
      worker: 'Worker (protocol off the main thread)',
      direct: 'direct (main thread)',
      plain: 'PLAIN AVERAGING, benchmark only: no secure aggregation',
    }[params.mode],
  );
  setText('coordinator', params.coordinator);
  setText(
    'model',
    `${params.model}: dense ${params.layers.join('→')}, ${denseWeightCount(params.layers).toLocaleString('en')} weights`,
  );

  // `mode=plain` (benchmark only) talks to a coordinator without runs.
  const [shard, testHooks, run] = await Promise.all([
    loadShard(params),
    loadTestHooks(),
    params.mode === 'plain' ? null : trainingRun(params.coordinator),
  ]);
  const runProblem = run === null ? undefined : tabRunProblem(run.layout, modelLength(params.model));
  if (runProblem !== undefined) throw new Error(`cannot join the training run: ${runProblem}`);
  if (params.mode === 'plain' && testHooks === undefined) {
    throw new ParamsError('mode: plain is benchmark only and not in this build (an e2e build has it)');
  }

  const { data, test } = shard;
  // In a run a slice of the shard is held out to evaluate global models on; without one, none.
  const { train, evaluation } =
    run === null ? { train: shard.train, evaluation: [] } : holdOut(shard.train, EVALUATION_SHARE);
  const histogram = labelHistogram(data, train);
  setText('examples', String(train.length));
  setText(
    'run',
    run === null
      ? 'none: the coordinator averages the tabs’ models'
      : `${run.strategy}, ${run.rounds === 0 ? 'no round limit' : `${run.rounds} rounds`}: this tab sends its update from ` +
          `the global model it trained from, and that model’s loss and accuracy on ${evaluation.length} ` +
          'examples of its shard it holds out (secure evaluation)',
  );
  setText('histogram', histogram.map((n, label) => `${label}:${n}`).join('  '));

  const progress = byTestId<HTMLProgressElement>('training-progress');
  const trainingNote = byTestId('training');
  // The training Worker times each backend that passes its self-check on a training step of this
  // very model (after the shard is decoded, so nothing else runs meanwhile), keeps the fastest
  // (remembered in this page's localStorage for this browser and model), and builds the model.
  const { xs, ys } = exampleArrays(data, train);
  const {
    trainer,
    selection,
    weights: built,
  } = await RemoteTrainer.create({
    layers: params.layers,
    backends: params.backends,
    wasmPaths: WASM_PATHS,
    xs,
    ys,
    count: train.length,
    epochs: params.epochs,
    batchSize: BATCH_SIZE,
    onProgress: ({ batch, batches }) => {
      progress.value = Math.min(1, batch / batches);
      trainingNote.hidden = false;
    },
    onEpoch: ({ baseRound, ms }) => {
      progress.value = 1;
      trainingNote.hidden = true;
      const from = baseRound === null ? 'the initial model' : `round ${baseRound}'s global model`;
      setText('train-time', `${Math.round(ms)} ms an epoch (from ${from})`);
      if (runtime !== undefined && !runtime.stopped) runtime.wake(); // a waiting update task takes it now
    },
    onError: (error) => showError(`Training stopped: ${error.message}`, `${error.name}: ${error.message}`),
  });
  renderBackend(selection);
  const weights = modelLength(params.model);
  if (built !== weights) throw new Error(`model: expected ${weights} weights, got ${built}`);
  const scored = new Set<number>();
  // Scored in a Worker of its own (remote-scorer.ts): a million-weight model on 1000 digits takes
  // a second or more of plain JavaScript, which this thread would otherwise run between frames.
  const scorer = new RemoteScorer({ layers: params.layers, data, sets: { test, evaluation } });
  // `global` is the page's copy, used for nothing else: handed over to the scorer (no copy here).
  const score = (global: Float32Array | Float64Array, roundId: number): void => {
    if (scored.has(roundId)) return;
    scored.add(roundId);
    scorer.scores(global, 'test', true).then(
      ({ accuracy }) => {
        globalModels.push({ roundId, accuracy });
        renderAccuracy();
      },
      (error: unknown) => showError(`Could not score round ${roundId}'s global model: ${String(error)}`),
    );
  };
  const onSubmitted =
    testHooks === undefined
      ? undefined
      : (roundId: number, vector: Float32Array) =>
          // The hook copies what it keeps: the vector is then handed over to the SDK.
          testHooks.rememberSubmitted({ roundId, scalar: train.length, model: vector });

  const contributor =
    run === null
      ? undefined
      : new RunContributor({
          layout: run.layout,
          weights,
          scalar: train.length,
          examples: evaluation.length,
          score: (model) => scorer.scores(model, 'evaluation'),
        });

  const options: ParticipantOptions = {
    scalar: train.length,
    storeKey: params.storeKey,
    ...POLL,
    ...(params.chunkKib === undefined ? {} : { maxChunkData: params.chunkKib * 1024 }),
    logLevel: 'warn',
    onError: (error) => console.warn(`petfl: ${error.name}: ${error.message}`),
  };
  let runtime: ParticipantRuntime | undefined;
  if (params.mode === 'plain' && testHooks !== undefined) {
    const participant = new PlainTrainerParticipant(
      trainer,
      (global) => void producingRound(params.coordinator, global).then((roundId) => score(global, roundId)),
      onSubmitted,
    );
    handle = await testHooks.spawnPlainParticipant(params.coordinator, participant, { scalar: train.length, ...POLL });
  } else {
    const createRuntime = params.mode === 'worker' ? workerRuntimeFactory() : createParticipantRuntime;
    runtime = await createRuntime({
      coordinatorUrl: params.coordinator,
      options,
      callbacks: trainerCallbacks(
        trainer,
        params.mode === 'worker',
        score,
        onSubmitted,
        contributor === undefined ? undefined : (epoch) => contributor.contribution(epoch),
      ),
    });
    handle = runtime;
    // A global model already there (a tab joining a federation that has run a while) is the start.
    const latest = await runtime.globalModel().catch(() => undefined);
    if (latest !== undefined && !scored.has(latest.roundId)) {
      toTrainer(trainer, latest.model, latest.roundId, params.mode === 'worker', (copy) => score(copy, latest.roundId));
    }
  }
  trainer.start();
  const joined = handle;
  testHooks?.installPageHook({
    handle: joined,
    globalModels,
    backend: selection.backend,
    backendSelection: selection,
    memory: () => trainer.memory(),
  });
  handle.subscribe(renderSnapshot);
  renderSnapshot();
  setText('join-time', `${Math.round(performance.now() - loadedAt)} ms after page load`);

  const ready = document.createElement('span');
  ready.dataset['testid'] = 'ready';
  ready.className = 'ready';
  ready.textContent = 'joined';
  byTestId('status-line').append(ready);
  addEventListener('pagehide', () => {
    trainer.stop();
    scorer.stop();
    void joined.stop();
  });
}

renderAccuracy();
main().catch((error: unknown) => {
  console.error(error);
  const e = error instanceof Error ? error : new Error(String(error));
  const code = (e as { code?: unknown }).code;
  showError(
    typeof code === 'string' ? inPlainWords({ code, message: e.message }) : `Could not start: ${e.message}`,
    `${e.name}: ${e.message}`,
  );
});
