/**
 * The plain side of `npm run bench:convergence`: a training run replayed in this process without
 * secure aggregation. Each round the participants that trained in the secure round train again —
 * the same `BenchParticipant` code (bench/convergence-client.mjs), the same shards, the same
 * seeded order — from the replayed global model; the vectors of those whose updates the
 * coordinator accepted are averaged in float64 with the same scalars (Σ sᵢvᵢ / Σ sᵢ, no masks,
 * no fixed-point encoding — or, as a second replay, through the fixed-point encoding alone:
 * convergence-fixed-point.ts), split by the run's vector layout (docs/learning.md §2) and stepped by
 * the same server strategy module the coordinator uses: x ← strategy(x, Δ̄), c ← c + Δc̄. The
 * global model is then served the way the coordinator serves it: rounded to float32 under an f32
 * mask config (protocol.md §3.10).
 */

import {
  createStrategy,
  type ServerStrategy,
  type StrategySettings,
  type StrategyState,
} from '../packages/coordinator/src/run/strategy/strategy.ts';
import {
  globalLength,
  type MaskConfig,
  maskedLength,
  splitAverage,
  type VectorLayout,
} from '../packages/core/src/index.ts';
import { FixedPointSum } from './convergence-fixed-point.ts';

const CLIENT = new URL('./convergence-client.mjs', import.meta.url).href;

/** A decoded shard (convergence-client.mjs decodeShard). */
export interface DecodedShard {
  readonly train: { readonly x: Float32Array; readonly labels: Uint8Array; readonly count: number };
  readonly evaluation: { readonly x: Float32Array; readonly labels: Uint8Array; readonly count: number };
}

export type ClientAlgorithm = { kind: 'fedavg' } | { kind: 'fedprox'; mu: number } | { kind: 'scaffold' };

export interface BenchParticipantOptions {
  readonly index: number;
  readonly shard: DecodedShard;
  readonly layout: VectorLayout;
  readonly algorithm: ClientAlgorithm;
  readonly scalar: number;
  readonly learningRate: number;
  readonly batchSize: number;
  readonly seed: number;
}

export interface BenchParticipant {
  trainPlain(input: Float32Array | Float64Array, round: number): Promise<Float64Array>;
  /** Frees its model and evaluation tensors. */
  dispose(): void;
}

export interface Evaluated {
  readonly accuracy: number;
  readonly correct: number;
  readonly loss: number;
  readonly predicted: ArrayLike<number>;
}

export interface Tester {
  evaluate(weights: ArrayLike<number>): Evaluated;
}

/** What bench/convergence-client.mjs exports (a plain JS module: typed here). */
export interface ClientModule {
  initBackend(): Promise<string>;
  weightCount(): number;
  readonly LAYERS: readonly number[];
  encodeShard(shard: { train: number; evaluation: number; labels: Uint8Array; pixels: Uint8Array }): Uint8Array;
  decodeShard(bytes: Uint8Array): DecodedShard;
  readonly BenchParticipant: new (options: BenchParticipantOptions) => BenchParticipant;
  createTester(test: { x: Float32Array; labels: Uint8Array; count: number }): Tester;
  hashVector(vector: Float32Array | Float64Array): string;
}

export async function loadClient(): Promise<ClientModule> {
  // A module specifier in a variable: the client is plain JS, typed by ClientModule above.
  return (await import(CLIENT)) as ClientModule;
}

/** One participant's part in a round: it trained; `accepted` when its update went into the average. */
export interface Contribution {
  readonly participant: number;
  readonly accepted: boolean;
  /** The global model it trained from, when not the latest (it missed a round's model); default served(run). */
  readonly input?: Float32Array | Float64Array;
}

/**
 * How a replay averages: `float64`, Σ sᵢvᵢ / Σ sᵢ in float64; `fixed-point`, the same through the
 * mask config's fixed-point encoding without masks (convergence-fixed-point.ts).
 */
export type Averaging = 'float64' | 'fixed-point';

/** The plain run's state: the global model in float64 ([x | c]), the strategy's state. */
export interface PlainRun {
  readonly layout: VectorLayout;
  readonly strategy: ServerStrategy;
  readonly mask: MaskConfig;
  readonly averaging: Averaging;
  model: Float64Array;
  state: StrategyState;
}

export function startPlain(
  layout: VectorLayout,
  settings: StrategySettings,
  initial: ArrayLike<number>,
  mask: MaskConfig,
  averaging: Averaging,
): PlainRun {
  const strategy = createStrategy(settings);
  const model = new Float64Array(globalLength(layout));
  for (let i = 0; i < initial.length; i++) model[i] = initial[i] as number;
  return { layout, strategy, mask, averaging, model, state: strategy.initialState(layout.modelLength) };
}

/** The global model as participants receive it (GET /model): float32 under an f32 mask config. */
export function served(run: PlainRun): Float32Array | Float64Array {
  return run.mask.data === 'f32' || run.mask.data === 'i32'
    ? Float32Array.from(run.model)
    : Float64Array.from(run.model);
}

export interface PlainRound {
  /** The federated metrics of the model the round started from (example-weighted means), or null. */
  readonly metrics: Readonly<Record<string, number>> | null;
  readonly averaged: number;
}

/**
 * One round: every contribution trains (in order) from the served model (or its own input); the
 * accepted ones are averaged and stepped. A round nobody's update reached leaves the model as it is.
 */
export async function plainRound(
  run: PlainRun,
  participants: readonly BenchParticipant[],
  scalars: readonly number[],
  round: number,
  contributions: readonly Contribution[],
  /** False for the run's evaluation-only round (docs/learning.md §5): metrics, and the model stays. */
  step = true,
): Promise<PlainRound> {
  const input = served(run);
  const length = maskedLength(run.layout);
  const sum = new Float64Array(length);
  const fixed = run.averaging === 'fixed-point' ? new FixedPointSum(run.mask, length, contributions.length) : undefined;
  let scalarSum = 0;
  let averaged = 0;
  for (const contribution of contributions) {
    const { participant, accepted } = contribution;
    const vector = await (participants[participant] as BenchParticipant).trainPlain(contribution.input ?? input, round);
    if (!accepted) continue;
    if (vector.length !== length) throw new Error(`replay: expected ${length} values, got ${vector.length}`);
    const s = scalars[participant] as number;
    if (fixed !== undefined) fixed.add(vector, s);
    else for (let i = 0; i < length; i++) sum[i] = (sum[i] as number) + s * (vector[i] as number);
    scalarSum += s;
    averaged++;
  }
  if (averaged === 0) return { metrics: null, averaged };
  let average: Float64Array = new Float64Array(length);
  if (fixed !== undefined) average = fixed.average();
  else for (let i = 0; i < length; i++) average[i] = (sum[i] as number) / scalarSum;
  const split = splitAverage(run.layout, average);
  if (!step) return { metrics: split.metrics?.values ?? null, averaged };
  const P = run.layout.modelLength;
  const x = run.model.subarray(0, P);
  const stepped = run.strategy.step(run.state, Float64Array.from(x), split.model);
  const next = new Float64Array(globalLength(run.layout));
  next.set(stepped.model, 0);
  if (run.layout.controlVariates) {
    const delta = split.controlDelta as Float64Array;
    for (let i = 0; i < P; i++) next[P + i] = (run.model[P + i] as number) + (delta[i] as number);
  }
  run.model = next;
  run.state = stepped.state;
  return { metrics: split.metrics?.values ?? null, averaged };
}
