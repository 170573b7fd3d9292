/**
 * `npm run bench:coordinator`: the coordinator's message pipeline, a full
 * round and its memory, each reported against a floor measured in the same
 * run (docs/architecture.md §7.6). Results go to bench/results/coordinator.json.
 *
 * 1. Ingest: update messages through `coordinator.handleMessage` (open →
 *    header → signature → eligibility → seed-dictionary keys → validate →
 *    aggregate → store commit), timed per message. Floor: on the same
 *    messages, `openEnvelope` (decrypt, ADR 0019) + `verify` of the message signature +
 *    `Aggregation.aggregate` of the pre-decoded masked model. A breakdown of
 *    the other steps, each timed alone on the same messages, says where any
 *    excess goes. Messages are built (masked, sealed) before timing: masking is
 *    the participant's cost.
 *    The same on worker threads (node/ingest-pool.ts, `api.ingest_workers`):
 *    a pre-generated batch of update messages handed to `handleMessage` with
 *    as many in flight as `api.max_bodies_in_flight` lets through HTTP, with
 *    0 (the coordinator's own thread), 1 and 2 ingest workers: updates/s, and
 *    the batch's wall time against the floor's total on the same messages.
 * 2. A full round of 1,000 participants in process through the HTTP app
 *    (`app.request`), with the system clock: the coordinator's time serving
 *    requests and the participants' compute, per phase, plus the phase
 *    durations the coordinator recorded (`GET /admin/rounds`).
 * 3. Memory: peak RSS while aggregating 1,000 vs 10 updates, each in a fresh
 *    child process (bench/coordinator-memory.ts).
 */

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../packages/coordinator/src/clock.ts';
import { type CoordinatorApp, createCoordinatorApp } from '../packages/coordinator/src/create.ts';
import { IngestPool } from '../packages/coordinator/src/node/ingest-pool.ts';
import { PrometheusMetrics } from '../packages/coordinator/src/prometheus/prometheus-metrics.ts';
import { parseSettings, type Settings } from '../packages/coordinator/src/settings.ts';
import { CHECKPOINT_EVERY } from '../packages/coordinator/src/state-machine/coordinator.ts';
import type { MessageIngest } from '../packages/coordinator/src/state-machine/ingest.ts';
import type { RoundRecord, RoundSummary } from '../packages/coordinator/src/store/coordinator-store.ts';
import { MemoryModelStore } from '../packages/coordinator/src/store/memory-model-store.ts';
import { MemoryCoordinatorStore } from '../packages/coordinator/src/store/memory-store.ts';
import { ManualClock } from '../packages/coordinator/test-support/manual-clock.ts';
import {
  type Fetch,
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  identities,
  pickTasks,
  post,
  randomModel,
  sum2Message,
  sumMessage,
  updateMessage,
} from '../packages/coordinator/test-support/sim.ts';
import {
  Aggregation,
  ByteReader,
  classifyTaskSignature,
  configName,
  decodePayload,
  type EncryptKeyPair,
  HEADER_BYTES,
  initCrypto,
  type RoundParameters,
  readHeader,
  SIGNATURE_BYTES,
  toBase64Url,
  verifyTaskSignature,
} from '../packages/core/src/index.ts';
import { DEFAULT_MAX_CHUNK_DATA } from '../packages/sdk/src/state-machine/io.ts';

const ADMIN_TOKEN = 'bench-admin-token';
const LONG_MS = '3600000';
/** Passes of the per-step timings over the same messages (their median is taken). */
const PASSES = Number(process.env['BENCH_REPS'] ?? 5);
/** Fresh coordinators (rounds) each ingest case runs; every message is handled once. */
const INGEST_ROUNDS = Number(process.env['BENCH_INGEST_ROUNDS'] ?? 3);
const crypto = await initCrypto();
const here = dirname(fileURLToPath(import.meta.url));
// Other work on this machine skews the figures: the load average is recorded with them.
const loadAtStart = loadavg()[0] as number;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const round = (x: number, digits = 3) => Number(x.toPrecision(digits));
const mean = (xs: readonly number[]) => sum(xs) / xs.length;

/** Garbage-collection pauses (perf_hooks 'gc' entries), to attribute pipeline time to GC. */
const gcPauses: { start: number; duration: number }[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push({ start: e.startTime, duration: e.duration });
}).observe({ entryTypes: ['gc'] });
/** GC milliseconds that started inside each [from, to) window (entries arrive asynchronously: flush first). */
async function gcIn(windows: readonly (readonly [number, number])[]): Promise<number[]> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  return windows.map(([from, to]) =>
    sum(gcPauses.filter((g) => g.start >= from && g.start < to).map((g) => g.duration)),
  );
}

/** Settings whose phases end by count: exactly `sums` sum, `updates` update and `sums` sum2 messages. */
function benchSettings(length: number, sums: number, updates: number, sumProbability: number): Settings {
  return parseSettings(undefined, {
    PETFL_API_ADMIN_TOKEN: ADMIN_TOKEN,
    PETFL_API_MAX_BODY_BYTES: String(64 * 1024 * 1024),
    PETFL_MODEL_LENGTH: String(length),
    PETFL_PET_SUM_PROBABILITY: String(sumProbability),
    PETFL_PET_UPDATE_PROBABILITY: '1',
    PETFL_PET_SUM_COUNT_MIN: String(sums),
    PETFL_PET_SUM_COUNT_MAX: String(sums),
    PETFL_PET_UPDATE_COUNT_MIN: String(updates),
    PETFL_PET_UPDATE_COUNT_MAX: String(updates),
    PETFL_PET_SUM2_COUNT_MIN: String(sums),
    PETFL_PET_SUM2_COUNT_MAX: String(sums),
    PETFL_PET_SUM_TIME_MAX_MS: LONG_MS,
    PETFL_SAFETY_ALLOW_UNSAFE_SMALL_ROUNDS: 'true',
    PETFL_PET_UPDATE_TIME_MAX_MS: LONG_MS,
    PETFL_PET_SUM2_TIME_MAX_MS: LONG_MS,
  });
}

async function start(
  settings: Settings,
  clock?: Clock,
  ingest?: MessageIngest,
): Promise<CoordinatorApp & { fetch: Fetch }> {
  const created = await createCoordinatorApp(settings, {
    crypto,
    store: new MemoryCoordinatorStore(),
    models: new MemoryModelStore(),
    // As on Node: the pipeline's cost includes feeding Prometheus.
    metrics: new PrometheusMetrics(),
    ...(clock === undefined ? {} : { clock }),
    ...(ingest === undefined ? {} : { ingest }),
  });
  return { ...created, fetch: async (path, init) => created.app.request(path, init) };
}

/** pickTasks over a pool that grows until this round's seed selects enough of each task. */
function pick(params: RoundParameters, want: { sum: number; update: number }, label: number) {
  for (let size = Math.ceil((want.sum + want.update) * 1.3) + 64; ; size *= 2) {
    try {
      return pickTasks(crypto, params, identities(crypto, size, label), want);
    } catch (error) {
      if (size > 1_000_000) throw error;
    }
  }
}

function accepted(result: { status: number; code?: string }, what: string): void {
  if (result.status !== 202) throw new Error(`${what}: ${result.status} ${result.code ?? ''}`);
}

// ---- 1. Ingest ---------------------------------------------------------------------------

interface IngestSetup {
  readonly app: CoordinatorApp & { fetch: Fetch };
  readonly params: RoundParameters;
  readonly messages: Uint8Array[];
  readonly record: RoundRecord;
  readonly buildMs: number;
}

/** A coordinator in its update phase (3 sum participants accepted) and `count` update messages for it. */
async function ingestSetup(length: number, count: number, label: number, ingest?: MessageIngest): Promise<IngestSetup> {
  const app = await start(benchSettings(length, 3, count, 0.1), new ManualClock(), ingest);
  const params = await fetchParams(app.fetch);
  const picked = pick(params, { sum: 3, update: count }, label);
  for (const p of picked.sum) accepted(await post(app.fetch, sumMessage(crypto, params, p)), 'sum');
  const sumDict = await fetchSumDict(app.fetch);
  if (sumDict === undefined) throw new Error('the sum phase did not end');
  const t = performance.now();
  const messages = picked.update.map(
    (p, i) => updateMessage(crypto, params, p, sumDict, randomModel(length, label * 10_000 + i), 1 + (i % 5))[0],
  ) as Uint8Array[];
  const buildMs = performance.now() - t;
  // SECURITY: the bench's own copy of the round key, to time `openEnvelope` on the same messages.
  const record = await app.store.loadRound();
  if (record === undefined) throw new Error('no round in the store');
  return { app, params, messages, record, buildMs };
}

function checkUpdatePhaseDone(app: CoordinatorApp, count: number): void {
  const status = app.coordinator.status();
  if (status.counts.update !== count || status.phase !== 'sum2') {
    throw new Error(
      `expected ${count} updates and the sum2 phase, got ${JSON.stringify(status.counts)} ${status.phase}`,
    );
  }
}

type Step =
  | 'open'
  | 'header'
  | 'verify'
  | 'decodePayload'
  | 'eligibility'
  | 'validate'
  | 'add'
  | 'storeAddUpdate'
  | 'checkpoint';
const STEPS: readonly Step[] = [
  'open',
  'header',
  'verify',
  'decodePayload',
  'eligibility',
  'validate',
  'add',
  'storeAddUpdate',
  'checkpoint',
];

/**
 * Milliseconds of each step of the pipeline, timed alone on the same messages: one pass adds
 * every message to a fresh aggregate and a fresh memory store, as the coordinator does.
 */
async function primitivesPass(setup: IngestSetup): Promise<Record<Step, number[]>> {
  const { messages, record } = setup;
  const keyPair: EncryptKeyPair = { publicKey: record.roundPublicKey, secretKey: record.roundSecretKey };
  const expect = { config: record.maskConfig, modelLength: record.modelLength };
  const { seed, pet } = record;
  const steps = Object.fromEntries(STEPS.map((s) => [s, [] as number[]])) as Record<Step, number[]>;
  const aggregation = new Aggregation(record.maskConfig, record.modelLength);
  const store = new MemoryCoordinatorStore();
  await store.startRound(record);
  for (const sealed of messages) {
    let t = performance.now();
    const bytes = crypto.openEnvelope(sealed, keyPair, 'message');
    steps.open.push(performance.now() - t);

    t = performance.now();
    const header = readHeader(new ByteReader(bytes, 'message header'), {
      messageLength: bytes.length,
      coordinatorPk: keyPair.publicKey,
    });
    const pk = toBase64Url(header.participantPk);
    steps.header.push(performance.now() - t);

    t = performance.now();
    const ok = crypto.verify(bytes.subarray(0, SIGNATURE_BYTES), bytes.subarray(SIGNATURE_BYTES), header.participantPk);
    steps.verify.push(performance.now() - t);
    if (!ok) throw new Error('signature');

    // As the coordinator decodes bytes it owns (state-machine/ingest.ts): the masked model kept
    // packed and checked, then added from its bytes in the `add` step (ADR 0018).
    t = performance.now();
    const payload = decodePayload('update', bytes.subarray(HEADER_BYTES), { ...expect, packed: true });
    steps.decodePayload.push(performance.now() - t);
    if (payload.kind !== 'update') throw new Error('not an update');
    const { update } = payload;

    // The two task-signature checks of update.ts (sum: not eligible; update: eligible).
    t = performance.now();
    const sumClass = classifyTaskSignature(
      crypto,
      seed,
      'sum',
      update.sumSignature,
      header.participantPk,
      pet.sum.probability,
    );
    const updateOk = verifyTaskSignature(
      crypto,
      seed,
      'update',
      update.updateSignature,
      header.participantPk,
      pet.update.probability,
    );
    steps.eligibility.push(performance.now() - t);
    if (sumClass !== 'not-eligible' || !updateOk) throw new Error('eligibility');

    t = performance.now();
    const invalid = aggregation.validateAggregation(update.maskedModel);
    steps.validate.push(performance.now() - t);
    if (invalid) throw invalid;

    t = performance.now();
    aggregation.aggregate(update.maskedModel);
    steps.add.push(performance.now() - t);

    // update.ts logs the masked model (handed over, not copied) under this instance (ADR 0008)…
    t = performance.now();
    const entry = { instance: 'bench', maskedModel: update.maskedModel };
    await store.addUpdate(record.roundId, pk, update.localSeedDict, entry, Number.MAX_SAFE_INTEGER);
    steps.storeAddUpdate.push(performance.now() - t);

    // …and every CHECKPOINT_EVERY updates checkpoints a copy of its partial aggregate.
    t = performance.now();
    if (aggregation.modelCount % CHECKPOINT_EVERY === 0) {
      await store.checkpoint(record.roundId, 'bench', {
        modelCount: aggregation.modelCount,
        object: aggregation.toMaskObject(),
      });
    }
    steps.checkpoint.push(performance.now() - t);
  }
  return steps;
}

/** Per message, the median over `passes` passes of each step. */
async function primitives(setup: IngestSetup, passes: number): Promise<Record<Step, number[]>> {
  const runs: Record<Step, number[]>[] = [];
  for (let p = 0; p < passes; p++) runs.push(await primitivesPass(setup));
  return Object.fromEntries(
    STEPS.map((s) => [s, setup.messages.map((_, i) => median(runs.map((r) => r[s][i] as number)))]),
  ) as Record<Step, number[]>;
}

/** Warms the pipeline and the primitives up (JIT) on a throwaway coordinator. */
async function warmUp(): Promise<void> {
  const setup = await ingestSetup(100_000, 10, 9);
  for (const m of setup.messages) await setup.app.coordinator.handleMessage(m);
  await primitives(setup, 1);
  await setup.app.close();
}

/**
 * `rounds` times: a fresh coordinator takes `count` update messages through handleMessage, each
 * timed once, then the steps are timed alone on the same messages. Figures pool every message
 * of every round; totals are per round (median over rounds).
 */
async function ingest(length: number, count: number, label: number, rounds: number) {
  const bytes: number[] = [];
  const pipeline: number[] = [];
  const gc: number[] = [];
  const totals: number[] = [];
  const steps = Object.fromEntries(STEPS.map((s) => [s, [] as number[]])) as Record<Step, number[]>;
  let buildMs = 0;
  let config = '';
  for (let r = 0; r < rounds; r++) {
    const setup = await ingestSetup(length, count, label * 100 + r);
    config = configName(setup.params.maskConfig);
    buildMs += setup.buildMs;
    const times: number[] = [];
    const windows: [number, number][] = [];
    for (const m of setup.messages) {
      const t = performance.now();
      await setup.app.coordinator.handleMessage(m);
      const end = performance.now();
      times.push(end - t);
      windows.push([t, end]);
    }
    gc.push(...(await gcIn(windows)));
    checkUpdatePhaseDone(setup.app, count);
    pipeline.push(...times);
    totals.push(sum(times));
    bytes.push(...setup.messages.map((m) => m.length));
    const roundSteps = await primitives(setup, PASSES);
    for (const s of STEPS) steps[s].push(...roundSteps[s]);
    await setup.app.close();
  }

  const floor = steps.open.map((o, i) => o + (steps.verify[i] as number) + (steps.add[i] as number));
  const stepMedians = Object.fromEntries(STEPS.map((s) => [s, median(steps[s])])) as Record<Step, number>;
  const pipelineMedian = median(pipeline);
  const pipelineMean = mean(pipeline);
  const stepMeans = STEPS.map((s) => [s, mean(steps[s])] as const);
  const gcMean = mean(gc);
  const breakdown = [
    ...stepMeans,
    ['gc', gcMean] as const,
    ['other', pipelineMean - gcMean - sum(stepMeans.map(([, v]) => v))] as const,
  ];
  const withoutGc = pipeline.map((x, i) => x - (gc[i] as number));
  const pipelineTotal = sum(pipeline);
  const floorTotal = sum(floor);
  const messageMB = median(bytes) / 1e6;
  const ratio = pipelineMedian / median(floor);
  return {
    config,
    weights: length,
    messages: count,
    rounds,
    sumParticipants: 3,
    messageBytes: median(bytes),
    participantBuildMsPerMessage: round(buildMs / (count * rounds)),
    pipeline: {
      what: `coordinator.handleMessage, each message once; ${rounds} rounds of ${count} messages pooled`,
      medianMs: round(pipelineMedian),
      totalMsPerRound: round(median(totals)),
      minMs: round(Math.min(...pipeline)),
      maxMs: round(Math.max(...pipeline)),
      MBPerSecond: round((messageMB / pipelineMedian) * 1000),
      messagesPerSecond: round((pipeline.length / pipelineTotal) * 1000),
      gcMsPerRound: round(sum(gc) / rounds),
      ...(count <= 20 ? { perMessageMs: pipeline.map((x) => round(x)), perMessageGcMs: gc.map((x) => round(x)) } : {}),
    },
    floor: {
      what: `openEnvelope (decrypt) + verify (message signature) + Aggregation.aggregate (pre-decoded), same messages, median of ${PASSES} passes each`,
      medianMs: round(median(floor)),
      totalMsPerRound: round(floorTotal / rounds),
      openMedianMs: round(stepMedians.open),
      verifyMedianMs: round(stepMedians.verify),
      addMedianMs: round(stepMedians.add),
    },
    ratioToFloor: round(ratio),
    ratioToFloorOfTotals: round(pipelineTotal / floorTotal),
    target: '<= 1.5 (on the medians)',
    pass: ratio <= 1.5,
    /**
     * Where the pipeline's time goes, mean ms per message: each step timed alone on the same
     * messages, the GC pauses that started during the pipeline's handling, and `other` = the
     * pipeline's mean − the rest (queueing, promise hops, phase judging, metrics, seed-dictionary mirror).
     */
    breakdownMeanMs: Object.fromEntries(breakdown.map(([k, v]) => [k, round(v)])),
    breakdownShareOfPipeline: Object.fromEntries(breakdown.map(([k, v]) => [k, round(v / pipelineMean, 2)])),
    pipelineWithoutGc: {
      what: 'diagnostic only: each message’s pipeline time minus the GC pauses that started during it',
      medianMs: round(median(withoutGc)),
      ratioToFloor: round(median(withoutGc) / median(floor)),
    },
  };
}

/**
 * The same ingest through `POST /message` (Hono routing, body limit, Request/Response), without
 * a content-length header (as `sim.post` sends it: Hono's bodyLimit then re-buffers the body) and
 * with one (as a browser's fetch of a Uint8Array sends it).
 */
async function ingestHttp(length: number, count: number, label: number, contentLength: boolean) {
  const setup = await ingestSetup(length, count, label);
  const times: number[] = [];
  for (const m of setup.messages) {
    const t = performance.now();
    if (contentLength) {
      const res = await setup.app.fetch('/message', {
        method: 'POST',
        body: m as Uint8Array<ArrayBuffer>,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(m.length) },
      });
      await res.arrayBuffer();
      if (res.status !== 202) throw new Error(`update: ${res.status}`);
    } else {
      accepted(await post(setup.app.fetch, m), 'update');
    }
    times.push(performance.now() - t);
  }
  checkUpdatePhaseDone(setup.app, count);
  await setup.app.close();
  return {
    weights: length,
    messages: count,
    contentLengthHeader: contentLength,
    medianMs: round(median(times)),
    totalMs: round(sum(times)),
  };
}

await warmUp();
const ingest100k = await ingest(100_000, 100, 1, INGEST_ROUNDS);
const ingest1m = await ingest(1_000_000, 10, 2, INGEST_ROUNDS);
const ingest100kHttp = await ingestHttp(100_000, 100, 3, false);
const ingest100kHttpContentLength = await ingestHttp(100_000, 100, 4, true);
console.log('ingest done');

// ---- 1b. Ingest on worker threads ----------------------------------------------------------

/** Messages in flight at once: api.max_bodies_in_flight's default, what HTTP lets through. */
const POOL_IN_FLIGHT = 8;
const POOL_WORKERS = [0, 1, 2] as const;

/**
 * Copies of the setup's messages (handed over below; the originals stay for the floor), each
 * given to `handle`, POOL_IN_FLIGHT at a time, each lane taking the next message once its last one
 * is done; the batch's start and end.
 */
async function inFlight(
  setup: IngestSetup,
  handle: (message: Uint8Array) => Promise<unknown>,
): Promise<{ t: number; end: number }> {
  const batch = setup.messages.map((m) => m.slice());
  let next = 0;
  const lane = async () => {
    while (next < batch.length) await handle(batch[next++] as Uint8Array);
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: POOL_IN_FLIGHT }, lane));
  return { t, end: performance.now() };
}

/**
 * One batch: every message handed to handleMessage (moved to a worker, as POST /message does),
 * POOL_IN_FLIGHT at a time, each lane taking the next message once its last one is answered.
 * Wall time of the whole batch, GC included; then the floor's steps on the same messages.
 */
async function poolBatch(setup: IngestSetup, count: number) {
  const { t, end } = await inFlight(setup, (m) => setup.app.coordinator.handleMessage(m, { handOver: true }));
  const [gcMs] = await gcIn([[t, end]]);
  checkUpdatePhaseDone(setup.app, count);
  const steps = await primitives(setup, Math.min(PASSES, 3));
  const floorMs = sum(steps.open) + sum(steps.verify) + sum(steps.add);
  return { totalMs: end - t, gcMs: gcMs as number, floorMs };
}

/**
 * The pool's own work alone, as a ceiling: every message opened and decoded through
 * `pool.open`/`pool.decode` (moved to a worker, POOL_IN_FLIGHT at a time) with no coordinator
 * around it — no checks, no queue, no aggregate on this thread. Two workers ÷ one here is what
 * this machine gives two threads for this very work (its cores are virtual and shared); the
 * coordinator's speedup is read against it. Wall time of the batch.
 */
async function workOnlyBatch(setup: IngestSetup, pool: IngestPool): Promise<number> {
  const { record } = setup;
  // SECURITY: the bench's own copy of the round key (as in primitivesPass).
  const key: EncryptKeyPair = { publicKey: record.roundPublicKey, secretKey: record.roundSecretKey };
  const eligibility = { seed: record.seed, pet: record.pet };
  const expect = { config: record.maskConfig, modelLength: record.modelLength };
  const { t, end } = await inFlight(setup, async (sealed) => {
    const opened = await pool.open({ sealed, handOver: true, key, previousKey: undefined, eligibility });
    if (opened.kind !== 'opened') throw new Error('work-only batch: a message was late');
    const payload = await pool.decode({ tag: opened.frame.tag, bytes: opened.frame.body, handOver: true, expect });
    if (payload.kind !== 'update') throw new Error(`work-only batch: decoded a ${payload.kind}`);
  });
  return end - t;
}

/**
 * Every worker count on fresh coordinators, the counts interleaved round after round (0, 1, 2,
 * 0, 1, 2, …) so that other work on the machine weighs on each alike; each count's pool is
 * started and warmed up (JIT, libsodium's wasm tiers) on a throwaway round first.
 */
async function ingestPool(length: number, count: number, label: number, rounds: number) {
  const pools = new Map<number, IngestPool | undefined>();
  const batches = new Map<number, { totalMs: number; gcMs: number; floorMs: number }[]>();
  const workOnly = new Map<number, number[]>();
  try {
    for (const workers of POOL_WORKERS) {
      const pool = workers === 0 ? undefined : await IngestPool.start({ workers });
      pools.set(workers, pool);
      batches.set(workers, []);
      workOnly.set(workers, []);
      const warm = await ingestSetup(length, Math.min(count, 24), label * 100 + 90 + workers, pool);
      await poolBatch(warm, Math.min(count, 24));
      await warm.app.close();
    }
    for (let r = 0; r < rounds; r++) {
      for (const workers of POOL_WORKERS) {
        const setup = await ingestSetup(length, count, label * 100 + r, pools.get(workers));
        batches.get(workers)?.push(await poolBatch(setup, count));
        const pool = pools.get(workers);
        if (pool !== undefined) workOnly.get(workers)?.push(await workOnlyBatch(setup, pool));
        await setup.app.close();
      }
    }
  } finally {
    for (const pool of pools.values()) await pool?.close();
  }
  const runs: Record<string, unknown> = {};
  const perSecond: Record<number, number> = {};
  const bestPerSecond: Record<number, number> = {};
  const ratios: Record<number, number> = {};
  for (const workers of POOL_WORKERS) {
    const done = batches.get(workers) ?? [];
    const totals = done.map((b) => b.totalMs);
    perSecond[workers] = (count / median(totals)) * 1000;
    bestPerSecond[workers] = (count / Math.min(...totals)) * 1000;
    ratios[workers] = sum(totals) / sum(done.map((b) => b.floorMs));
    runs[`workers${workers}`] = {
      updatesPerSecond: round(perSecond[workers] as number),
      updatesPerSecondBest: round(bestPerSecond[workers] as number),
      batchMsMedian: round(median(totals)),
      batchMs: totals.map((x) => round(x)),
      gcMsPerBatch: round(mean(done.map((b) => b.gcMs))),
      floorMsPerBatch: round(mean(done.map((b) => b.floorMs))),
      ratioToFloorOfTotals: round(ratios[workers] as number),
    };
    console.log(`ingest pool ${length} weights, ${workers} workers: ${round(perSecond[workers] as number)} updates/s`);
  }
  const speedup = (perSecond[2] as number) / (perSecond[1] as number);
  const workOnlyMs = (w: number) => median(workOnly.get(w) ?? []);
  const ceiling = workOnlyMs(1) / workOnlyMs(2);
  return {
    weights: length,
    messages: count,
    rounds,
    inFlight: POOL_IN_FLIGHT,
    what:
      'a pre-generated batch of update messages through coordinator.handleMessage (handOver: moved to a worker as ' +
      `POST /message does), ${POOL_IN_FLIGHT} in flight; workers0 = the coordinator's own thread (inProcessIngest), ` +
      'workersN = IngestPool with N threads; each batch on a fresh coordinator, the worker counts interleaved ' +
      'round after round; batch wall time, GC included; updatesPerSecond from the median batch, …Best from the fastest',
    ratioWhat:
      'ratioToFloorOfTotals = the batches’ wall time ÷ the total of openEnvelope + verify + Aggregation.aggregate on the ' +
      'same messages, each step timed alone on the coordinator thread (median of 3 passes)',
    ...runs,
    ratios: Object.fromEntries(POOL_WORKERS.map((w) => [`workers${w}`, round(ratios[w] as number)])),
    speedup2vs1: round(speedup),
    speedup2vs1Best: round((bestPerSecond[2] as number) / (bestPerSecond[1] as number)),
    speedupTarget: '>= 1.7',
    speedupPass: speedup >= 1.7,
    workOnly: {
      what:
        'the same messages through pool.open + pool.decode alone (no coordinator: no checks, queue or aggregate), ' +
        `${POOL_IN_FLIGHT} in flight, right after each coordinator batch; median batch wall time`,
      workers1BatchMs: round(workOnlyMs(1)),
      workers2BatchMs: round(workOnlyMs(2)),
      ceiling2vs1: round(ceiling),
      speedupShareOfCeiling: round(speedup / ceiling),
    },
    ratioTarget: '<= 1.2',
    ratioPass: Object.fromEntries(POOL_WORKERS.map((w) => [`workers${w}`, (ratios[w] as number) <= 1.2])),
  };
}

/** Batches per worker count (interleaved). */
const POOL_ROUNDS = Number(process.env['BENCH_POOL_ROUNDS'] ?? 5);
const pool100k = await ingestPool(100_000, 60, 5, POOL_ROUNDS);
const pool1m = await ingestPool(1_000_000, 16, 6, POOL_ROUNDS);

/**
 * The same at 10⁶ weights with each update in chunks as the SDK sends it (its default chunk, 7 chunks):
 * POOL_IN_FLIGHT senders, each posting its update's chunks one after another, as a participant
 * does. Chunks are opened by the workers; the payload's parts are joined where it is decoded
 * (docs/architecture.md, the message pipeline). No floor here: updates/s and 2 ÷ 1 only.
 */
async function ingestPoolChunked(length: number, count: number, label: number, rounds: number) {
  const chunkData = DEFAULT_MAX_CHUNK_DATA;
  const pools = new Map<number, IngestPool | undefined>();
  const batches = new Map<number, number[]>(POOL_WORKERS.map((w) => [w, []]));
  const batch = async (workers: number, updates: number, seed: number) => {
    const app = await start(benchSettings(length, 3, updates, 0.1), new ManualClock(), pools.get(workers));
    try {
      const params = await fetchParams(app.fetch);
      const picked = pick(params, { sum: 3, update: updates }, seed);
      for (const p of picked.sum) accepted(await post(app.fetch, sumMessage(crypto, params, p)), 'sum');
      const sumDict = await fetchSumDict(app.fetch);
      if (sumDict === undefined) throw new Error('the sum phase did not end');
      const senders = picked.update.map((p, i) =>
        updateMessage(crypto, params, p, sumDict, randomModel(length, seed * 10_000 + i), 1, chunkData),
      );
      let next = 0;
      const lane = async () => {
        while (next < senders.length) {
          for (const chunk of senders[next++] as Uint8Array[])
            await app.coordinator.handleMessage(chunk, { handOver: true });
        }
      };
      const t = performance.now();
      await Promise.all(Array.from({ length: POOL_IN_FLIGHT }, lane));
      const ms = performance.now() - t;
      checkUpdatePhaseDone(app, updates);
      return { ms, chunks: senders[0]?.length ?? 0 };
    } finally {
      await app.close();
    }
  };
  let chunks = 0;
  try {
    for (const workers of POOL_WORKERS) {
      pools.set(workers, workers === 0 ? undefined : await IngestPool.start({ workers }));
      await batch(workers, 8, label * 100 + 90 + workers); // warm-up
    }
    for (let r = 0; r < rounds; r++) {
      for (const workers of POOL_WORKERS) {
        const done = await batch(workers, count, label * 100 + r);
        batches.get(workers)?.push(done.ms);
        chunks = done.chunks;
      }
    }
  } finally {
    for (const pool of pools.values()) await pool?.close();
  }
  const perSecond = (w: number) => (count / median(batches.get(w) ?? [])) * 1000;
  for (const w of POOL_WORKERS)
    console.log(`ingest pool chunked ${length} weights, ${w} workers: ${round(perSecond(w))} updates/s`);
  return {
    weights: length,
    messages: count,
    chunksPerUpdate: chunks,
    rounds,
    what:
      `updates in chunks of ${chunkData} bytes (as the SDK sends them) through coordinator.handleMessage (handOver), ` +
      `${POOL_IN_FLIGHT} senders each posting its chunks in turn; batch wall time; updatesPerSecond from the median batch`,
    ...Object.fromEntries(
      POOL_WORKERS.map((w) => [
        `workers${w}`,
        { updatesPerSecond: round(perSecond(w)), batchMs: (batches.get(w) ?? []).map((x) => round(x)) },
      ]),
    ),
    speedup2vs1: round(perSecond(2) / perSecond(1)),
  };
}
const pool1mChunked = await ingestPoolChunked(1_000_000, 16, 7, POOL_ROUNDS);
console.log('ingest pool done');

// ---- 2. A full round of 1,000 participants -------------------------------------------------

async function fullRound() {
  const SUMS = 10;
  const UPDATES = 990;
  const LENGTH = 10_000;
  const settings = benchSettings(LENGTH, SUMS, UPDATES, 0.02);
  const app = await start(settings); // system clock: the recorded phase durations are wall time
  const { fetch } = app;
  const phase = () => ({ coordinatorMs: 0, participantMs: 0, posts: [] as number[], gets: [] as number[] });
  const phases = { sum: phase(), update: phase(), sum2: phase() };
  const serve = async <T>(name: keyof typeof phases, kind: 'posts' | 'gets', request: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const out = await request();
    const ms = performance.now() - t;
    phases[name].coordinatorMs += ms;
    phases[name][kind].push(ms);
    return out;
  };
  const compute = <T>(phase: keyof typeof phases, fn: () => T): T => {
    const t = performance.now();
    const out = fn();
    phases[phase].participantMs += performance.now() - t;
    return out;
  };

  const t0 = performance.now();
  const params = await fetchParams(fetch);
  const selectStart = performance.now();
  const { sum: sums, update: updates } = pick(params, { sum: SUMS, update: UPDATES }, 5);
  const selectMs = performance.now() - selectStart;

  for (const p of sums) {
    const message = compute('sum', () => sumMessage(crypto, params, p));
    accepted(await serve('sum', 'posts', () => post(fetch, message)), 'sum');
  }
  for (const [i, p] of updates.entries()) {
    const sumDict = await serve('update', 'gets', () => fetchSumDict(fetch));
    if (sumDict === undefined) throw new Error('no sum dictionary');
    const [message] = compute('update', () =>
      updateMessage(crypto, params, p, sumDict, randomModel(LENGTH, 50_000 + i), 1 + (i % 5)),
    );
    accepted(await serve('update', 'posts', () => post(fetch, message as Uint8Array)), 'update');
  }
  for (const p of sums) {
    const seeds = await serve('sum2', 'gets', () => fetchSeeds(fetch, p.pk));
    if (seeds?.size !== UPDATES) throw new Error(`expected ${UPDATES} seeds, got ${seeds?.size}`);
    const message = compute('sum2', () => sum2Message(crypto, params, p, seeds));
    accepted(await serve('sum2', 'posts', () => post(fetch, message)), 'sum2');
  }
  const totalMs = performance.now() - t0;
  const model = await fetch('/model');
  if (model.status !== 200) throw new Error(`GET /model: ${model.status}`);

  const res = await fetch('/admin/rounds?limit=1', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const { rounds } = (await res.json()) as { rounds: RoundSummary[] };
  const summary = rounds[0];
  const history = await app.coordinator.history(1);
  await app.close();
  if (summary === undefined || summary.outcome !== 'completed' || summary.roundId !== params.roundId) {
    throw new Error(`round did not complete: ${JSON.stringify(summary)}`);
  }
  if (JSON.stringify(history[0]) !== JSON.stringify(summary)) throw new Error('history(1) differs from /admin/rounds');

  const per = (p: (typeof phases)[keyof typeof phases]) => ({
    coordinatorMs: round(p.coordinatorMs),
    participantMs: round(p.participantMs),
    posts: p.posts.length,
    postMedianMs: round(median(p.posts)),
    postTotalMs: round(sum(p.posts)),
    gets: p.gets.length,
    ...(p.gets.length === 0 ? {} : { getMedianMs: round(median(p.gets)), getTotalMs: round(sum(p.gets)) }),
  });
  return {
    participants: SUMS + UPDATES,
    sumParticipants: SUMS,
    updateParticipants: UPDATES,
    weights: LENGTH,
    config: configName(settings.mask),
    probabilities: { sum: settings.pet.sum.probability, update: settings.pet.update.probability },
    note:
      'all participants run one after another in this process: recorded phase durations are wall time and ' +
      'include the participants’ compute (the sum phase also the task selection over the identity pool); ' +
      'coordinatorMs is time inside app.request (GET /sums, GET /seeds and POST /message), participantMs ' +
      'is masking/sealing (update) and seed opening + mask derivation + sealing (sum2)',
    taskSelectionMs: round(selectMs),
    phases: { sum: per(phases.sum), update: per(phases.update), sum2: per(phases.sum2) },
    coordinatorTotalMs: round(phases.sum.coordinatorMs + phases.update.coordinatorMs + phases.sum2.coordinatorMs),
    participantTotalMs: round(phases.sum.participantMs + phases.update.participantMs + phases.sum2.participantMs),
    updateMessagesPerSecondCoordinator: round((UPDATES / phases.update.coordinatorMs) * 1000),
    wallMs: round(totalMs),
    recordedPhaseDurationsMs: summary.phaseDurationsMs,
    recordedRoundMs: summary.endedAt - summary.startedAt,
  };
}

const full = await fullRound();
console.log('full round done');

// ---- 3. Memory -------------------------------------------------------------------------------

interface MemoryRun {
  updates: number;
  weights: number;
  baselineRssMB: number;
  maxSampledRssMB: number;
  maxRssMB: number;
  maxHeapUsedMB: number;
  maxArrayBuffersMB: number;
  seconds: number;
}

function memoryRun(updates: number): MemoryRun {
  const child = spawnSync(
    process.execPath,
    [
      '--conditions=@petfl/source',
      '--import',
      'tsx',
      join(here, 'coordinator-memory.ts'),
      '--updates',
      String(updates),
      '--length',
      '100000',
    ],
    { cwd: join(here, '..'), encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  if (child.status !== 0) throw new Error(`memory child (${updates} updates) failed:\n${child.stderr}`);
  const last = child.stdout.trim().split('\n').at(-1) ?? '';
  const run = JSON.parse(last) as MemoryRun;
  return Object.fromEntries(
    Object.entries(run).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v]),
  ) as unknown as MemoryRun;
}

const few = memoryRun(10);
const many = memoryRun(1000);
const memory = {
  weights: 100_000,
  few,
  many,
  peakRssRatio: round(many.maxRssMB / few.maxRssMB),
  target: '<= 2',
  pass: many.maxRssMB / few.maxRssMB <= 2,
  note:
    'each case in a fresh child process (bench/coordinator-memory.ts) that builds, posts and drops one update at a ' +
    'time through POST /message; peak = the kernel high-water mark VmHWM of /proc/self/status',
};
console.log('memory done');

const results = {
  date: new Date().toISOString(),
  machine: {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    loadAverage1m: { atStart: round(loadAtStart), atEnd: round(loadavg()[0] as number) },
  },
  settings: {
    mask: ingest100k.config,
    stores: 'MemoryCoordinatorStore + MemoryModelStore',
    phases: 'count-driven: count.min = count.max per phase, time.max_ms = 3600000',
  },
  ingest: {
    updates100k: ingest100k,
    updates1m: ingest1m,
    http100k: ingest100kHttp,
    http100kContentLength: ingest100kHttpContentLength,
    pool100k,
    pool1m,
    pool1mChunked,
  },
  fullRound: full,
  memory,
  targets: {
    ingestRatio100k: { value: ingest100k.ratioToFloor, target: '<= 1.5', pass: ingest100k.pass },
    ingestRatio1m: { value: ingest1m.ratioToFloor, target: '<= 1.5', pass: ingest1m.pass },
    memoryRatio: { value: memory.peakRssRatio, target: '<= 2', pass: memory.pass },
    poolSpeedup2vs1At100k: { value: pool100k.speedup2vs1, target: '>= 1.7', pass: pool100k.speedupPass },
    poolSpeedup2vs1At1m: { value: pool1m.speedup2vs1, target: '>= 1.7', pass: pool1m.speedupPass },
    poolRatioOfTotals100k: {
      value: pool100k.ratios,
      target: '<= 1.2',
      pass: pool100k.ratioPass,
    },
  },
};

const out = join(here, 'results', 'coordinator.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
console.log(`\nwritten to ${out}`);
