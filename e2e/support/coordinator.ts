/**
 * A real coordinator for one e2e test: `listen()` in the test process on a free port of
 * 127.0.0.1, CORS open to any origin (the pages come from another port), short phase
 * times, global models in memory, and a memory or a Redis store (a key prefix of its
 * own per test, deleted at the end). The tabs reach it through a TCP proxy
 * (support/tcp-proxy.ts), so `restart()` can drop every connection at once, close it and
 * start another on the same store, as a restarted process would be (ADR 0005).
 *
 * With `run` it runs a training run (docs/learning.md) as `npm start -- --strategy …` does
 * (scripts/start.ts): updates, the demo model's P as `model.length`, the demo's shared initial
 * weights as `run.initial_model` (a `.f32` file, apps/web/node/initial-model.ts).
 */

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CoordinatorStatus, MemoryModelStore, parseSettings, type RoundSummary } from '@petfl/coordinator';
import { listen, type RunningCoordinator } from '@petfl/coordinator/node';
import { RedisCoordinatorStore, redisStoreKeys } from '@petfl/coordinator/redis';
import { HoldClock } from './hold-clock.ts';
import { startTcpProxy } from './tcp-proxy.ts';

export const ADMIN_TOKEN = 'e2e-admin-token';
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export type StoreKind = 'memory' | 'redis';

export interface PhaseConfig {
  readonly min: number;
  readonly max: number;
  readonly minMs: number;
  readonly maxMs: number;
}

/** A training run's `[run]` settings (docs/learning.md), as the demo's (scripts/start.ts). */
export interface RunConfig {
  readonly strategy: 'fedavg' | 'fedavgm' | 'fedadagrad' | 'fedadam' | 'fedyogi';
  readonly metrics: readonly string[];
  /** 0: no limit (the default). */
  readonly rounds?: number;
  /** Early stopping on `loss` after this many evaluations without improvement; 0 (the default): never. */
  readonly patience?: number;
}

export interface CoordinatorConfig {
  readonly modelLength: number;
  readonly store: StoreKind;
  readonly sumProbability: number;
  readonly sum: PhaseConfig;
  readonly update: PhaseConfig;
  readonly sum2: PhaseConfig;
  /** A training run; none when absent (each round's model is the plain average). */
  readonly run?: RunConfig;
}

/**
 * Defaults for a handful of tabs. The sum phase stays open 3 s so that a sum-eligible tab
 * that notices the round late (it polls with backoff, it may be training) still gets in —
 * one that misses it sits the round out, which costs an update. A round the selection
 * dooms (nobody sum-eligible, or too few left to update) fails within seconds. That is how
 * they run in real time (npm run simulate); in the e2e tests the phase driver
 * (support/phase-driver.ts) keeps every phase open until the tabs are done with it and
 * then moves the clock to time.min (the phase ends) or time.max (it fails).
 */
export const DEFAULT_PHASES: Pick<CoordinatorConfig, 'sumProbability' | 'sum' | 'update' | 'sum2'> = {
  sumProbability: 0.3,
  sum: { min: 1, max: 100, minMs: 3_000, maxMs: 6_000 },
  update: { min: 3, max: 100, minMs: 3_000, maxMs: 20_000 },
  sum2: { min: 1, max: 100, minMs: 0, maxMs: 20_000 },
};

function runToml(run: RunConfig, initialModel: string): string {
  return `
[run]
enabled = true
send = "update"
strategy = "${run.strategy}"
rounds = ${run.rounds ?? 0}
metrics = [${run.metrics.map((m) => `"${m}"`).join(', ')}]
initial_model = "${initialModel.replaceAll('\\', '/')}"
[run.early_stopping]
metric = "${run.metrics.includes('loss') ? 'loss' : ''}"
mode = "min"
patience = ${run.patience ?? 0}
`;
}

/** The coordinator's settings file for `config` (`port` 0: the kernel picks one, read from the log). */
export function settingsToml(config: CoordinatorConfig, port: number, initialModel: string | undefined): string {
  const phase = (name: string, p: PhaseConfig, probability?: number) => `
[pet.${name}]
${probability === undefined ? '' : `probability = ${probability}`}
count = { min = ${p.min}, max = ${p.max} }
time = { min_ms = ${p.minMs}, max_ms = ${p.maxMs} }`;
  return `
[api]
port = ${port}
admin_token = "${ADMIN_TOKEN}"
cors_origins = ["*"]
max_body_bytes = 16777216
[safety]
# A handful of tabs: rounds below the safe minimums are allowed here (docs/security.md §1).
allow_unsafe_small_rounds = true
scalar_min = 1
scalar_max = 10000
${phase('sum', config.sum, config.sumProbability)}
${phase('update', config.update, 1)}
${phase('sum2', config.sum2)}
[mask]
group = "power2"
data = "f32"
bound = "b4"
model = "m3"
[model]
length = ${config.modelLength}
[store]
kind = "${config.store}"
redis_url = "${REDIS_URL}"
${config.run === undefined || initialModel === undefined ? '' : runToml(config.run, initialModel)}`;
}

export interface E2ECoordinator {
  /** Where the tabs reach it (the proxy). */
  readonly url: string;
  readonly config: CoordinatorConfig;
  readonly running: RunningCoordinator;
  status(): CoordinatorStatus;
  /** Finished rounds, oldest first. */
  history(): Promise<readonly RoundSummary[]>;
  /** The global model of round `roundId` as the coordinator stored it. */
  model(roundId: number): Promise<Float32Array | Float64Array | undefined>;
  /**
   * The coordinator's clock (support/hold-clock.ts): `hold()` stops its time (no phase ends
   * by time while held), `release()` lets it run on; in the e2e tests the phase driver runs
   * it (support/phase-driver.ts). Survives `restart()`.
   */
  readonly clock: HoldClock;
  /** Seed dictionaries answered since the start (`GET /seeds`): final ones, and seeds so far (ADR 0017). */
  seedReads(): { readonly final: number; readonly soFar: number };
  /** GET/POST an admin route with the token (`json`: the body of a POST). */
  admin(path: string, method?: 'GET' | 'POST', json?: unknown): Promise<unknown>;
  /** Drops every connection, closes this coordinator and starts another on the same store and model store. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Writes the demo's shared initial weights where `run.initial_model` reads them; TensorFlow.js loads only for a run. */
async function writeInitialModel(dir: string): Promise<string> {
  const { demoInitialModel, writeF32 } = await import('../../apps/web/node/initial-model.ts');
  const path = join(dir, 'initial.f32');
  writeF32(path, await demoInitialModel());
  return path;
}

export async function startCoordinator(config: CoordinatorConfig): Promise<E2ECoordinator> {
  const models = new MemoryModelStore();
  const prefix = `petfl-e2e-${randomUUID()}`;
  const clock = new HoldClock();
  const seedReads = { final: 0, soFar: 0 };
  const runDir = config.run === undefined ? undefined : mkdtempSync(join(tmpdir(), 'petfl-e2e-run-'));
  const initialModel = runDir === undefined ? undefined : await writeInitialModel(runDir);
  const start = async (port: number) => {
    const settings = parseSettings(settingsToml(config, port, initialModel), {});
    const store =
      config.store === 'redis' ? await RedisCoordinatorStore.connect({ url: REDIS_URL, keyPrefix: prefix }) : undefined;
    // A driven clock (support/phase-driver.ts) stops at every phase boundary, synchronously.
    const events = {
      phaseEnded: () => clock.boundary(),
      roundEnded: () => clock.boundary(),
      seedDictionaryRead: (dictionary: 'final' | 'so-far') => {
        if (dictionary === 'final') seedReads.final++;
        else seedReads.soFar++;
      },
    };
    return listen(settings, { models, clock, events, ...(store === undefined ? {} : { store }) });
  };
  let running = await start(0);
  const proxy = await startTcpProxy(running.port);
  let closed = false;
  return {
    url: `http://127.0.0.1:${proxy.port}`,
    config,
    clock,
    get running() {
      return running;
    },
    status: () => running.coordinator.status(),
    history: async () => [...(await running.coordinator.history(1000))].sort((a, b) => a.roundId - b.roundId),
    model: async (roundId) => (await models.get(roundId))?.model,
    seedReads: () => ({ ...seedReads }),
    async admin(path, method = 'GET', json = undefined) {
      const response = await fetch(`${running.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      });
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
      return response.json();
    },
    async restart() {
      proxy.cut();
      await running.close();
      running = await start(0);
      proxy.retarget(running.port);
    },
    async close() {
      if (closed) return;
      closed = true;
      await proxy.close();
      await running.close();
      if (config.store === 'redis') await deleteRedisPrefix(prefix);
      if (runDir !== undefined) rmSync(runDir, { recursive: true, force: true });
    },
  };
}

/** One command over a raw RESP connection (no client library needed): the first reply, or null if unreachable. */
function redisCommand(args: readonly string[], timeoutMs = 2_000): Promise<string | null> {
  const { hostname, port } = new URL(REDIS_URL);
  const command = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((done) => {
    const socket = connect(Number(port || 6379), hostname, () => socket.write(command));
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      done(null);
    });
    socket.once('data', (reply) => {
      socket.end();
      done(reply.toString('latin1'));
    });
    socket.once('error', () => done(null));
  });
}

/** Whether a Redis server answers PING at REDIS_URL. */
export async function redisReachable(): Promise<boolean> {
  return (await redisCommand(['PING'])) === '+PONG\r\n';
}

/** Deletes every key under `prefix` with one EVAL. */
async function deleteRedisPrefix(prefix: string): Promise<void> {
  const script = "local k = redis.call('keys', ARGV[1]) for i = 1, #k do redis.call('del', k[i]) end return #k";
  await redisCommand(['EVAL', script, '0', redisStoreKeys(prefix).pattern]);
}
