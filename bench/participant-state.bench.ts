/**
 * What saving the participant state costs during a 1,000,000-weight update (issue 13): a real
 * coordinator (packages/sdk/test-support/coordinator.ts: power2/f32/b2/m3) and its one sum
 * participant run in a worker thread — their own V8 heap, so their buffers are not counted —
 * and the update participant (`spawnAsyncParticipant`, as an app runs it) runs on the main
 * thread, its requests bridged to the worker. Per store (the memory store, the file store, and
 * none — Node's default since 2026-12-05 —, that one also with the model handed over), for the
 * update participant of one round:
 *
 * - saves: calls to `store.set` (in all, and after the first `POST /message`), and the bytes
 *   they were handed (the Uint8Arrays in the value, plus 8 per number and the length of every
 *   string and key: what a store that copies it — memory, IndexedDB — copies, near enough);
 * - the time spent inside `store.set` (encoding and writing; the memory store's clone);
 * - the time from `setLocalModel` (the app hands in its model while the task is 'update') to
 *   the first `POST /message`, and from there to the last one answered;
 * - the extra memory of the update: the peak of V8 heap + ArrayBuffers (sampled every
 *   millisecond, at every save and request) over the level after a full GC just before
 *   `setLocalModel` (the app's own Float32Array model is already there) — garbage not yet
 *   collected included, so it depends on when V8 collects; in a second memory-store run (mode
 *   'live'), the live extra memory after a full GC at every save, the largest of them; and what
 *   stays after the round once the participant stopped (a full GC); each also as a multiple of
 *   the masked model's encoded size (`maskObjectByteLength`).
 *
 *   npm run bench:state
 *
 * BENCH_LABEL (default 'after') names the entry written into bench/results/participant-state.json;
 * other labels there are kept, so a run on the old code ('before') and one on the new can sit side
 * by side.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { initCrypto, maskObjectByteLength, selectTask } from '@petfl/core';
import { spawnAsyncParticipant } from '../packages/sdk/src/async-participant.ts';
import { HttpCoordinatorClient } from '../packages/sdk/src/client/http-client.ts';
import { handOver } from '../packages/sdk/src/local-model.ts';
import { fileStateStore } from '../packages/sdk/src/node/file-state-store.ts';
import { serializeState } from '../packages/sdk/src/state-codec.ts';
import type { StateStore } from '../packages/sdk/src/state-machine/io.ts';
import { MemoryStateStore } from '../packages/sdk/src/state-machine/memory-state-store.ts';
import { runParticipant } from '../packages/sdk/src/state-machine/run.ts';
import { createInitialState } from '../packages/sdk/src/state-machine/state.ts';
import { systemClock } from '../packages/sdk/src/system-clock.ts';
import { startCoordinator } from '../packages/sdk/test-support/coordinator.ts';

const WEIGHTS = 1_000_000;
const MASK_CONFIG = { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' } as const;
const RESULTS = 'bench/results/participant-state.json';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface BridgedRequest {
  readonly id: number;
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array | string | undefined;
}

interface BridgedAnswer {
  readonly id: number;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: ArrayBuffer;
}

// ---- worker: the coordinator and the sum participant -------------------------------------------

async function coordinatorSide(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('not a worker');
  const crypto = await initCrypto();
  const c = await startCoordinator({
    modelLength: WEIGHTS,
    sum: { probability: 0.5, min: 1, max: 1 },
    update: { min: 1, max: 1 },
    sum2: { min: 1, max: 1 },
  });
  const client = new HttpCoordinatorClient('http://127.0.0.1:9', { fetch: c.fetch });
  const params = await client.getParams();
  if (params === undefined) throw new Error('no round');
  // One identity selected for sum, one for update, in this round (protocol.md §2).
  const probabilities = { sum: params.sumProbability, update: params.updateProbability };
  let sum: ReturnType<typeof createInitialState> | undefined;
  let update: ReturnType<typeof createInitialState> | undefined;
  while (sum === undefined || update === undefined) {
    const state = createInitialState(crypto);
    const { task } = selectTask(crypto, params.seed, state.identity.secretKey, probabilities);
    if (task === 'sum') sum ??= state;
    if (task === 'update') update ??= state;
  }
  const controller = new AbortController();
  void runParticipant({
    state: sum,
    io: { crypto, client, localModel: () => undefined },
    clock: systemClock,
    signal: controller.signal,
    pollMs: 10,
  });
  port.on('message', async (message: BridgedRequest | 'close') => {
    if (message === 'close') {
      controller.abort();
      await c.close();
      port.close();
      return;
    }
    const init: RequestInit = { method: message.method, headers: message.headers };
    if (message.body !== undefined) init.body = message.body;
    const response = await c.fetch(message.url, init);
    const body = await response.arrayBuffer();
    const headers: Record<string, string> = {};
    response.headers?.get('retry-after');
    const answer: BridgedAnswer = { id: message.id, status: response.status, headers, body };
    port.postMessage(answer, [body]);
  });
  port.postMessage({ updateState: serializeState(update) });
}

// ---- main thread: the measured update participant ----------------------------------------------

interface Measured {
  readonly store: string;
  readonly mode: string;
  readonly saves: number;
  readonly savesAfterFirstPost: number;
  readonly bytesHandedToStore: number;
  readonly largestSaveBytes: number;
  readonly msInStoreSet: number;
  readonly msSetLocalModelToFirstPost: number;
  readonly msFirstPostToLastAnswer: number;
  readonly posts: number;
  readonly peakExtraHeapBytes: number;
  readonly largestLiveExtraAtSaveBytes: number;
  readonly retainedAfterStopBytes: number;
}

const memoryNow = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

/**
 * `storeName` 'none': no `store` option, Node's default since 2026-12-05 (nothing saved); then
 * `live` is not measured (it forces its collections at saves). `handOver`: the model is handed
 * over (`handOver(model)`, as `TfjsParticipant` does) instead of copied by `setLocalModel`.
 */
async function measure(storeName: 'memory' | 'file' | 'none', live: boolean, handingOver = false): Promise<Measured> {
  // Node 20 gives a worker no loader of its own: register tsx's first, then load this module.
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); });`;
  const worker = new Worker(code, { eval: true, workerData: { coordinator: true } });
  const pending = new Map<number, (answer: BridgedAnswer) => void>();
  let ready: (value: { updateState: Uint8Array }) => void = () => {};
  const started = new Promise<{ updateState: Uint8Array }>((resolve) => {
    ready = resolve;
  });
  worker.on('message', (message: BridgedAnswer | { updateState: Uint8Array }) => {
    if ('id' in message) pending.get(message.id)?.(message);
    else ready(message);
  });
  const { updateState } = await started;
  // The coordinator answers whatever host is asked; a loopback one keeps the SDK's plain-http warning away.
  const url = 'http://127.0.0.1:9';

  let peak = 0;
  const sample = (): void => {
    peak = Math.max(peak, memoryNow());
  };
  let nextId = 0;
  let posts = 0;
  let firstPost: number | undefined;
  let lastAnswer: number | undefined;
  const fetch = async (target: string, init?: { method?: string; headers?: unknown; body?: unknown }) => {
    sample();
    const id = nextId++;
    const isPost = init?.method === 'POST' && new URL(target).pathname.endsWith('/message');
    if (isPost) {
      posts++;
      firstPost ??= performance.now();
    }
    const headers = Object.fromEntries(
      new Headers((init?.headers ?? {}) as ConstructorParameters<typeof Headers>[0]).entries(),
    );
    const body = init?.body as Uint8Array | string | undefined;
    const answer = await new Promise<BridgedAnswer>((resolve) => {
      pending.set(id, resolve);
      worker.postMessage({ id, url: target, method: init?.method ?? 'GET', headers, body } satisfies BridgedRequest);
    });
    pending.delete(id);
    if (isPost) lastAnswer = performance.now();
    sample();
    return new Response(answer.status === 204 ? null : answer.body, { status: answer.status });
  };

  const dir = mkdtempSync(join(tmpdir(), 'petfl-bench-state-'));
  const inner: StateStore = storeName === 'file' ? fileStateStore({ dir }) : new MemoryStateStore();
  let saves = 0;
  let savesAfterFirstPost = 0;
  let bytes = 0;
  let largest = 0;
  let msInSet = 0;
  let baseline = Number.POSITIVE_INFINITY;
  let liveAtSave = 0;
  const store: StateStore = {
    get: (key) => inner.get(key),
    async set(key, value) {
      sample();
      saves++;
      if (firstPost !== undefined) savesAfterFirstPost++;
      const size = sizeOf(value);
      bytes += size;
      largest = Math.max(largest, size);
      const t = performance.now();
      await inner.set(key, value);
      msInSet += performance.now() - t;
      sample();
      if (live) {
        gc();
        liveAtSave = Math.max(liveAtSave, memoryNow() - baseline);
      }
    },
    del: (key) => inner.del(key),
  };

  const model = new Float32Array(WEIGHTS);
  for (let i = 0; i < WEIGHTS; i++) model[i] = Math.sin(i) * 0.9;
  const { participant } = await spawnAsyncParticipant(url, {
    fetch,
    ...(storeName === 'none' ? {} : { store }),
    state: updateState,
    logLevel: 'silent',
    pollMs: 10,
    maxPollMs: 50,
  });
  await until(() => participant.getSnapshot().phase === 'update');
  gc();
  baseline = memoryNow();
  peak = baseline;
  const sampler = setInterval(sample, 1);
  const t0 = performance.now();
  participant.setLocalModel(handingOver ? handOver(model) : model);
  sample();
  await until(() => participant.getSnapshot().phase === 'awaiting' && lastAnswer !== undefined);
  clearInterval(sampler);
  sample();
  const extra = peak - baseline;
  await participant.stop();
  gc();
  const retained = memoryNow() - baseline;
  worker.postMessage('close');
  await worker.terminate();
  rmSync(dir, { recursive: true, force: true });
  if (firstPost === undefined || lastAnswer === undefined) throw new Error('the update was never sent');
  return {
    store: storeName === 'none' ? 'none (the default on Node)' : storeName,
    mode: `${live ? 'live: a full GC after every save' : 'peak: no GC forced'}${handingOver ? '; model handed over' : ''}`,
    saves,
    savesAfterFirstPost,
    bytesHandedToStore: bytes,
    largestSaveBytes: largest,
    msInStoreSet: Math.round(msInSet),
    msSetLocalModelToFirstPost: Math.round(firstPost - t0),
    msFirstPostToLastAnswer: Math.round(lastAnswer - firstPost),
    posts,
    peakExtraHeapBytes: extra,
    largestLiveExtraAtSaveBytes: liveAtSave,
    retainedAfterStopBytes: retained,
  };
}

/** The bytes a store copies for `value`, near enough (see the module comment). */
function sizeOf(value: unknown): number {
  if (value instanceof Uint8Array) return value.byteLength;
  if (typeof value === 'number') return 8;
  if (typeof value === 'string') return value.length;
  if (typeof value !== 'object' || value === null) return 1;
  return Object.entries(value).reduce((n, [key, item]) => n + key.length + sizeOf(item), 0);
}

async function until(condition: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function main(): Promise<void> {
  const maskedModelBytes = maskObjectByteLength(MASK_CONFIG, WEIGHTS);
  const runs: Measured[] = [];
  const plan = [
    ['memory', false, false],
    ['memory', true, false],
    ['file', false, false],
    ['none', false, false],
    ['none', false, true],
  ] as const;
  for (const [store, live, handingOver] of plan) {
    const run = await measure(store, live, handingOver);
    console.log(JSON.stringify(run));
    runs.push(run);
  }
  const label = process.env['BENCH_LABEL'] ?? 'after';
  let results: Record<string, unknown> = {};
  try {
    results = JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>;
  } catch {
    // first run
  }
  results[label] = {
    date: new Date().toISOString(),
    node: process.version,
    weights: WEIGHTS,
    maskConfig: MASK_CONFIG,
    maskedModelBytes,
    runs: runs.map((r) => ({
      ...r,
      peakExtraHeapPerMaskedModel: Number((r.peakExtraHeapBytes / maskedModelBytes).toFixed(2)),
      largestLiveExtraAtSavePerMaskedModel: Number((r.largestLiveExtraAtSaveBytes / maskedModelBytes).toFixed(2)),
    })),
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${RESULTS} (${label})`);
}

if (isMainThread) {
  await main();
} else if ((workerData as { coordinator?: boolean } | null)?.coordinator) {
  await coordinatorSide();
}
