/**
 * The participant page: trains the demo's dense MNIST model on this tab's
 * shard and joins the coordinator's rounds with the SDK — in Worker mode by
 * default (`@petfl/sdk/worker`: masking, sealing and HTTP off the main
 * thread), `mode=direct` for the main-thread runtime. Training itself
 * (TensorFlow.js, `TfjsParticipant`) runs here, on the backend
 * `selectBackend` picked. Every global model is scored on the held-out test
 * set and charted.
 *
 * The data-testids and `window.__petfl` (apps/web/test-hooks/hook.ts) are a
 * contract with the e2e tests: keep them stable. The hook and the benchmark-only
 * `mode=plain` live outside src/ (apps/web/test-hooks/) and are loaded only in
 * the dev server and in e2e builds (`vite build --mode e2e`): see
 * `loadTestHooks`.
 */

// First: before TensorFlow.js loads (see the module).
import './background-frames.ts';
import { decodeGlobalModel } from '@petfl/core';
import { type ParticipantHandle, type ParticipantOptions, spawnParticipant as spawnDirect } from '@petfl/sdk';
import { spawnParticipant as spawnWorker } from '@petfl/sdk/worker';
import { selectBackend, TfjsParticipant } from '@petfl/tfjs';
import type * as tf from '@tensorflow/tfjs';
import { memory as tfMemory } from '@tensorflow/tfjs';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { drawAccuracyChart, type Point } from '../chart.ts';
import { BATCH_SIZE, LAYERS, MODEL_LENGTH } from '../demo.ts';
import { accuracy } from '../evaluate.ts';
import { decodeMnist, dominantLabels, labelHistogram, type MnistData, shardIndices, splitTestPool } from '../mnist.ts';
import { buildModel, toTensors } from '../model.ts';
import { ParamsError, type ParticipantParams, participantParams } from '../params.ts';
import { inPlainWords } from '../plain-words.ts';
import '../style.css';

const WASM_PATHS = {
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
};

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

/** TfjsParticipant, plus what the page shows and the test hook records. */
class DemoParticipant extends TfjsParticipant {
  #roundId: number | null = null;
  /** The training in progress: a round that moved on may still be fitting; the next waits for it (one fit at a time). */
  #training: Promise<unknown> = Promise.resolve();
  readonly #onGlobal: (model: Float32Array | Float64Array) => void;
  /** The test hook's record of each local model handed to the SDK (absent in a production build). */
  readonly #onSubmitted: ((roundId: number, vector: Float32Array) => void) | undefined;

  constructor(
    options: ConstructorParameters<typeof TfjsParticipant>[0],
    onGlobal: (model: Float32Array | Float64Array) => void,
    onSubmitted?: (roundId: number, vector: Float32Array) => void,
  ) {
    super(options);
    this.#onGlobal = onGlobal;
    this.#onSubmitted = onSubmitted;
  }

  override async trainRound(input: Float32Array | Float64Array | null): Promise<tf.LayersModel> {
    const roundId = handle?.getSnapshot().roundId ?? null;
    const previous = this.#training;
    const run = (async () => {
      await previous.catch(() => undefined);
      this.#roundId = roundId;
      byTestId<HTMLProgressElement>('training-progress').value = 0;
      const started = performance.now();
      const model = await super.trainRound(input);
      byTestId<HTMLProgressElement>('training-progress').value = 1;
      setText('train-time', `${Math.round(performance.now() - started)} ms (round ${roundId ?? '?'})`);
      return model;
    })();
    this.#training = run;
    return run;
  }

  override serializeTrainingResult(result: tf.LayersModel): Float32Array {
    const vector = super.serializeTrainingResult(result);
    this.#onSubmitted?.(this.#roundId ?? handle?.getSnapshot().roundId ?? -1, vector);
    return vector;
  }

  override onNewGlobalModel(model: Float32Array | Float64Array | null): void {
    if (model !== null) this.#onGlobal(model);
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
  byTestId('training').hidden = !s.training;
  if (s.lastError === null) showError('');
  else
    showError(
      `${s.lastError.roundId === null ? '' : `Round ${s.lastError.roundId}: `}${inPlainWords(s.lastError)}`,
      `${s.lastError.code}: ${s.lastError.message}`,
    );
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

  const [selection, shard, testHooks] = await Promise.all([
    selectBackend(params.backends, { wasmPaths: WASM_PATHS }),
    loadShard(params),
    loadTestHooks(),
  ]);
  if (params.mode === 'plain' && testHooks === undefined) {
    throw new ParamsError('mode: plain is benchmark only and not in this build (an e2e build has it)');
  }
  setText('backend', selection.backend);
  const skipped = byTestId('backend-skipped');
  skipped.replaceChildren(
    ...selection.skipped.map((s) => {
      const li = document.createElement('li');
      li.textContent = `${s.backend}: ${s.reason}`;
      return li;
    }),
  );
  if (selection.skipped.length === 0) skipped.textContent = 'none (the first backend tried passed its self-check)';

  const { data, train, test } = shard;
  const histogram = labelHistogram(data, train);
  setText('examples', String(train.length));
  setText('histogram', histogram.map((n, label) => `${label}:${n}`).join('  '));

  const model = buildModel();
  if (model.countParams() !== MODEL_LENGTH)
    throw new Error(`model: expected ${MODEL_LENGTH} weights, got ${model.countParams()}`);
  const tensors = toTensors(data, train);
  const progress = byTestId<HTMLProgressElement>('training-progress');
  const participant = new DemoParticipant(
    {
      model,
      data: tensors,
      fit: { epochs: params.epochs, batchSize: BATCH_SIZE, shuffle: true },
      onProgress: ({ epoch, epochs, batch, batches }) => {
        progress.value = Math.min(1, (epoch - 1 + batch / batches) / epochs);
      },
    },
    (global) => {
      const score = accuracy(global, LAYERS, data, test);
      void producingRound(params.coordinator, global).then((roundId) => {
        if (globalModels.some((g) => g.roundId === roundId)) return;
        globalModels.push({ roundId, accuracy: score });
        renderAccuracy();
      });
    },
    testHooks === undefined
      ? undefined
      : (roundId, vector) =>
          testHooks.rememberSubmitted(
            { roundId, scalar: train.length, model: Array.from(vector) },
            Float32Array.from(vector),
          ),
  );

  const options: ParticipantOptions = {
    scalar: train.length,
    storeKey: params.storeKey,
    ...POLL,
    logLevel: 'warn',
    onError: (error) => console.warn(`petfl: ${error.name}: ${error.message}`),
  };
  handle =
    params.mode === 'plain' && testHooks !== undefined
      ? await testHooks.spawnPlainParticipant(params.coordinator, participant, { scalar: train.length, ...POLL })
      : params.mode === 'worker'
        ? await spawnWorker(params.coordinator, participant, options)
        : await spawnDirect(params.coordinator, participant, options);
  const joined = handle;
  testHooks?.installPageHook({
    handle: joined,
    globalModels,
    backend: selection.backend,
    memory: () => {
      const { numTensors, numBytes } = tfMemory();
      return { numTensors, numBytes };
    },
  });
  handle.subscribe(renderSnapshot);
  renderSnapshot();
  setText('join-time', `${Math.round(performance.now() - loadedAt)} ms after page load`);

  const ready = document.createElement('span');
  ready.dataset['testid'] = 'ready';
  ready.className = 'ready';
  ready.textContent = 'joined';
  byTestId('status-line').append(ready);
  addEventListener('pagehide', () => void joined.stop());
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
