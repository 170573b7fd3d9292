/**
 * `npm run bench:scale`: several coordinator instances on one Redis (ADR 0008), measured as users
 * run them — `petfl-coordinator` processes (the CLI), a real haproxy in front, a real Redis (a
 * private redis-server per scenario, so its counters are the scenario's alone), and real HTTP from
 * this process acting as the participants (it competes for the machine's cores: its CPU is
 * reported with everyone else's). Results go to bench/results/scale.json.
 *
 * 1. Updates/s through haproxy for 1, 2 and 3 instances (the three clusters side by side, their
 *    rounds interleaved): update messages built (masked, sealed, on worker threads) before the
 *    clock starts — the participants' cost — then sent CONCURRENCY at a time; first send → last 202. Every round completes with the exact weighted average. The CPU seconds of
 *    every process in the timed window (/proc/<pid>/stat; Redis also from INFO cpu) say what
 *    limits the 3 ÷ 1 ratio. Floor: the same bodies through the same haproxy to trivial HTTP
 *    sinks (read the body, answer 202) — what this machine's clients and haproxy allow at all.
 * 2. Redis bytes written per accepted update (INFO total_net_input_bytes over the update phase)
 *    ÷ the masked model's encoded size (maskObjectByteLength); Redis used_memory peak.
 * 3. A round of BIG_PARTICIPANTS participants across 3 instances: completes, exact average, time
 *    per phase.
 * 4. CLIENTS concurrent HTTP clients on one instance (no haproxy): every update at once, each on
 *    its own connection, through the SDK's HttpCoordinatorClient (it waits as 503 busy / 429 ask
 *    with Retry-After, at most 3 times, and retries network errors and 5xx 3 times with backoff);
 *    errors are whatever postMessage rejects with. With the default api.max_bodies_in_flight and
 *    with one sized for the clients.
 * 5. Peak RSS (VmHWM) of every coordinator process, per scenario.
 * 6. Follow latency: a GET /phase long poll held on every instance; per phase change, how much
 *    later a follower's answered than the leader's.
 *
 *   npm run bench:scale                  # the full run (~7 minutes on 2 cores)
 *   SCALE_QUICK=1 npm run bench:scale    # a 1–2-minute smoke run with small sizes
 *
 * Sizes: SCALE_UPDATES, SCALE_ROUNDS, SCALE_BIG, SCALE_CLIENTS, SCALE_CONCURRENCY, SCALE_WEIGHTS,
 * SCALE_QUIET_WAIT_S override the constants below. SCALE_ONLY=throughput,floor,big,clients (a
 * subset) and SCALE_INSTANCES=1,3 run part of it; SCALE_REDIS_URL uses an existing Redis instead of
 * private ones; SCALE_CPU_PROF=<dir> has every coordinator write a V8 CPU profile there (diagnosis:
 * the profiler's own cost skews the figures).
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HAPROXY_BIN, startHaproxy } from '../packages/coordinator/test-support/haproxy.ts';
import { cpuSeconds, machineCpu, memoryMiB } from '../packages/coordinator/test-support/proc-stats.ts';
import { ChildProcesses, jsonLines, waitFor } from '../packages/coordinator/test-support/processes.ts';
import {
  exactAverage,
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  identities,
  pickTasks,
  randomModel,
  sumMessage,
} from '../packages/coordinator/test-support/sim.ts';
import {
  configName,
  decodeGlobalModel,
  initCrypto,
  maskObjectByteLength,
  maskParams,
  type RoundParameters,
} from '../packages/core/src/index.ts';
import { type FetchLike, HttpCoordinatorClient, type ResponseLike } from '../packages/sdk/src/client/http-client.ts';
import {
  adminRetries,
  type Cluster,
  type ClusterOptions,
  type CpuSnapshot,
  cpuSnapshot,
  cpuWindow,
  followDelays,
  memorySampler,
  type PhaseSeen,
  pidsOf,
  REDIS_SERVER_BIN,
  redisInfo,
  sleep,
  startCluster,
  watchPhases,
} from './scale-cluster.ts';
import { participantPool } from './scale-worker.ts';

// ---- sizes ----------------------------------------------------------------------------------------

const QUICK = process.env['SCALE_QUICK'] === '1';
const size = (name: string, full: number, quick: number) => Number(process.env[name] ?? (QUICK ? quick : full));
/** Weights per model. */
const WEIGHTS = size('SCALE_WEIGHTS', 10_000, 10_000);
/** m6: m3 caps a round at 1,000 updates (the model cap of the mask config). */
const MASK_MODEL = 'm6' as const;
const MASK = { group: 'power2', data: 'f32', bound: 'b2', model: MASK_MODEL } as const;
/** Sum (and sum2) participants of every round: the safe minimum. */
const SUMS = 3;
/** Updates per round of the throughput scenarios (1). */
const UPDATES = size('SCALE_UPDATES', 2_000, 200);
/** Measured rounds per instance count (1); the headline is their median. */
const ROUNDS = size('SCALE_ROUNDS', 3, 1);
const INSTANCE_COUNTS = (process.env['SCALE_INSTANCES'] ?? '1,2,3').split(',').map(Number);
/** Which parts run (a comma list of throughput, floor, big, clients): all unless SCALE_ONLY says. */
const ONLY = new Set((process.env['SCALE_ONLY'] ?? 'throughput,floor,big,clients').split(','));
/** Update messages in flight at once (1, 3). */
const CONCURRENCY = size('SCALE_CONCURRENCY', 32, 32);
/** Participants (sum + update) of the big round (3). */
const BIG_PARTICIPANTS = size('SCALE_BIG', 10_000, 600);
/** Concurrent clients on one instance (4). */
const CLIENTS = size('SCALE_CLIENTS', 1_000, 200);
/** cluster.lease_ms of every instance (the default). */
const LEASE_MS = 5000;
/** api.max_bodies_in_flight of the throughput scenarios: ≥ CONCURRENCY, so no update meets 503 busy. */
const BODIES_IN_FLIGHT = Math.max(64, CONCURRENCY);
/** The default of api.max_bodies_in_flight (settings.ts). */
const DEFAULT_BODIES_IN_FLIGHT = 8;

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const crypto = await initCrypto();
/** The participants' work (masking, sealing, sum2) on worker threads, one per core. */
const participants = participantPool();
const CORES = cpus().length;
const benchStart = performance.now();
const loadAtStart = loadavg();

const r3 = (x: number) => Number(x.toPrecision(3));
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}
const median = (xs: readonly number[]) => quantile(xs, 0.5);
const log = (line: string) => console.log(`[scale ${((performance.now() - benchStart) / 1000).toFixed(0)} s] ${line}`);

/** What went wrong, with the path of every process's output: the run goes on, the bench exits 1. */
const problems: {
  scenario: string;
  problem: string;
  logs?: string;
  statuses?: unknown[];
  coordinatorLog?: Record<string, string[]>;
  partial?: RoundFailure['partial'];
  peakRssMiB?: Record<string, number>;
}[] = [];

/**
 * Before each timed part, up to QUIET_WAIT_S: waits until the machine was less than 0.3 cores
 * busy over a second. Other work on this machine skews every figure; what remains is reported.
 */
const QUIET_WAIT_S = size('SCALE_QUIET_WAIT_S', 10, 3);
async function awaitQuiet(): Promise<{ waitedS: number; busyCores: number }> {
  const t = performance.now();
  let busyCores = 0;
  do {
    const a = machineCpu();
    await sleep(1000);
    const b = machineCpu();
    busyCores = r3((b.busy - a.busy) / ((b.total - a.total) / CORES));
  } while (busyCores > 0.3 && performance.now() - t < QUIET_WAIT_S * 1000);
  return { waitedS: r3((performance.now() - t) / 1000), busyCores };
}

// ---- participants ----------------------------------------------------------------------------------

/** pickTasks over a pool sized for this round's probabilities, grown until enough are selected. */
function pick(params: RoundParameters, want: { sum: number; update: number }, label: number) {
  const p = params.sumProbability;
  let pool = Math.ceil((want.update / (1 - p)) * 1.03 + (want.sum / p) * 2) + 50;
  for (;;) {
    try {
      return pickTasks(crypto, params, identities(crypto, pool, label), want);
    } catch (error) {
      if (pool > 1_000_000) throw error;
      pool *= 2;
    }
  }
}

/** A message posted until it is answered finally: again after 503/429 (Retry-After), 5xx or no answer. */
async function deliver(base: string, body: Uint8Array, what: string, tally: Record<string, number>) {
  for (let attempt = 1; ; attempt++) {
    const answer = await postOnce(base, body);
    if (answer.status === 202) return 'accepted' as const;
    // A retried message whose first attempt was stored after all: the SDK takes it as sent.
    if (attempt > 1 && answer.status === 409 && answer.code === 'duplicate-message') return 'duplicate' as const;
    const key = `${answer.status} ${answer.code ?? ''}`.trim();
    if ((answer.status === 0 || answer.status >= 500 || answer.status === 429) && attempt < 20) {
      tally[key] = (tally[key] ?? 0) + 1;
      await sleep(answer.retryAfterS !== undefined ? answer.retryAfterS * 1000 : 50 * attempt);
      continue;
    }
    throw new Error(`${what}: answered ${key} (attempt ${attempt})`);
  }
}

/**
 * The clients' HTTP: node:http with a keep-alive agent (cheaper per request than fetch, and the
 * clients share the cores with what they measure).
 */
const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

function postOnce(base: string, body: Uint8Array): Promise<{ status: number; code?: string; retryAfterS?: number }> {
  return new Promise((resolve) => {
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(body.length) };
    const req = request(`${base}/message`, { method: 'POST', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, code: error.code ?? error.message }));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: string }).code;
        } catch {
          // not JSON
        }
        const retryAfter = res.headers['retry-after'];
        resolve({
          status: res.statusCode ?? 0,
          ...(code === undefined ? {} : { code }),
          ...(retryAfter === undefined ? {} : { retryAfterS: Number(retryAfter) }),
        });
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, code: error.code ?? error.message }));
    req.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
}

interface SendResult {
  readonly firstSendAt: number;
  readonly last202At: number;
  readonly accepted: number;
  readonly duplicates: number;
  /** Answers that were not final (sent again), by status and code. */
  readonly retried: Readonly<Record<string, number>>;
  readonly latenciesMs: readonly number[];
  /** Scenario 4: what the SDK client surfaced, before the participants sent again. */
  readonly clients?: object;
}

/** Sends every message, `concurrency` at a time, each until it is answered 202. */
async function sendPool(base: string, messages: readonly Uint8Array[], concurrency: number): Promise<SendResult> {
  const retried: Record<string, number> = {};
  const latencies: number[] = [];
  let next = 0;
  let accepted = 0;
  let duplicates = 0;
  let last = 0;
  const first = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < messages.length; i = next++) {
        const t = performance.now();
        const answer = await deliver(base, messages[i] as Uint8Array, `update ${i}`, retried);
        if (answer === 'accepted') accepted++;
        else duplicates++;
        last = performance.now();
        latencies.push(last - t);
      }
    }),
  );
  return { firstSendAt: first, last202At: last, accepted, duplicates, retried, latenciesMs: latencies };
}

// ---- one round ---------------------------------------------------------------------------------------

interface RoundOutcome {
  readonly roundId: number;
  readonly updates: number;
  /** One sealed update message, bytes. */
  readonly messageBytes: number;
  /** How long the bench waited for the machine to quieten before the round, and how busy it was. */
  readonly quiet: { readonly waitedS: number; readonly busyCores: number };
  /** Wall time of each step, bench-side, ms. */
  readonly timesMs: {
    /** Participants: pickTasks over the identity pool. */
    readonly taskSelection: number;
    /** The sum messages sent until every instance is in the update phase. */
    readonly sumPhase: number;
    /** Participants: masking and sealing every update message (worker threads; no clock runs). */
    readonly buildUpdates: number;
    /** First update sent → last 202: the timed window. */
    readonly sendUpdates: number;
    /** Last 202 → every instance seen in sum2 (polled every 20 ms). */
    readonly updatePhaseEndAfterLast202: number;
    /** Participants: GET /seeds, then opening every seed, deriving and adding every mask (worker threads). */
    readonly sum2Participants: number;
    readonly sum2Sends: number;
    /** Last sum2 202 → the round in the history (unmask; polled every 20 ms). */
    readonly completedAfterLastSum2: number;
  };
  readonly send: SendResult;
  readonly updatesPerSecond: number;
  readonly cpu: ReturnType<typeof cpuWindow>;
  readonly perInstanceAccepted: Readonly<Record<string, number>>;
  readonly redis: {
    readonly bytesInOverUpdatePhase: number;
    readonly bytesPerAcceptedUpdate: number;
    readonly maskedModelBytes: number;
    readonly ratioToMaskedModel: number;
  };
  readonly recordedPhaseDurationsMs: object;
  readonly exact: { readonly worstError: number; readonly tolerance: string; readonly pass: boolean };
}

/** A round that failed after its updates were sent: what the sending measured is kept. */
class RoundFailure extends Error {
  readonly partial: { updatesAnswered202: number; sendUpdatesMs: number; clients?: object };

  constructor(message: string, partial: { updatesAnswered202: number; sendUpdatesMs: number; clients?: object }) {
    super(message);
    this.partial = partial;
  }
}

/** The served model against exactAverage: tolerance models/expShift (harness.ts expectAverage) plus one f32 rounding. */
function checkAverage(cluster: Cluster, got: ArrayLike<number>, models: Float32Array[], scalars: number[]) {
  const reference = exactAverage(models, scalars);
  const tolerance = models.length / Number(maskParams(cluster.settings.mask).expShift);
  if (got.length !== reference.length) return { worstError: Number.POSITIVE_INFINITY, pass: false, tolerance: '' };
  let worst = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i] as number;
    worst = Math.max(worst, Math.abs((got[i] as number) - r) - Math.abs(r) * 2 ** -24);
  }
  return { worstError: worst, tolerance: `${tolerance} + |r|·2^-24`, pass: worst <= tolerance };
}

async function acceptedUpdates(cluster: Cluster): Promise<Record<string, number>> {
  const all = await Promise.all(cluster.instances.map((i) => cluster.status(i)));
  return Object.fromEntries(cluster.instances.map((i, k) => [i.name, all[k]?.messages.accepted['update'] ?? 0]));
}

/**
 * One whole round through `cluster.url`: sum messages, `updates` update messages built before
 * the clock starts and sent by `send`, sum2 messages; then the round's history entry and the
 * served model, checked against the exact weighted average.
 */
async function runRound(
  cluster: Cluster,
  updates: number,
  label: number,
  send: (messages: readonly Uint8Array[]) => Promise<SendResult>,
  quiet: { waitedS: number; busyCores: number },
): Promise<RoundOutcome> {
  const tally: Record<string, number> = {};
  const params = await fetchParams(cluster.fetch);
  const { roundId } = params;
  await cluster.allIn(roundId, 'sum');

  let t = performance.now();
  const picked = pick(params, { sum: SUMS, update: updates }, label);
  const taskSelection = performance.now() - t;

  t = performance.now();
  for (const [i, p] of picked.sum.entries())
    await deliver(cluster.url, sumMessage(crypto, params, p), `sum ${i}`, tally);
  await cluster.allIn(roundId, 'update');
  const sumPhase = performance.now() - t;
  const sumDict = await fetchSumDict(cluster.fetch);
  if (sumDict?.size !== SUMS) throw new Error(`round ${roundId}: sum dictionary of ${sumDict?.size} entries`);

  // The participants' work, before the clock starts.
  t = performance.now();
  const modelSeeds = picked.update.map((_, i) => label * 100_000 + i);
  const scalars = picked.update.map((_, i) => 1 + (i % 5));
  const messages = await participants.updates({
    params,
    sumDict,
    participants: picked.update,
    weights: WEIGHTS,
    modelSeeds,
    scalars,
  });
  const buildUpdates = performance.now() - t;

  const acceptedBefore = await acceptedUpdates(cluster);
  const bytesBefore = Number((await redisInfo(cluster.redis.client, 'stats'))['total_net_input_bytes']);
  const cpuBefore: CpuSnapshot = await cpuSnapshot(cluster);
  const sent = await send(messages);
  const cpuAfter = await cpuSnapshot(cluster);
  // Redis's bytes over the whole update phase: up to the moment every instance is in sum2 (it
  // takes milliseconds once count.max updates are in; 30 s means the phase is stuck).
  try {
    await cluster.allIn(roundId, 'sum2', 30_000);
  } catch (error) {
    throw new RoundFailure(`round ${roundId}: ${sent.accepted} updates answered 202, then: ${String(error)}`, {
      updatesAnswered202: sent.accepted,
      sendUpdatesMs: r3(sent.last202At - sent.firstSendAt),
      ...(sent.clients === undefined ? {} : { clients: sent.clients }),
    });
  }
  const updatePhaseEndAfterLast202 = performance.now() - sent.last202At;
  const bytesAfter = Number((await redisInfo(cluster.redis.client, 'stats'))['total_net_input_bytes']);
  const acceptedAfter = await acceptedUpdates(cluster);
  const accepted = sent.accepted + sent.duplicates;

  // Sum2: each sum participant reads its seeds, derives and adds every mask (its work), sends.
  t = performance.now();
  const sum2Messages = await Promise.all(
    picked.sum.map(async (p) => {
      const seeds = await fetchSeeds(cluster.fetch, p, params.coordinatorPk);
      if (seeds?.size !== accepted) throw new Error(`round ${roundId}: ${seeds?.size} seeds for ${accepted} updates`);
      return participants.sum2({ params, participant: p, seeds });
    }),
  );
  const sum2Participants = performance.now() - t;
  t = performance.now();
  for (const [i, m] of sum2Messages.entries()) await deliver(cluster.url, m, `sum2 ${i}`, tally);
  const lastSum2 = performance.now();
  const sum2Sends = lastSum2 - t;

  const summary = await waitFor(
    `round ${roundId} in the history`,
    async () => (await cluster.history(5)).find((r) => r.roundId === roundId),
    120_000,
    20,
  );
  const completedAfterLastSum2 = performance.now() - lastSum2;
  if (summary.outcome !== 'completed') {
    throw new Error(`round ${roundId} ${summary.outcome}: ${summary.failureReason ?? ''}`);
  }
  if (summary.participants.update !== accepted || summary.participants.sum !== SUMS) {
    throw new Error(`round ${roundId}: history says ${JSON.stringify(summary.participants)}, sent ${accepted}`);
  }
  // Every instance serves the round's model; the one served through haproxy is checked.
  for (const instance of cluster.instances) {
    await waitFor(`${instance.name} to serve round ${roundId}'s model`, async () => {
      const res = await fetch(`${instance.url}/model`);
      if (res.status !== 200) return undefined;
      return decodeGlobalModel(new Uint8Array(await res.arrayBuffer())).roundId === roundId ? true : undefined;
    });
  }
  const res = await cluster.fetch('/model');
  const global = decodeGlobalModel(new Uint8Array(await res.arrayBuffer()));
  if (global.roundId !== roundId) throw new Error(`GET /model: round ${global.roundId}, expected ${roundId}`);
  const models = modelSeeds.map((seed) => randomModel(WEIGHTS, seed));
  const exact = checkAverage(cluster, global.model, models, scalars);
  if (!exact.pass) {
    throw new Error(`round ${roundId}: the global model is off the exact average by ${exact.worstError}`);
  }
  if (Object.keys(tally).length > 0) log(`round ${roundId}: sum/sum2 messages sent again: ${JSON.stringify(tally)}`);

  const maskedModelBytes = maskObjectByteLength(cluster.settings.mask, WEIGHTS);
  const bytesIn = bytesAfter - bytesBefore;
  return {
    roundId,
    updates: accepted,
    messageBytes: messages[0]?.length ?? 0,
    quiet,
    timesMs: {
      taskSelection: r3(taskSelection),
      sumPhase: r3(sumPhase),
      buildUpdates: r3(buildUpdates),
      sendUpdates: r3(sent.last202At - sent.firstSendAt),
      updatePhaseEndAfterLast202: r3(updatePhaseEndAfterLast202),
      sum2Participants: r3(sum2Participants),
      sum2Sends: r3(sum2Sends),
      completedAfterLastSum2: r3(completedAfterLastSum2),
    },
    send: sent,
    updatesPerSecond: r3(accepted / ((sent.last202At - sent.firstSendAt) / 1000)),
    cpu: cpuWindow(cpuBefore, cpuAfter, CORES),
    perInstanceAccepted: Object.fromEntries(
      Object.entries(acceptedAfter).map(([k, v]) => [k, v - (acceptedBefore[k] ?? 0)]),
    ),
    redis: {
      bytesInOverUpdatePhase: bytesIn,
      bytesPerAcceptedUpdate: r3(bytesIn / accepted),
      maskedModelBytes,
      ratioToMaskedModel: r3(bytesIn / accepted / maskedModelBytes),
    },
    recordedPhaseDurationsMs: summary.phaseDurationsMs,
    exact: { worstError: exact.worstError, tolerance: exact.tolerance, pass: exact.pass },
  };
}

/** A round's figures for the JSON: latencies summarized, not listed. */
function roundJson(o: RoundOutcome) {
  const { send, ...rest } = o;
  return {
    ...rest,
    send: {
      accepted: send.accepted,
      duplicates: send.duplicates,
      retried: send.retried,
      latencyMs: {
        median: r3(median(send.latenciesMs)),
        p99: r3(quantile(send.latenciesMs, 0.99)),
        max: r3(Math.max(...send.latenciesMs)),
      },
      ...(send.clients === undefined ? {} : { clients: send.clients }),
    },
  };
}

// ---- a scenario: one cluster, its rounds, what its processes cost ------------------------------------

interface Running {
  readonly options: ClusterOptions;
  readonly cluster: Cluster;
  readonly watch: ReturnType<typeof watchPhases>;
  readonly sampler: ReturnType<typeof memorySampler>;
  readonly usedMemoryAtStart: number;
  readonly leaderAtStart: string;
  readonly rounds: RoundOutcome[];
  failed: boolean;
}

interface ScenarioOutcome {
  readonly rounds: RoundOutcome[];
  readonly peakRssMiB: Record<string, number>;
  readonly redis: { usedMemoryAtStart: number; usedMemoryMaxSampled: number; usedMemoryPeak: number };
  readonly phases: ReadonlyMap<string, readonly PhaseSeen[]>;
  readonly leaders: { atStart: string; atEnd: string };
  readonly settings: { toml: string; redis: string };
  /** Each coordinator's log lines at warn or above, and its `leading` lines (a lease taken again). */
  readonly coordinatorLog: Record<string, string[]>;
}

/** Each coordinator's pino lines at warn (40) or above, and its `leading` lines, as `msg: err` (at most 20 each). */
function coordinatorLog(cluster: Cluster): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const i of cluster.instances) {
    const lines = jsonLines(i)
      .filter((l) => Number(l['level']) >= 40 || l['msg'] === 'leading')
      .map((l) => `${String(l['msg'])}${l['err'] === undefined ? '' : `: ${String(l['err'])}`}`);
    if (lines.length > 0) out[i.name] = lines.slice(0, 20);
  }
  return out;
}

/** Records a failure: the error, every process's output (a file) and each instance's GET /admin/status then. */
async function failed(name: string, error: unknown, cluster?: Cluster): Promise<void> {
  const logs = cluster?.saveReport();
  const statuses =
    cluster === undefined
      ? undefined
      : await Promise.all(
          cluster.instances.map((i) =>
            Promise.race([cluster.status(i), sleep(3000).then(() => 'no answer within 3 s')]).catch(String),
          ),
        );
  problems.push({
    scenario: name,
    problem: (error as Error).stack ?? String(error),
    ...(logs ? { logs } : {}),
    ...(statuses ? { statuses } : {}),
    ...(cluster ? { coordinatorLog: coordinatorLog(cluster) } : {}),
    ...(error instanceof RoundFailure ? { partial: error.partial } : {}),
    ...(cluster
      ? {
          peakRssMiB: Object.fromEntries(
            Object.entries(pidsOf(cluster)).map(([k, pid]) => [k, r3(memoryMiB(pid).peakRssMiB)]),
          ),
        }
      : {}),
  });
  console.error(`${name} FAILED: ${(error as Error).message}${logs ? `\nevery process's output: ${logs}` : ''}`);
  if (statuses !== undefined) console.error(`instances' GET /admin/status: ${JSON.stringify(statuses)}`);
}

async function openScenario(options: ClusterOptions): Promise<Running | undefined> {
  log(`${options.name}: starting ${options.instances} instance(s)${options.haproxy ? ' behind haproxy' : ''}`);
  const t0 = performance.now();
  let cluster: Cluster;
  try {
    cluster = await startCluster(options);
  } catch (error) {
    await failed(options.name, error);
    return undefined;
  }
  try {
    const leader = (await cluster.leader()).name;
    log(`${options.name}: started in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${leader} leads`);
    return {
      options,
      cluster,
      watch: watchPhases(cluster),
      sampler: memorySampler(cluster),
      usedMemoryAtStart: Number((await redisInfo(cluster.redis.client, 'memory'))['used_memory']),
      leaderAtStart: leader,
      rounds: [],
      failed: false,
    };
  } catch (error) {
    await failed(options.name, error, cluster);
    await cluster.stop();
    return undefined;
  }
}

async function roundOn(
  running: Running | undefined,
  label: number,
  send: (cluster: Cluster) => (messages: readonly Uint8Array[]) => Promise<SendResult>,
): Promise<void> {
  if (running === undefined || running.failed) return;
  const { cluster, options } = running;
  try {
    const quiet = await awaitQuiet();
    const outcome = await runRound(cluster, options.updates, label, send(cluster), quiet);
    running.rounds.push(outcome);
    log(
      `${options.name} round ${outcome.roundId}: ${outcome.updates} updates, ${outcome.updatesPerSecond}/s ` +
        `(others on the machine: ${outcome.cpu.otherOnMachine} of ${outcome.cpu.coreSecondsAvailable} core-s), ` +
        `Redis ${outcome.redis.ratioToMaskedModel}× the masked model per update, exact average: ${outcome.exact.pass}`,
    );
  } catch (error) {
    running.failed = true;
    await failed(options.name, error, cluster);
  }
}

async function closeScenario(running: Running | undefined): Promise<ScenarioOutcome | undefined> {
  if (running === undefined) return undefined;
  const { cluster } = running;
  try {
    await running.watch.stop();
    const memory = await running.sampler.stop();
    if (running.failed) return undefined;
    const leaderAtEnd = (await cluster.leader()).name;
    const peakRssMiB: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pidsOf(cluster))) peakRssMiB[name] = r3(memoryMiB(pid).peakRssMiB);
    const info = await redisInfo(cluster.redis.client, 'memory');
    return {
      rounds: running.rounds,
      peakRssMiB,
      redis: {
        usedMemoryAtStart: running.usedMemoryAtStart,
        usedMemoryMaxSampled: memory.redisUsedMemoryMaxSampled,
        usedMemoryPeak: Number(info['used_memory_peak']),
      },
      phases: running.watch.seen,
      leaders: { atStart: running.leaderAtStart, atEnd: leaderAtEnd },
      settings: { toml: cluster.toml.trim(), redis: cluster.redis.config },
      coordinatorLog: coordinatorLog(cluster),
    };
  } catch (error) {
    await failed(running.options.name, error, cluster);
    return undefined;
  } finally {
    await cluster.stop();
  }
}

async function scenario(
  options: ClusterOptions,
  label: number,
  send: (cluster: Cluster) => (messages: readonly Uint8Array[]) => Promise<SendResult>,
): Promise<ScenarioOutcome | undefined> {
  const running = await openScenario(options);
  await roundOn(running, label, send);
  return closeScenario(running);
}

// ---- the transport floor: the same bodies through haproxy to trivial HTTP sinks ---------------------

/** An HTTP server that reads a POST body and answers 202, and answers GET /health 200. */
const SINK = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  const done = (status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(body); };
  if (req.method !== 'POST') return done(200, '{"status":"ok"}');
  req.on('data', () => {});
  req.on('end', () => done(202, '{"accepted":"update"}'));
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: 'http://127.0.0.1:' + server.address().port })));
`;

async function transportFloor(messages: readonly Uint8Array[], sinks: number) {
  const group = new ChildProcesses();
  const dir = mkdtempSync(join(tmpdir(), 'petfl-scale-floor-'));
  try {
    const backends = await Promise.all(
      Array.from({ length: sinks }, async (_, k) => {
        const child = group.spawn(`sink${k}`, process.execPath, ['-e', SINK]);
        const url = await waitFor(`sink ${k}`, () => {
          const line = child.lines().find((l) => l.startsWith('{'));
          return line === undefined ? undefined : (JSON.parse(line) as { url: string }).url;
        });
        return { name: `sink${k}`, port: Number(new URL(url).port), pid: child.process.pid as number };
      }),
    );
    const haproxy = await startHaproxy(group, dir, backends);
    await sendPool(haproxy.url, messages.slice(0, 200), CONCURRENCY); // warm-up
    const quiet = await awaitQuiet();
    const pids: Record<string, number> = { haproxy: haproxy.child.process.pid as number };
    for (const b of backends) pids[b.name] = b.pid;
    const before = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
    const benchBefore = process.cpuUsage();
    const machineBefore = machineCpu();
    const sent = await sendPool(haproxy.url, messages, CONCURRENCY);
    const bench = process.cpuUsage(benchBefore);
    const machineAfter = machineCpu();
    const seconds = (sent.last202At - sent.firstSendAt) / 1000;
    const cpu: Record<string, number> = {};
    for (const [k, p] of Object.entries(pids)) cpu[k] = r3(cpuSeconds(p) - (before[k] ?? 0));
    cpu['bench process (clients)'] = r3((bench.user + bench.system) / 1e6);
    const ours = sum(Object.values(cpu)) + (machineAfter.softirq - machineBefore.softirq);
    return {
      what:
        `the same number (${messages.length}) of bodies of an update message's size, ${CONCURRENCY} in flight, through ` +
        `the same haproxy configuration to ${sinks} trivial Node HTTP sinks (read the body, answer 202): what the ` +
        'clients, haproxy and HTTP on loopback allow on this machine, with no coordinator work at all',
      requestsPerSecond: r3(messages.length / seconds),
      windowS: r3(seconds),
      cpuSeconds: cpu,
      cpuMsPerRequest: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, r3((v / messages.length) * 1000)])),
      otherOnMachine: r3(Math.max(0, machineAfter.busy - machineBefore.busy - ours)),
      quiet,
      retried: sent.retried,
    };
  } finally {
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- scenario 4: the SDK's client, every update at once, each on its own connection ------------------

/**
 * The SDK's FetchLike over node:http with `agent: false`: every request (every attempt) opens a
 * connection of its own, as a thousand separate devices would. Counts connections open at once.
 */
function separateConnections(state: { open: number; maxOpen: number; attempts: Record<string, number> }): FetchLike {
  return (url, init) =>
    new Promise<ResponseLike>((resolve, reject) => {
      const body = init?.body as Uint8Array | undefined;
      const headers: Record<string, string> = { ...((init?.headers as Record<string, string>) ?? {}) };
      if (body !== undefined) headers['content-length'] = String(body.length);
      state.open++;
      state.maxOpen = Math.max(state.maxOpen, state.open);
      let closed = false;
      const close = () => {
        if (!closed) state.open--;
        closed = true;
      };
      const count = (key: string) => {
        state.attempts[key] = (state.attempts[key] ?? 0) + 1;
      };
      const req = request(url, { method: init?.method ?? 'GET', agent: false, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (error) => {
          close();
          count(`response error ${(error as NodeJS.ErrnoException).code ?? error.message}`);
          reject(error);
        });
        res.on('end', () => {
          close();
          const buffer = Buffer.concat(chunks);
          let code = '';
          try {
            code = (JSON.parse(buffer.toString('utf8')) as { code?: string }).code ?? '';
          } catch {
            // not JSON
          }
          count(`${res.statusCode} ${code}`.trim());
          resolve({
            status: res.statusCode ?? 0,
            headers: {
              get: (name) => {
                const v = res.headers[name.toLowerCase()];
                return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
              },
            },
            text: async () => buffer.toString('utf8'),
            arrayBuffer: async () => buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength),
          });
        });
      });
      req.on('error', (error) => {
        close();
        count(`network error ${(error as NodeJS.ErrnoException).code ?? error.message}`);
        reject(error);
      });
      req.end(body === undefined ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    });
}

/**
 * Every message at once, each through its own HttpCoordinatorClient (the SDK's retries and
 * Retry-After waits); then the ones whose postMessage rejected are sent again, one at a time and
 * patiently, as their participants would on their next attempt, so that the round completes.
 */
function sendAllAtOnce(cluster: Cluster) {
  return async (messages: readonly Uint8Array[]): Promise<SendResult> => {
    const state = { open: 0, maxOpen: 0, attempts: {} as Record<string, number> };
    const fetchLike = separateConnections(state);
    const latencies: number[] = [];
    const errors: Record<string, number> = {};
    const failedAt: number[] = [];
    let last = 0;
    const first = performance.now();
    await Promise.all(
      messages.map(async (m, i) => {
        const client = new HttpCoordinatorClient(cluster.url, { fetch: fetchLike });
        const t = performance.now();
        try {
          await client.postMessage(m);
          last = Math.max(last, performance.now());
        } catch (error) {
          const key = (error as Error).message.slice(0, 160);
          errors[key] = (errors[key] ?? 0) + 1;
          failedAt.push(i);
        }
        latencies.push(performance.now() - t);
      }),
    );
    const clientsDone = performance.now();
    const attempts = { ...state.attempts };
    const resent: Record<string, number> = {};
    let resentAccepted = 0;
    let resentDuplicates = 0;
    for (const i of failedAt) {
      const answer = await deliver(cluster.url, messages[i] as Uint8Array, `update ${i} again`, resent);
      if (answer === 'accepted') resentAccepted++;
      else resentDuplicates++;
      last = performance.now();
    }
    return {
      firstSendAt: first,
      last202At: last,
      accepted: messages.length - failedAt.length + resentAccepted,
      duplicates: resentDuplicates,
      retried: attempts,
      latenciesMs: latencies,
      clients: {
        clients: messages.length,
        errors: failedAt.length,
        errorsByMessage: errors,
        attemptsByAnswer: attempts,
        maxConnectionsOpenAtOnce: state.maxOpen,
        allSettledAfterMs: r3(clientsDone - first),
        latencyMs: {
          what: 'per client, postMessage call → its settling (202 or error), Retry-After waits and retries included',
          median: r3(median(latencies)),
          p99: r3(quantile(latencies, 0.99)),
          max: r3(Math.max(...latencies)),
        },
        sentAgainAfterErrors: {
          messages: failedAt.length,
          accepted: resentAccepted,
          duplicates: resentDuplicates,
          resent,
        },
      },
    };
  };
}

// ---- the run ------------------------------------------------------------------------------------------

function gitCommit(): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    return { commit, dirty };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

const firstLine = (bin: string, args: string[]) =>
  (spawnSync(bin, args, { encoding: 'utf8' }).stdout ?? '').split('\n')[0]?.trim() ?? 'unknown';

const environment = {
  date: new Date().toISOString(),
  quick: QUICK,
  node: process.version,
  cpus: CORES,
  cpuModel: cpus()[0]?.model ?? 'unknown',
  memoryGiB: r3(totalmem() / 2 ** 30),
  freeMemoryGiBAtStart: r3(freemem() / 2 ** 30),
  loadavgAtStart: loadAtStart.map(r3),
  git: gitCommit(),
  redis: firstLine(REDIS_SERVER_BIN, ['--version']),
  haproxy: firstLine(HAPROXY_BIN, ['-v']),
  participantThreads: participants.threads,
};
log(`environment: ${JSON.stringify(environment)}`);

const base = (name: string, instances: number, updates: number): ClusterOptions => ({
  name,
  instances,
  haproxy: true,
  sums: SUMS,
  updates,
  sumProbability: 0.01,
  weights: WEIGHTS,
  maskModel: MASK_MODEL,
  maxBodiesInFlight: BODIES_IN_FLIGHT,
  leaseMs: LEASE_MS,
});
const pooled = (cluster: Cluster) => (messages: readonly Uint8Array[]) => sendPool(cluster.url, messages, CONCURRENCY);

// 1, 2, 5, 6: throughput for 1, 2 and 3 instances, the clusters side by side and their rounds
// interleaved (1, 2, 3, 1, 2, 3 …), so that other work on the machine falls on all alike.
const throughput: Record<number, ScenarioOutcome | undefined> = {};
if (ONLY.has('throughput')) {
  const running: Record<number, Running | undefined> = {};
  for (const n of INSTANCE_COUNTS) running[n] = await openScenario(base(`throughput-${n}`, n, UPDATES));
  for (let k = 0; k < ROUNDS; k++) {
    for (const n of INSTANCE_COUNTS) await roundOn(running[n], 1000 + n * 10 + k, pooled);
  }
  for (const n of INSTANCE_COUNTS) throughput[n] = await closeScenario(running[n]);
}

// The floor: bodies of an update message's size (their bytes do not matter to a sink).
const updateMessageBytes = throughput[1]?.rounds[0]?.messageBytes ?? maskObjectByteLength(MASK, WEIGHTS) + 600;
let floor: Awaited<ReturnType<typeof transportFloor>> | undefined;
if (ONLY.has('floor')) {
  log('transport floor: haproxy → 3 HTTP sinks');
  const bodies = Array.from({ length: UPDATES }, () => new Uint8Array(randomBytes(updateMessageBytes)));
  floor = await transportFloor(bodies, 3).catch(async (error: unknown) => {
    await failed('transport floor', error);
    return undefined;
  });
}

// 3: the big round across 3 instances.
const big = ONLY.has('big') ? await scenario(base('big-round', 3, BIG_PARTICIPANTS - SUMS), 5000, pooled) : undefined;

// 4: CLIENTS clients at once on one instance, default bodies in flight, then sized for the clients.
const direct = (name: string, bodies: number): ClusterOptions => ({
  ...base(name, 1, CLIENTS),
  haproxy: false,
  maxBodiesInFlight: bodies,
});
const concurrentDefault = ONLY.has('clients')
  ? await scenario(direct('clients-default-bodies', DEFAULT_BODIES_IN_FLIGHT), 6000, sendAllAtOnce)
  : undefined;
const concurrentSized = ONLY.has('clients')
  ? await scenario(direct('clients-sized-bodies', CLIENTS), 7000, sendAllAtOnce)
  : undefined;
await participants.close();

// ---- the figures -----------------------------------------------------------------------------------------

const maskedBytes = maskObjectByteLength(MASK, WEIGHTS);
const rates = (n: number) => throughput[n]?.rounds.map((r) => r.updatesPerSecond) ?? [];
const best = (n: number) => Math.max(...rates(n));
const mean = (xs: readonly number[]) => sum(xs) / xs.length;
const ratioBest = r3(best(3) / best(1));
const ratioMean = r3(mean(rates(3)) / mean(rates(1)));

/** CPU milliseconds per accepted update of each process (and the kernel's part), median over a scenario's rounds. */
function cpuPerUpdate(s: ScenarioOutcome | undefined) {
  if (s === undefined || s.rounds.length === 0) return undefined;
  const per = (pick: (r: RoundOutcome) => number) => r3(median(s.rounds.map((r) => (pick(r) / r.updates) * 1000)));
  const keys = Object.keys(s.rounds[0]?.cpu.cpuSeconds ?? {});
  const processes: Record<string, number> = {};
  const kernel: Record<string, number> = {};
  for (const k of keys) {
    processes[k] = per((r) => r.cpu.cpuSeconds[k] ?? 0);
    kernel[k] = per((r) => r.cpu.kernelCpuSeconds[k] ?? 0);
  }
  const mainThreadBusy: Record<string, number> = {};
  for (const k of Object.keys(s.rounds[0]?.cpu.coordinatorMainThreadBusy ?? {})) {
    mainThreadBusy[k] = r3(median(s.rounds.map((r) => r.cpu.coordinatorMainThreadBusy[k] ?? 0)));
  }
  return {
    processes,
    ofWhichKernel: kernel,
    /** Not per update: each coordinator's main thread (event loop), CPU seconds per second of the window. */
    coordinatorMainThreadBusy: mainThreadBusy,
    machineBusyShare: r3(median(s.rounds.map((r) => r.cpu.machineBusyShare))),
    coordinators: per((r) => r.cpu.coordinatorsTotal),
    allOfTheSystem: per((r) => r.cpu.benchProcessesTotal),
    softirq: per((r) => r.cpu.machineSoftirq),
    otherWorkOnMachine: per((r) => r.cpu.otherOnMachine),
  };
}

function scenarioJson(s: ScenarioOutcome | undefined) {
  if (s === undefined) return { failed: true };
  return {
    rounds: s.rounds.map(roundJson),
    cpuMsPerUpdate: cpuPerUpdate(s),
    peakRssMiB: s.peakRssMiB,
    redisMemory: s.redis,
    leaders: s.leaders,
    coordinatorLog: s.coordinatorLog,
    settings: s.settings,
  };
}

function follow(name: string, s: ScenarioOutcome | undefined) {
  if (s === undefined) return [];
  // One leader all along (checked at the start and the end): its answers mark the changes.
  if (s.leaders.atStart !== s.leaders.atEnd) {
    problems.push({ scenario: name, problem: `the leader changed: ${JSON.stringify(s.leaders)}` });
  }
  return followDelays(s.phases, s.leaders.atEnd).map((d) => ({ ...d, scenario: name }));
}
const delays = [
  ...follow('throughput-2', throughput[2]),
  ...follow('throughput-3', throughput[3]),
  ...follow('big-round', big),
];
const delayMs = delays.map((d) => d.ms);

const bigRound = big?.rounds[0];
const redisRounds = [
  ...INSTANCE_COUNTS.flatMap((n) => throughput[n]?.rounds ?? []),
  ...(bigRound === undefined ? [] : [bigRound]),
];
const redisRatios = redisRounds.map((r) => r.redis.ratioToMaskedModel);
type Clients = {
  errors: number;
  latencyMs: { max: number; median: number };
  attemptsByAnswer: Record<string, number>;
  maxConnectionsOpenAtOnce: number;
  errorsByMessage: Record<string, number>;
};
/** A scenario-4 round's client figures; from its failure report when the round failed after the sending. */
const clientsOf = (name: string, s: ScenarioOutcome | undefined) =>
  (s?.rounds[0]?.send.clients ?? problems.find((p) => p.scenario === name)?.partial?.clients) as Clients | undefined;
/** Each coordinator's peak RSS in a scenario; from its failure report when it failed. */
const rssOf = (name: string, s: ScenarioOutcome | undefined) =>
  Object.fromEntries(
    Object.entries(s?.peakRssMiB ?? problems.find((p) => p.scenario === name)?.peakRssMiB ?? {}).filter(([k]) =>
      k.startsWith('coordinator'),
    ),
  );
const scenarios = {
  'throughput-1': throughput[1],
  'throughput-2': throughput[2],
  'throughput-3': throughput[3],
  'big-round': big,
  'clients-default-bodies': concurrentDefault,
  'clients-sized-bodies': concurrentSized,
};
const allRss = Object.entries(scenarios).flatMap(([k, s]) => Object.values(rssOf(k, s)));
const cpu1 = cpuPerUpdate(throughput[1]);
const cpu3 = cpuPerUpdate(throughput[3]);

/** What limits each figure, in words, from this run's numbers. */
function limits(): Record<string, string> {
  const out: Record<string, string> = {};
  if (cpu1 !== undefined && cpu3 !== undefined) {
    const rate1 = best(1);
    const pct = (x: number) => `${Math.round(x * 100)}%`;
    /** What saturated in a scenario: an event loop (≥ 85% busy), the cores (≥ 90% busy), or neither. */
    const saturated = (c: NonNullable<typeof cpu1>, instances: number) => {
      const loops = Object.values(c.coordinatorMainThreadBusy);
      if (c.machineBusyShare >= 0.9) return `the machine's ${CORES} cores are the limit`;
      if (loops.some((l) => l >= 0.85)) return 'a coordinator’s event loop is the limit';
      return (
        'neither an event loop nor the cores are saturated: consistent with each instance committing one message ' +
        'at a time (coordinator.ts runs acceptUpdate — the Redis update script — and, on the leader, the read of ' +
        'every instance’s counts inside its serialized queue), so every update holds the queue for its Redis round ' +
        `trips: ~${r3((1000 * instances) / best(instances))} ms an update per instance here, while the next ` +
        'messages are decrypted and decoded meanwhile'
      );
    };
    const system1 = r3(cpu1.allOfTheSystem + cpu1.softirq);
    const system3 = r3(cpu3.allOfTheSystem + cpu3.softirq);
    const bound3 = (CORES * 1000) / (system3 + cpu3.otherWorkOnMachine);
    const coresFor = (times: number) => r3((times * rate1 * system3) / 1000);
    out['updatesPerSecond'] =
      `${CORES} cores are shared by everything: the coordinators, haproxy, Redis, the clients (this process), the ` +
      `kernel's loopback networking and any other work on the machine. 1 instance: ${saturated(cpu1, 1)} — the ` +
      `coordinator's main thread was busy ${pct(cpu1.coordinatorMainThreadBusy['coordinator a'] ?? 0)} of the window ` +
      `(the process used ${cpu1.coordinators} ms CPU per update, main thread plus GC and helper threads) and the ` +
      `machine ${pct(cpu1.machineBusyShare)}; the system cost ${system1} ms CPU per update. 3 instances: ` +
      `${saturated(cpu3, 3)} — main threads ${Object.values(cpu3.coordinatorMainThreadBusy).map(pct).join(', ')} busy, ` +
      `the machine ${pct(cpu3.machineBusyShare)}; the system costs ${system3} ms CPU per update (coordinators ` +
      `${cpu3.coordinators}, haproxy ${cpu3.processes['haproxy']}, redis-server ${cpu3.processes['redis-server']}, ` +
      `clients ${cpu3.processes['bench process (clients)']}, softirq ${cpu3.softirq}; other work on the machine ` +
      `${cpu3.otherWorkOnMachine}), so at that median cost ${CORES} cores carry ~${Math.round(bound3)} updates/s ` +
      `however many instances run (the 3-instance rounds measured ${Math.min(...rates(3))}–${best(3)}): ` +
      `${r3(bound3 / mean(rates(1)))}× the mean 1-instance rate. 2× (3×) the best 1-instance rate at this cost per ` +
      `update needs ~${coresFor(2)} (~${coresFor(3)}) cores for the whole system. The instances share nothing but ` +
      `Redis, which used ${cpu3.processes['redis-server']} ms CPU per update: the ratio here measures the machine, ` +
      'not the design.';
  }
  if (floor !== undefined) {
    out['transportFloor'] =
      `haproxy (${floor.cpuMsPerRequest['haproxy']} ms CPU per request) and the clients ` +
      `(${floor.cpuMsPerRequest['bench process (clients)']} ms) alone, with sinks that do nothing, reach ` +
      `${floor.requestsPerSecond} requests/s on this machine: an upper bound for any number of instances here.`;
  }
  if (redisRounds.length > 0) {
    out['redisBytesPerUpdate'] =
      `Design-bound, not machine-bound: per update the store receives the masked model (${maskedBytes} B) in the ` +
      `update script, its ${SUMS} sealed mask seeds and keys, 1/8 of a checkpoint (cluster.checkpoint_every = 8: ` +
      `the partial aggregate, the size of a masked model) and the leader's small count reads; INFO ` +
      `total_net_input_bytes counts every byte Redis received (commands included) from every client over the update ` +
      `phase. The private Redis has no other client.`;
    out['redisMemory'] =
      'used_memory_peak of the private Redis of each scenario: its instances’ logs hold at most checkpoint_every ' +
      'masked models each before a checkpoint trims them, plus every update’s seeds (kept for sum2) and the round ' +
      'records; the peak includes every round of the scenario.';
  }
  if (bigRound !== undefined) {
    const t = bigRound.timesMs;
    out['bigRound'] =
      `Wall time is mostly the participants' work done by this process: building ${bigRound.updates} update ` +
      `messages took ${Math.round(t.buildUpdates / 1000)} s and the 3 sum participants' sum2 work ` +
      `${Math.round(t.sum2Participants / 1000)} s (worker threads on the same ${CORES} cores). The coordinator-side ` +
      `update phase (${Math.round(t.sendUpdates / 1000)} s to send) is limited as the throughput figure is.`;
  }
  const sizedProblem = problems.find((p) => p.scenario === 'clients-sized-bodies');
  const sizedLog = concurrentSized?.coordinatorLog ?? sizedProblem?.coordinatorLog ?? {};
  const sizedLeases = (sizedLog['a'] ?? []).filter((l) => l === 'leading').length;
  const sizedStuck = sizedProblem?.partial !== undefined;
  const dflt = clientsOf('clients-default-bodies', concurrentDefault);
  const sized = clientsOf('clients-sized-bodies', concurrentSized);
  if (dflt !== undefined || sized !== undefined) {
    out['concurrentClients'] =
      `With the default api.max_bodies_in_flight = ${DEFAULT_BODIES_IN_FLIGHT}, ${CLIENTS} clients at once are ` +
      `answered 503 busy with Retry-After: 1 beyond ${DEFAULT_BODIES_IN_FLIGHT} bodies; the SDK waits exactly that ` +
      `(no jitter), so the busy clients come back together, and after 3 waits its postMessage gives up: ` +
      `${dflt?.errors ?? '?'} errors. With the bound sized for the clients (${CLIENTS}) every body is taken at once ` +
      `and handled one after another on the instance's event loop: ${sized?.errors ?? '?'} errors, the last 202 ` +
      `after ${sized?.latencyMs.max ?? '?'} ms — one coordinator's per-update cost × ${CLIENTS}, on cores shared with ` +
      `the ${CLIENTS} clients. Connections: each request opened its own (node:http, agent: false).` +
      (sizedLeases > 1
        ? ` Meanwhile the instance's event loop was held so long that its ${LEASE_MS} ms lease lapsed: it logged ` +
          `'leading' ${sizedLeases} times (it took the lease again, no other instance being there).`
        : '') +
      (sizedStuck
        ? ' Then the round did not leave the update phase although every update was answered 202: see problems.'
        : '');
  }
  if (allRss.length > 0) {
    out['peakRss'] =
      'VmHWM of each coordinator process: Node + tsx (the CLI compiles the TypeScript sources at start) + ' +
      'libsodium + the round; a 10,000-weight partial aggregate is small, so the peak follows the bodies held at ' +
      'once (api.max_bodies_in_flight × message size) and garbage between collections.';
  }
  if (delayMs.length > 0) {
    out['followLatency'] =
      'A follower hears of a phase change through Redis pub/sub (a `round` notice) and reloads the round record ' +
      'before it answers its long polls; its event loop, busy with updates, and the shared cores add to the wait. ' +
      'Only changes both the leader’s and a follower’s polls answered are counted (a poll re-armed after two quick ' +
      'changes sees only the second).';
  }
  return out;
}

const results = {
  environment: { ...environment, loadavgAtEnd: loadavg().map(r3), benchSeconds: 0 },
  sizes: {
    weights: WEIGHTS,
    mask: configName(MASK),
    maskedModelBytes: maskedBytes,
    updateMessageBytes,
    sumParticipants: SUMS,
    throughputUpdatesPerRound: UPDATES,
    throughputRoundsPerInstanceCount: ROUNDS,
    concurrency: CONCURRENCY,
    bigRoundParticipants: BIG_PARTICIPANTS,
    concurrentClients: CLIENTS,
    bodiesInFlight: { throughputAndBigRound: BODIES_IN_FLIGHT, default: DEFAULT_BODIES_IN_FLIGHT },
    settingsNote:
      'phases end by count (count.min = count.max, time.min_ms 0, time.max_ms 600000); admission open on loopback; ' +
      'per-address and per-subject rate limits off (every request comes from 127.0.0.1); cluster.lease_ms 5000 and ' +
      'checkpoint_every 8 (the defaults); mask m6 because m3 caps a round at 1,000 updates; ' +
      `api.max_bodies_in_flight ${BODIES_IN_FLIGHT} where ${CONCURRENCY} updates are in flight (the default 8 ` +
      'would answer most of them 503 busy with a 1 s Retry-After); scenario 4 runs with the default and with one ' +
      'sized for the clients; a private redis-server per scenario (no persistence, as the shared one here)',
  },
  summary: {
    updatesPerSecond: {
      what: `first send → last 202, ${UPDATES} updates a round, ${CONCURRENCY} in flight, through haproxy; best and mean of ${ROUNDS} interleaved rounds`,
      best: Object.fromEntries(INSTANCE_COUNTS.map((n) => [`${n} instance${n > 1 ? 's' : ''}`, best(n)])),
      mean: Object.fromEntries(INSTANCE_COUNTS.map((n) => [`${n} instance${n > 1 ? 's' : ''}`, r3(mean(rates(n)))])),
      ratio3to1: { best: ratioBest, mean: ratioMean },
      target: '>= 2',
      pass: ratioBest >= 2,
      transportFloorRequestsPerSecond: floor?.requestsPerSecond ?? null,
      cpuMsPerUpdate: {
        '1 instance': cpu1 ?? null,
        '3 instances': cpu3 ?? null,
      },
      everyRoundExactAverage: redisRounds.every((r) => r.exact.pass),
    },
    redisBytesPerUpdate: {
      ratioToMaskedModel: { median: r3(median(redisRatios)), max: r3(Math.max(...redisRatios)) },
      bytesPerUpdate: r3(median(redisRounds.map((r) => r.redis.bytesPerAcceptedUpdate))),
      maskedModelBytes: maskedBytes,
      target: '<= 1.2',
      pass: Math.max(...redisRatios) <= 1.2,
      usedMemoryPeakBytes: Object.fromEntries(
        Object.entries(scenarios)
          .slice(0, 4)
          .map(([k, s]) => [k, s?.redis.usedMemoryPeak ?? null]),
      ),
    },
    bigRound:
      bigRound === undefined
        ? { failed: ONLY.has('big') }
        : {
            participants: bigRound.updates + SUMS,
            instances: 3,
            completed: true,
            exactAverage: bigRound.exact.pass,
            timesMs: bigRound.timesMs,
            recordedPhaseDurationsMs: bigRound.recordedPhaseDurationsMs,
            updatesPerSecond: bigRound.updatesPerSecond,
          },
    concurrentClients: {
      clients: CLIENTS,
      defaultBodiesInFlight: clientsOf('clients-default-bodies', concurrentDefault) ?? null,
      sizedBodiesInFlight: clientsOf('clients-sized-bodies', concurrentSized) ?? null,
      target: '0 errors',
      pass: clientsOf('clients-sized-bodies', concurrentSized)?.errors === 0,
      roundCompleted: {
        defaultBodiesInFlight: concurrentDefault !== undefined,
        sizedBodiesInFlight: concurrentSized !== undefined,
      },
    },
    peakRssMiB: Object.fromEntries(Object.entries(scenarios).map(([k, s]) => [k, rssOf(k, s)])),
    followLatencyMs: {
      phaseChanges: delayMs.length,
      median: r3(median(delayMs)),
      p90: r3(quantile(delayMs, 0.9)),
      max: r3(Math.max(...delayMs)),
      target: '<= 100',
      pass: delayMs.length > 0 && Math.max(...delayMs) <= 100,
    },
  },
  limits: limits(),
  throughput: Object.fromEntries(
    INSTANCE_COUNTS.map((n) => [`${n} instance${n > 1 ? 's' : ''}`, scenarioJson(throughput[n])]),
  ),
  transportFloor: floor ?? null,
  bigRound: scenarioJson(big),
  concurrentClients: {
    defaultBodiesInFlight: scenarioJson(concurrentDefault),
    sizedBodiesInFlight: scenarioJson(concurrentSized),
  },
  followLatency: {
    what:
      'a GET /phase?after=<token>&wait_ms=25000 long poll held on every instance (directly); per new token, ' +
      'the follower’s answer time − the leader’s (the leader answers its own polls when it changes the phase)',
    byScenario: Object.fromEntries(
      ['throughput-2', 'throughput-3', 'big-round'].map((name) => {
        const ms = delays.filter((d) => d.scenario === name).map((d) => d.ms);
        return [name, { phaseChanges: ms.length, median: r3(median(ms)), max: r3(Math.max(...ms)) }];
      }),
    ),
    worst: [...delays]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 5)
      .map((d) => ({ ...d, ms: r3(d.ms) })),
  },
  readsSentAgain: adminRetries,
  problems,
};

results.environment.benchSeconds = r3((performance.now() - benchStart) / 1000);
const out = join(here, 'results', 'scale.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify({ summary: results.summary, limits: results.limits }, null, 2));
console.log(`\nwritten to ${out} in ${results.environment.benchSeconds} s`);
if (problems.length > 0) {
  console.error(
    `${problems.length} problem(s): ${problems.map((p) => `${p.scenario}: ${p.problem.split('\n')[0]}`).join('; ')}`,
  );
  process.exit(1);
}
process.exit(0);
