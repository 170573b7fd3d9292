/**
 * `npm run bench:round`: whole PET rounds measured as users run them — the built
 * `petfl-coordinator` CLI (packages/coordinator/dist/cli.js, plain Node) and participant processes
 * that use only the public API of the built `@petfl/sdk` (bench/round-participant.mjs:
 * spawnAsyncParticipant, a model set before every round, no training), real HTTP on loopback.
 * Results go to bench/results/round.json.
 *
 * The coordinator is paused (`POST /admin/pause`) while the participants join and resumed once
 * all have. Per completed round (the ones that started after every participant had joined):
 * - the coordinator's phase durations (GET /admin/rounds);
 * - `updateToModelMs`: from the start of the update phase to the last participant holding the
 *   round's global model (GET /model done);
 * - `workMs`: the same without the update phase's idle tail — (last Update accepted − update start)
 *   + (last participant holds the model − update end). The coordinator ends an update phase at
 *   count.max or after time.min (protocol.md §1.3), and how many participants draw the update task
 *   varies from round to round, so the bench keeps the phase open for UPDATE_WAIT_MS and subtracts
 *   the wait: workMs is the round a deployment whose update phase closed at its last message gets;
 * - the update participants' "task known → Update accepted" times, and the sum participants'
 *   "update end → Sum2 accepted" times (sum2 ends once a majority of them is in);
 * - CPU seconds of the participant processes and of the coordinator between one round's last model
 *   and the next's (/proc/<pid>/stat, all threads, sampled every 50 ms; `mainThreadCpuSeconds`: the
 *   main threads only, sampled every 500 ms, between the samples before the window's ends),
 *   and the bytes each participant moved (request and response bodies) and the requests it made
 *   (`requestsPerParticipant`) in that window, by task;
 * - `stages`: that window's CPU by stage, each from the end of the one before: `sum` (to the
 *   update phase's start), `updateSending` (to the last Update accepted), `updateIdle` (the
 *   update phase's idle tail), `sum2`, `unmask` (to the round's end), `modelDownload` (to the
 *   last participant holding the model);
 * - `freshMemoryMiB`: the memory the processes touched for the first time in that window (minor
 *   page faults × 4 KiB, sampled as the main threads' CPU): every new buffer a round allocates
 *   costs a page fault per 4 KiB the first time it is written, which on the machine of
 *   bench/results was about 10 µs a page;
 * - peak RSS (VmHWM) of every process at the end.
 * Steady state (rounds after the first) and the first round are reported separately.
 *
 * Floor, measured in this process in the same run: the CPU of the primitives one round needs —
 * per update masking, sealing, and sealing its mask seed to every sum participant (participant),
 * and opening and adding (coordinator); per sum participant opening every update's seed box,
 * deriving every update's mask, adding it and sealing its Sum2 (participant), and
 * opening that Sum2 and hashing its vote (coordinator); unmasking — each timed with @petfl/core and
 * multiplied by the round's median task counts. `cpuRatio` = the round's CPU (participants +
 * coordinator) ÷ that floor. (Before 2026-12-04 the floor left out the Sum2's sealing, opening and
 * hashing, which its description named: at 10 × 10⁶ about a fifth of it. From the run after
 * 2026-12-04 07:56 masking is timed as the SDK now masks, straight into the update payload's
 * encoding, sealing seals the encoded payload, and deriving and adding a mask is the cheaper of
 * the sum participant's one pass (aggregateDerived) and drawing it whole, then adding it. From
 * 09:15 each primitive counts its fastest of 5 runs (10⁶ weights) or 15, no longer the median of
 * 3 or 7: the median moved 2–8× between runs with fresh-memory page faults and collections.
 * From 2026-12-04 15:00 the floor counts the seed boxes, sealed as the SDK seals them (ADR 0016)
 * and opened: `cpuRatioToFloorWithoutSeedBoxes` is the ratio to the floor as defined before;
 * and each primitive runs at least 300 ms in all, as many times as fit, for its fastest run.)
 *
 *   npm run bench:round                       # every scenario (~6 minutes on 2 cores)
 *   ROUND_ONLY=10x1M,3x1M npm run bench:round # some of them
 *   ROUND_ROUNDS=3 ROUND_NO_BUILD=1 …         # fewer rounds; skip `npm run build`
 *   ROUND_TRACE=1 …                           # also every participant's phase changes, to a file in $TMPDIR
 *   ROUND_CPU_PROF=<dir> …                    # the coordinator and every participant process write V8 CPU profiles there
 *   ROUND_NODE_ARGS='--perf-basic-prof' …     # more flags for node in the coordinator and every participant process (e.g. to profile with perf)
 *   ROUND_DUMP_COORD=<file> …                 # the coordinator's output (its last 4,000 lines) written there, e.g. with ROUND_NODE_ARGS=--trace-gc
 *   ROUND_CLOSE_AT=1000x10k=900 …             # that update phase ends at its 900th update, not held open (kept as 1000x10k@close900)
 *   ROUND_LABEL=before …                      # kept as <name>:before too, for A/B runs of two builds
 *   GLIBC_TUNABLES=… …                        # passed on to the coordinator and the participants (docs/operations.md)
 *
 * Also per scenario: `listenOverflows` (connections the kernel dropped with a full listen queue)
 * and `connectionsOpenedPerRound` (TCP connections accepted, /proc/net/snmp PassiveOpens).
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  cpuSeconds,
  mainThreadCpuSeconds,
  memoryMiB,
  minorFaults,
} from '../packages/coordinator/test-support/proc-stats.ts';
import { ChildProcesses, jsonLines, stopProcesses, waitFor } from '../packages/coordinator/test-support/processes.ts';
import {
  Aggregation,
  deriveMask,
  ENCRYPTED_MASK_SEED_BYTES,
  encodeMaskedUpdate,
  encodeMaskObject,
  initCrypto,
  type MaskConfig,
  Masker,
  maskObjectByteLength,
  openMessage,
  sealFrame,
  toBase64Url,
} from '../packages/core/src/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'packages/coordinator/dist/cli.js');
const PARTICIPANT = join(ROOT, 'bench/round-participant.mjs');
const RESULTS = join(ROOT, 'bench/results/round.json');
const ADMIN_TOKEN = 'round-bench-admin-token-7c1e9a4f2b6d';
const MASK: MaskConfig = { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' };

interface Scenario {
  readonly name: string;
  readonly participants: number;
  readonly processes: number;
  readonly weights: number;
  readonly sumProbability: number;
  /** How long the update phase stays open (time.min): longer than the slowest participant needs. */
  readonly updateWaitMs: number;
  readonly sumWaitMs: number;
  /** Per-address rate limits off: every participant here comes from 127.0.0.1. */
  readonly noRateLimits: boolean;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: '10x1M',
    participants: 10,
    processes: 10,
    weights: 1_000_000,
    sumProbability: 0.25,
    updateWaitMs: 9000,
    sumWaitMs: 1500,
    noRateLimits: false,
  },
  {
    name: '3x1M',
    participants: 3,
    processes: 3,
    weights: 1_000_000,
    sumProbability: 0.34,
    updateWaitMs: 7000,
    sumWaitMs: 1500,
    noRateLimits: false,
  },
  {
    name: '10x100k',
    participants: 10,
    processes: 10,
    weights: 100_000,
    sumProbability: 0.25,
    updateWaitMs: 3000,
    sumWaitMs: 1000,
    noRateLimits: false,
  },
  {
    name: '100x100k',
    participants: 100,
    processes: 10,
    weights: 100_000,
    sumProbability: 0.05,
    updateWaitMs: 8000,
    sumWaitMs: 2000,
    noRateLimits: true,
  },
  {
    name: '1000x10k',
    participants: 1000,
    processes: 5,
    weights: 10_000,
    sumProbability: 0.02,
    updateWaitMs: 12_000,
    sumWaitMs: 4000,
    noRateLimits: true,
  },
];

const ROUNDS = Number(process.env['ROUND_ROUNDS'] ?? 5);
/** glibc's allocator settings, passed on to every process this bench starts (docs/operations.md). */
const ALLOCATOR_TUNING: Record<string, string> =
  process.env['GLIBC_TUNABLES'] === undefined ? {} : { GLIBC_TUNABLES: process.env['GLIBC_TUNABLES'] };
const ONLY = process.env['ROUND_ONLY']?.split(',');
/**
 * `ROUND_CLOSE_AT=1000x10k=900,10x1M=5`: those scenarios' update phases end at their N-th update
 * (count.min = count.max = N, time.min 0) instead of being held open for `updateWaitMs`, as in a
 * deployment whose update phase closes at its last message. Kept under `<name>@close<N>`.
 */
const CLOSE_AT = new Map(
  (process.env['ROUND_CLOSE_AT'] ?? '')
    .split(',')
    .filter((x) => x !== '')
    .map((x) => {
      const [name, count] = x.split('=');
      if (name === undefined || !/^\d+$/.test(count ?? ''))
        throw new Error(`ROUND_CLOSE_AT: expected name=count, got ${x}`);
      return [name, Number(count)] as const;
    }),
);
/** `ROUND_LABEL=before`: results kept under `<name>:before` as well (A/B runs of two builds). */
const LABEL = process.env['ROUND_LABEL'];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs: readonly number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const max = (xs: readonly number[]): number | null => (xs.length === 0 ? null : Math.max(...xs));
const r3 = (x: number | null) => (x === null ? null : Number(x.toPrecision(3)));

function toml(s: Scenario, modelsDir: string): string {
  const limits = s.noRateLimits
    ? 'messages_per_minute_per_ip = 0\nphase_polls_per_minute_per_ip = 0\nmessages_per_minute_per_subject = 0'
    : '';
  return `
[api]
port = 0
admin_token = "${ADMIN_TOKEN}"
cors_origins = []
max_phase_waiters = 100000

[limits]
${limits}

[safety]
allow_unsafe_small_rounds = true

[pet.sum]
probability = ${s.sumProbability}
count = { min = 1, max = ${s.participants} }
time = { min_ms = ${s.sumWaitMs}, max_ms = ${s.sumWaitMs + 2000} }

[pet.update]
probability = 1
${
  CLOSE_AT.has(s.name)
    ? `count = { min = ${CLOSE_AT.get(s.name)}, max = ${CLOSE_AT.get(s.name)} }\ntime = { min_ms = 0, max_ms = ${s.updateWaitMs + 30_000} }`
    : `count = { min = 1, max = ${s.participants} }\ntime = { min_ms = ${s.updateWaitMs}, max_ms = ${s.updateWaitMs + 30_000} }`
}

[pet.sum2]
count = { min = 1, max = ${s.participants} }
time = { min_ms = 0, max_ms = 30000 }

[mask]
group = "${MASK.group}"
data = "${MASK.data}"
bound = "${MASK.bound}"
model = "${MASK.model}"

[model]
length = ${s.weights}

[store]
kind = "memory"

[models]
dir = "${modelsDir}"
`;
}

type Event =
  | { e: 'ready'; n: number }
  | { e: 'task'; p: number; r: number; task: 'sum' | 'update'; t: number }
  | { e: 'sent'; p: number; r: number; task: 'sum' | 'update'; t: number }
  | { e: 'model'; p: number; t: number; req: number; res: number; n?: number }
  | { e: 'req'; p: number; m: string; path: string; t: number }
  | { e: 'error'; p: number; code: string; message: string }
  | { e: 'phase'; p: number; r: number; phase: string; t: number };

interface RoundSummary {
  roundId: number;
  outcome: 'completed' | 'failed';
  failureReason?: string;
  startedAt: number;
  endedAt: number;
  phaseDurationsMs: Record<string, number>;
  participants: { sum: number; update: number; sum2: number };
}

async function admin<T>(url: string, path: string): Promise<T> {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return (await res.json()) as T;
}

/** The kernel's count of connections dropped because a listen queue was full (Linux; 0 elsewhere). */
/** A counter of the kernel's TCP statistics (0 where there is no /proc): `file`'s `prefix` lines are names, then values. */
function netCounter(file: string, prefix: string, name: string): number {
  try {
    const lines = readFileSync(file, 'utf8').split('\n');
    const names = lines.find((l) => l.startsWith(prefix))?.split(/\s+/) ?? [];
    const values = lines.filter((l) => l.startsWith(prefix))[1]?.split(/\s+/) ?? [];
    return Number(values[names.indexOf(name)] ?? 0);
  } catch {
    return 0;
  }
}

const listenOverflows = () => netCounter('/proc/net/netstat', 'TcpExt:', 'ListenOverflows');
/** TCP connections accepted on this machine: the coordinator's, and the bench's own few. */
const passiveOpens = () => netCounter('/proc/net/snmp', 'Tcp:', 'PassiveOpens');

async function adminPost(url: string, path: string): Promise<void> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (res.status !== 200) throw new Error(`POST ${path}: ${res.status}`);
  await res.body?.cancel();
}

interface CpuSample {
  readonly t: number;
  readonly participants: number;
  readonly coordinator: number;
}

/**
 * Sampled every 500 ms, not every 50: reading /proc that often for every process made the rounds
 * measurably slower (10 × 10⁶: work 3.1–3.5 s against 2.5 s without).
 */
interface SlowSample {
  readonly t: number;
  /** The processes' main threads only (without V8's GC and compiler threads, the libuv pool, the ingest workers). */
  readonly participantsMain: number;
  readonly coordinatorMain: number;
  /** Minor page faults so far: pages touched for the first time (fresh memory), 4 KiB each. */
  readonly participantFaults: number;
  readonly coordinatorFaults: number;
}

/** The stages of a round whose CPU is reported apart, each ending at the time `analyse` names. */
const STAGES = ['sum', 'updateSending', 'updateIdle', 'sum2', 'unmask', 'modelDownload'] as const;
type Stage = (typeof STAGES)[number];

async function runScenario(s: Scenario) {
  const dir = mkdtempSync(join(tmpdir(), `petfl-round-${s.name}-`));
  const group = new ChildProcesses();
  const participantProcs: ChildProcess[] = [];
  const events: Event[] = [];
  const errors = new Map<string, number>();
  try {
    writeFileSync(join(dir, 'petfl.toml'), toml(s, join(dir, 'models')));
    const profile = process.env['ROUND_CPU_PROF'];
    const profiling = [
      ...(profile === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profile]),
      ...(process.env['ROUND_NODE_ARGS']?.split(' ').filter((a) => a !== '') ?? []),
    ];
    const coordinator = group.spawn(
      'coordinator',
      process.execPath,
      [...profiling, CLI, '--config', join(dir, 'petfl.toml'), '--host', '127.0.0.1'],
      {
        LOG_LEVEL: 'info',
        ...ALLOCATOR_TUNING,
      },
    );
    const url = await waitFor(
      'the coordinator to log its URL',
      () => {
        if (coordinator.done()) throw new Error(`coordinator exited:\n${coordinator.lines().join('\n')}`);
        return jsonLines(coordinator).find((l) => typeof l['url'] === 'string')?.['url'] as string | undefined;
      },
      30_000,
    );

    // No new round starts while the participants join (an operator pause), so joining and the
    // measured rounds do not overlap. (Joins that lagged by minutes were the listen backlog's
    // doing: node/listen.ts, `listenOverflows` below.)
    await adminPost(url, '/admin/pause');
    const overflowsAtStart = listenOverflows();
    let ready = 0;
    const perProcess = Math.ceil(s.participants / s.processes);
    for (let i = 0; i < s.processes; i++) {
      const first = i * perProcess;
      const count = Math.min(perProcess, s.participants - first);
      if (count <= 0) break;
      const args = [...profiling, PARTICIPANT];
      const child = spawn(process.execPath, args, {
        cwd: ROOT,
        env: {
          PATH: process.env['PATH'] ?? '',
          ROUND_URL: url,
          ROUND_COUNT: String(count),
          ROUND_WEIGHTS: String(s.weights),
          ROUND_FIRST: String(first),
          ROUND_TRACE: process.env['ROUND_TRACE'] ?? '',
          ...ALLOCATOR_TUNING,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      participantProcs.push(child);
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        if (!line.startsWith('{')) return;
        const event = JSON.parse(line) as Event;
        if (event.e === 'ready') ready++;
        else if (event.e === 'error') errors.set(event.code, (errors.get(event.code) ?? 0) + 1);
        else events.push(event);
      });
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) =>
        errors.set(`stderr: ${line.slice(0, 160)}`, (errors.get(`stderr: ${line.slice(0, 160)}`) ?? 0) + 1),
      );
    }
    const spawnedAt = Date.now();
    await waitFor('every participant to join', () => (ready === participantProcs.length ? true : undefined), 600_000);
    await adminPost(url, '/admin/resume');
    const readyAt = Date.now();
    const opensAtStart = passiveOpens();
    console.log(
      `[${s.name}] ${s.participants} participants in ${participantProcs.length} processes joined in ${readyAt - spawnedAt} ms`,
    );

    const pids = participantProcs.map((c) => c.pid as number);
    const coordinatorPid = coordinator.process.pid as number;
    const cpu: CpuSample[] = [];
    const sampleCpu = () =>
      cpu.push({
        t: Date.now(),
        participants: pids.reduce((a, pid) => a + cpuSeconds(pid), 0),
        coordinator: cpuSeconds(coordinatorPid),
      });
    const slow: SlowSample[] = [];
    const sampleSlow = () =>
      slow.push({
        t: Date.now(),
        participantsMain: pids.reduce((a, pid) => a + mainThreadCpuSeconds(pid), 0),
        coordinatorMain: mainThreadCpuSeconds(coordinatorPid),
        participantFaults: pids.reduce((a, pid) => a + minorFaults(pid), 0),
        coordinatorFaults: minorFaults(coordinatorPid),
      });
    sampleCpu();
    sampleSlow();
    const sampler = setInterval(sampleCpu, 50);
    const slowSampler = setInterval(sampleSlow, 500);

    // Rounds that started after everyone joined; wait for ROUNDS completed ones and their models.
    let rounds: RoundSummary[] = [];
    const deadline = Date.now() + ROUNDS * (s.updateWaitMs + s.sumWaitMs + 40_000);
    for (;;) {
      // A coordinator busy with a thousand participants may not accept the operator's connection at once.
      const answer = await admin<{ rounds: RoundSummary[] }>(url, '/admin/rounds?limit=100').catch((error) => {
        errors.set(
          `bench: GET /admin/rounds: ${String(error.cause ?? error)}`,
          1 + (errors.get(`bench: GET /admin/rounds: ${String(error.cause ?? error)}`) ?? 0),
        );
        return undefined;
      });
      if (answer === undefined) continue;
      const history = answer.rounds;
      rounds = history.filter((r) => r.startedAt >= readyAt).sort((a, b) => a.roundId - b.roundId);
      const completed = rounds.filter((r) => r.outcome === 'completed');
      const last = completed[ROUNDS - 1];
      if (last !== undefined) {
        const holders = events.filter((e) => e.e === 'model' && e.t >= last.endedAt).length;
        if (holders >= s.participants || Date.now() > last.endedAt + 20_000) break;
      }
      if (Date.now() > deadline) {
        // What there is to go on: each round's outcome and the participants' errors.
        const outcomes = rounds.map((r) => `round ${r.roundId}: ${r.outcome} ${r.failureReason ?? ''}`.trim());
        throw new Error(
          `[${s.name}] only ${completed.length} of ${ROUNDS} rounds completed\n${outcomes.join('\n')}\n` +
            `participant errors: ${JSON.stringify(Object.fromEntries(errors))}`,
        );
      }
      await sleep(250);
    }
    clearInterval(sampler);
    clearInterval(slowSampler);
    sampleCpu();
    sampleSlow();
    const memory = {
      coordinatorPeakRssMiB: r3(memoryMiB(coordinatorPid).peakRssMiB),
      participantProcessPeakRssMiB: pids.map((pid) => r3(memoryMiB(pid).peakRssMiB)),
    };
    if (process.env['ROUND_DUMP_COORD']) writeFileSync(process.env['ROUND_DUMP_COORD'], coordinator.lines().join('\n'));
    const overflows = listenOverflows() - overflowsAtStart;
    const connectionsOpened = passiveOpens() - opensAtStart;
    return {
      rounds,
      events,
      cpu,
      slow,
      memory,
      readyAt,
      overflows,
      connectionsOpened,
      errors: Object.fromEntries(errors),
    };
  } finally {
    await stopProcesses(participantProcs);
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

type Run = Awaited<ReturnType<typeof runScenario>>;

/** The value of a timeline at `t` (the last sample at or before it). */
function sampleAt<T extends { readonly t: number }>(samples: readonly T[], t: number): T {
  let best = samples[0] as T;
  for (const sample of samples) if (sample.t <= t) best = sample;
  return best;
}

function analyse(run: Run) {
  const completed = run.rounds.filter((r) => r.outcome === 'completed');
  const models = run.events.filter((e): e is Extract<Event, { e: 'model' }> => e.e === 'model');
  const perRound = completed.map((round) => {
    const d = round.phaseDurationsMs;
    const updateStart = round.startedAt + (d['sum'] ?? 0);
    const updateEnd = updateStart + (d['update'] ?? 0);
    const next = run.rounds.find((r) => r.roundId > round.roundId);
    const holders = new Map<number, Extract<Event, { e: 'model' }>>();
    for (const m of models) {
      if (m.t < round.endedAt || (next !== undefined && m.t >= next.endedAt)) continue;
      if (!holders.has(m.p)) holders.set(m.p, m);
    }
    const lastModel = max([...holders.values()].map((m) => m.t));
    const tasks = new Map<number, 'sum' | 'update'>();
    const known = new Map<number, number>();
    for (const e of run.events) {
      if (e.e === 'task' && e.r === round.roundId) {
        tasks.set(e.p, e.task);
        if (!known.has(e.p)) known.set(e.p, e.t);
      }
    }
    const sent = run.events.filter((e): e is Extract<Event, { e: 'sent' }> => e.e === 'sent' && e.r === round.roundId);
    const updatesSent = sent.filter((e) => e.task === 'update');
    // No update is accepted after the update phase's end: a later 'sent' is one refused there
    // (ROUND_CLOSE_AT's phases close while more updates are on their way).
    const lastSent = max(updatesSent.map((e) => e.t));
    const lastUpdate = lastSent === null ? null : Math.min(lastSent, updateEnd);
    const sum2Sent = new Map<number, number>();
    for (const e of sent) if (e.task === 'sum' && e.t >= updateEnd) sum2Sent.set(e.p, e.t);
    // The window: from the previous round's last model (or the join) to this round's.
    const prevRound = completed[completed.indexOf(round) - 1];
    const prevHolders =
      prevRound === undefined ? [] : models.filter((m) => m.t >= prevRound.endedAt && m.t < round.endedAt);
    const from = prevHolders.length > 0 ? Math.max(...prevHolders.map((m) => m.t)) : run.readyAt;
    const to = lastModel ?? round.endedAt;
    const c0 = sampleAt(run.cpu, from);
    const c1 = sampleAt(run.cpu, to);
    const s0 = sampleAt(run.slow, from);
    const s1 = sampleAt(run.slow, to);
    // Where the window's CPU went: each stage from the end of the one before (the first from `from`).
    const ends: Record<Stage, number> = {
      sum: updateStart,
      updateSending: lastUpdate ?? updateStart,
      updateIdle: updateEnd,
      sum2: updateEnd + (d['sum2'] ?? 0),
      unmask: round.endedAt,
      modelDownload: to,
    };
    let stageStart = from;
    const stages = {} as Record<Stage, { ms: number; participants: number | null; coordinator: number | null }>;
    for (const stage of STAGES) {
      const end = Math.max(stageStart, ends[stage]);
      const a = sampleAt(run.cpu, stageStart);
      const b = sampleAt(run.cpu, end);
      stages[stage] = {
        ms: end - stageStart,
        participants: r3(b.participants - a.participants),
        coordinator: r3(b.coordinator - a.coordinator),
      };
      stageStart = end;
    }
    // Bytes per participant over the window: the difference of its counters between its model events.
    // Requests too (a participant process that predates the count reports none).
    const bytes: Record<'sum' | 'update', number[]> = { sum: [], update: [] };
    const requests: Record<'sum' | 'update', number[]> = { sum: [], update: [] };
    for (const [p, m] of holders) {
      const before = [...models].reverse().find((x) => x.p === p && x.t < m.t && x.t < round.endedAt);
      const task = tasks.get(p);
      if (task === undefined) continue;
      bytes[task].push(m.req + m.res - (before === undefined ? 0 : before.req + before.res));
      if (m.n !== undefined) requests[task].push(m.n - (before?.n ?? 0));
    }
    return {
      roundId: round.roundId,
      phaseDurationsMs: d,
      participants: round.participants,
      holders: holders.size,
      updateToModelMs: lastModel === null ? null : lastModel - updateStart,
      workMs: lastModel === null || lastUpdate === null ? null : lastUpdate - updateStart + (lastModel - updateEnd),
      lastUpdateAfterUpdateStartMs: lastUpdate === null ? null : lastUpdate - updateStart,
      updateTaskToAcceptedMs: {
        median: median(updatesSent.map((e) => e.t - (known.get(e.p) ?? e.t))),
        max: max(updatesSent.map((e) => e.t - (known.get(e.p) ?? e.t))),
      },
      sum2AcceptedAfterUpdateEndMs: [...sum2Sent.values()].map((t) => t - updateEnd).sort((a, b) => a - b),
      modelAfterRoundEndMs: lastModel === null ? null : lastModel - round.endedAt,
      cpuSeconds: {
        participants: r3(c1.participants - c0.participants),
        coordinator: r3(c1.coordinator - c0.coordinator),
      },
      mainThreadCpuSeconds: {
        participants: r3(s1.participantsMain - s0.participantsMain),
        coordinator: r3(s1.coordinatorMain - s0.coordinatorMain),
      },
      freshMemoryMiB: {
        participants: r3(((s1.participantFaults - s0.participantFaults) * 4) / 1024),
        coordinator: r3(((s1.coordinatorFaults - s0.coordinatorFaults) * 4) / 1024),
      },
      stages,
      bytesPerParticipant: { update: median(bytes.update), sum: median(bytes.sum) },
      requestsPerParticipant: { update: median(requests.update), sum: median(requests.sum) },
    };
  });
  return perRound;
}

/** The primitives' CPU for one round of `updates` updates and `sums` sum participants at `weights`. */
async function floor(weights: number, updates: number, sums: number) {
  const crypto = await initCrypto();
  // At least `reps` runs and at least 300 ms of them: at 10⁴ weights 15 runs of a primitive took
  // 4–12 ms in all, too few for the JIT, and the same primitive's fastest run differed up to 3×
  // between runs of the bench with the scenarios in another order (2026-12-04).
  const time = (fn: () => void, reps: number) => {
    fn();
    const xs: number[] = [];
    const start = performance.now();
    while (xs.length < reps || (performance.now() - start < 300 && xs.length < 2000)) {
      const t = performance.now();
      fn();
      xs.push(performance.now() - t);
    }
    // The fastest run: a floor is a lower bound, and on this VM a run that writes fresh memory
    // (page faults at about 10 µs a page) or meets a collection is 2–8× slower than one that does not.
    return Math.min(...xs);
  };
  const reps = weights >= 1_000_000 ? 5 : 15;
  const model = new Float32Array(weights).map((_, i) => Math.sin(i));
  const masker = new Masker(crypto, MASK);
  const identity = crypto.signingKeyPair(new Uint8Array(32).fill(1));
  const round = crypto.encryptKeyPair();
  // Masking is timed as the SDK masks: straight into the update payload's encoding
  // (encodeMaskedUpdate), so it includes encoding; sealing then seals those bytes.
  const masked = masker.mask(model, 1).masked;
  const fields = {
    sumSignature: new Uint8Array(64),
    updateSignature: new Uint8Array(64),
    localSeedDict: new Map(
      Array.from({ length: Math.max(1, sums) }, (_, i) => [
        toBase64Url(new Uint8Array(32).fill(i + 1)),
        new Uint8Array(ENCRYPTED_MASK_SEED_BYTES),
      ]),
    ),
  };
  const maskSeed = new Uint8Array(32).fill(2);
  let payload = encodeMaskedUpdate(masker, fields, model, 1, maskSeed);
  const maskMs = time(() => {
    payload = encodeMaskedUpdate(masker, fields, model, 1, maskSeed);
  }, reps);
  const frame = {
    participantPk: identity.publicKey,
    coordinatorPk: round.publicKey,
    tag: 'update',
    multipart: false,
  } as const;
  let sealed: Uint8Array = new Uint8Array();
  const sealMs = time(() => {
    sealed = sealFrame(crypto, frame, payload, identity.secretKey);
  }, reps);
  const openMs = time(() => {
    openMessage(crypto, sealed, round);
  }, reps);
  // An aggregate holds at most 1,000 models (m3): a fresh one every 900 runs, which the fastest
  // run does not include.
  const intoAggregate = (add: (aggregation: Aggregation) => void) => {
    let aggregation = new Aggregation(MASK, weights);
    return () => {
      if (aggregation.modelCount >= 900) aggregation = new Aggregation(MASK, weights);
      add(aggregation);
    };
  };
  const addMs = time(
    intoAggregate((aggregation) => aggregation.aggregate(masked)),
    reps,
  );
  const seed = new Uint8Array(32).fill(3);
  // As a sum participant derives: each mask drawn and added in one pass (aggregateDerived), or
  // drawn whole and then added, whichever is cheaper here: at 10⁴ weights the fused pass measured
  // 0.4–0.5 ms against 0.08 ms for the two steps (fresh scratch memory on this VM), so the floor
  // takes the cheaper way to do the same work.
  const fusedMs = time(
    intoAggregate((aggregation) => aggregation.aggregateDerived(crypto, seed)),
    reps,
  );
  const separateMs = time(() => deriveMask(crypto, MASK, seed, weights), reps) + addMs;
  const deriveMs = Math.min(fusedMs, separateMs);
  const mask = deriveMask(crypto, MASK, seed, weights);
  const unmaskMs = time(() => {
    const a = new Aggregation(MASK, weights);
    a.aggregate(masked);
    a.unmask(mask);
  }, reps);
  // A Sum2 carries a mask object as long as an update's masked model (and no seed dictionary):
  // sealing one is timed as sealing an update, opening it as opening one, and the coordinator
  // counts each vote by the SHA-256 of its encoded mask (phases/sum2.ts).
  const vote = encodeMaskObject(masked);
  const hashMs = time(() => {
    crypto.hash(vote);
  }, reps);
  // An update's mask seed sealed to every sum participant's ephemeral key, as the SDK seals it
  // (sealToEach, ADR 0016), and a sum participant opening one update's box (the seed boxes were
  // left out of the floor before 2026-12-04 15:00).
  const ephemeralKeys = Array.from({ length: Math.max(1, Math.round(sums)) }, () => crypto.encryptKeyPair());
  const sealSeedsMs = time(
    () =>
      crypto.sealToEach(
        maskSeed,
        ephemeralKeys.map((pair) => pair.publicKey),
      ),
    15,
  );
  const seedBox = crypto.seal(maskSeed, (ephemeralKeys[0] as (typeof ephemeralKeys)[number]).publicKey);
  const SEED_OPENS = 50;
  const openSeedMs =
    time(() => {
      for (let i = 0; i < SEED_OPENS; i++)
        crypto.openSealed(seedBox, ephemeralKeys[0] as (typeof ephemeralKeys)[number]);
    }, 15) / SEED_OPENS;
  const seedBoxesMs = updates * sealSeedsMs + sums * updates * openSeedMs;
  const participantMs = updates * (maskMs + sealMs) + sums * (updates * deriveMs + sealMs) + seedBoxesMs;
  const coordinatorMs = updates * (openMs + addMs) + sums * (openMs + hashMs) + unmaskMs;
  return {
    primitivesMs: {
      mask: r3(maskMs),
      sealSeeds: r3(sealSeedsMs),
      openSeed: r3(openSeedMs),
      seal: r3(sealMs),
      open: r3(openMs),
      add: r3(addMs),
      derive: r3(deriveMs),
      hashVote: r3(hashMs),
      unmask: r3(unmaskMs),
    },
    updates,
    sums,
    participantCpuSeconds: r3(participantMs / 1000),
    coordinatorCpuSeconds: r3(coordinatorMs / 1000),
    totalCpuSeconds: r3((participantMs + coordinatorMs) / 1000),
    /** The floor as defined before 2026-12-04 15:00, without the seed boxes. */
    withoutSeedBoxesCpuSeconds: r3((participantMs - seedBoxesMs + coordinatorMs) / 1000),
  };
}

function summarise(rounds: ReturnType<typeof analyse>) {
  const pick = (f: (r: (typeof rounds)[number]) => number | null) =>
    r3(median(rounds.map(f).filter((x): x is number => x !== null)));
  return {
    rounds: rounds.length,
    updateToModelMs: pick((r) => r.updateToModelMs),
    workMs: pick((r) => r.workMs),
    lastUpdateAfterUpdateStartMs: pick((r) => r.lastUpdateAfterUpdateStartMs),
    updateTaskToAcceptedMs: pick((r) => r.updateTaskToAcceptedMs.median),
    sum2PhaseMs: pick((r) => r.phaseDurationsMs['sum2'] ?? null),
    modelAfterRoundEndMs: pick((r) => r.modelAfterRoundEndMs),
    cpuSeconds: {
      participants: pick((r) => r.cpuSeconds.participants),
      coordinator: pick((r) => r.cpuSeconds.coordinator),
    },
    mainThreadCpuSeconds: {
      participants: pick((r) => r.mainThreadCpuSeconds.participants),
      coordinator: pick((r) => r.mainThreadCpuSeconds.coordinator),
    },
    freshMemoryMiB: {
      participants: pick((r) => r.freshMemoryMiB.participants),
      coordinator: pick((r) => r.freshMemoryMiB.coordinator),
    },
    stages: Object.fromEntries(
      STAGES.map((stage) => [
        stage,
        {
          ms: pick((r) => r.stages[stage].ms),
          participants: pick((r) => r.stages[stage].participants),
          coordinator: pick((r) => r.stages[stage].coordinator),
        },
      ]),
    ),
    bytesPerParticipant: {
      update: pick((r) => r.bytesPerParticipant.update),
      sum: pick((r) => r.bytesPerParticipant.sum),
    },
    requestsPerParticipant: {
      update: pick((r) => r.requestsPerParticipant.update),
      sum: pick((r) => r.requestsPerParticipant.sum),
    },
    updates: pick((r) => r.participants.update),
    sums: pick((r) => r.participants.sum),
  };
}

if (process.env['ROUND_NO_BUILD'] !== '1') {
  console.log('building the packages (npm run build)…');
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

const results: Record<string, unknown> = {};
for (const s of SCENARIOS) {
  if (ONLY !== undefined && !ONLY.includes(s.name)) continue;
  const run = await runScenario(s);
  const rounds = analyse(run);
  const steady = rounds.slice(1);
  const summary = summarise(steady);
  const floorCpu = await floor(s.weights, summary.updates ?? 0, summary.sums ?? 0);
  const roundCpu = (summary.cpuSeconds.participants ?? 0) + (summary.cpuSeconds.coordinator ?? 0);
  const closeAt = CLOSE_AT.get(s.name);
  const key = `${s.name}${closeAt === undefined ? '' : `@close${closeAt}`}${LABEL === undefined ? '' : `:${LABEL}`}`;
  results[key] = {
    ...(LABEL === undefined ? {} : { label: LABEL }),
    ...(closeAt === undefined ? {} : { closeAtUpdates: closeAt }),
    participants: s.participants,
    processes: s.processes,
    weights: s.weights,
    maskedModelBytes: maskObjectByteLength(MASK, s.weights),
    settings: { sumProbability: s.sumProbability, updateWaitMs: s.updateWaitMs, sumWaitMs: s.sumWaitMs },
    steady: {
      ...summary,
      cpuRatioToFloor: r3(roundCpu / (floorCpu.totalCpuSeconds ?? 1)),
      cpuRatioToFloorWithoutSeedBoxes: r3(roundCpu / (floorCpu.withoutSeedBoxesCpuSeconds ?? 1)),
    },
    first: rounds[0] === undefined ? null : summarise([rounds[0]]),
    floor: floorCpu,
    failedRounds: run.rounds.filter((r) => r.outcome === 'failed').map((r) => r.failureReason),
    memory: run.memory,
    /** Connections the kernel dropped with a full listen queue during the scenario (all of the machine's). */
    listenOverflows: run.overflows,
    /** TCP connections the machine accepted from the first measured round's start to the last model, per round. */
    connectionsOpenedPerRound: r3(run.connectionsOpened / Math.max(1, run.rounds.length)),
    participantErrors: run.errors,
    perRound: rounds,
  };
  console.log(`[${key}]`, JSON.stringify((results[key] as { steady: unknown }).steady));
  if (process.env['ROUND_TRACE'] === '1') {
    const trace = join(tmpdir(), `petfl-round-trace-${s.name}.json`);
    writeFileSync(trace, JSON.stringify({ rounds: run.rounds, events: run.events, cpu: run.cpu }));
    console.log(`trace: ${trace}`);
  }
}

const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  loadavg: loadavg().map((x) => r3(x)),
  memoryGiB: r3(totalmem() / 2 ** 30),
  freeGiB: r3(freemem() / 2 ** 30),
  node: process.version,
  glibcTunables: process.env['GLIBC_TUNABLES'] ?? null,
};
let previous: Record<string, unknown> = {};
try {
  previous = JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>;
} catch {
  // first run
}
mkdirSync(dirname(RESULTS), { recursive: true });
// Each scenario says when it was measured (ROUND_ONLY keeps the others from earlier runs); one
// written before scenarios carried a date gets the date of the file it came from.
const date = new Date().toISOString();
const kept = Object.fromEntries(
  Object.entries((previous['scenarios'] as Record<string, Record<string, unknown>>) ?? {}).map(([name, s]) => [
    name,
    { date: previous['date'], ...s },
  ]),
);
const fresh = Object.fromEntries(Object.entries(results).map(([name, s]) => [name, { date, ...(s as object) }]));
const scenarios = { ...kept, ...fresh };
writeFileSync(RESULTS, `${JSON.stringify({ date, machine, rounds: ROUNDS, scenarios }, null, 2)}\n`);
console.log(`wrote ${RESULTS}`);
