/**
 * Test support: a coordinator app in process, wired as on Node (memory stores,
 * Prometheus metrics, manual clock unless asked otherwise) plus a driver that runs one complete round with
 * exactly k sum and m update participants and returns what they submitted.
 */

import {
  decodeGlobalModel,
  type GlobalModel,
  initCrypto,
  maskParams,
  type PetCrypto,
  type RoundParameters,
} from '@petfl/core';
import { expect } from 'vitest';
import type { Clock } from '../src/clock.ts';
import type { CoordinatorApp } from '../src/create.ts';
import type { Logger } from '../src/logger.ts';
import { createNodeCoordinatorApp } from '../src/node/create.ts';
import { PrometheusMetrics } from '../src/prometheus/prometheus-metrics.ts';
import { parseSettings, type Settings } from '../src/settings.ts';
import type { MessageIngest } from '../src/state-machine/ingest.ts';
import type { CoordinatorStore } from '../src/store/coordinator-store.ts';
import { MemoryModelStore } from '../src/store/memory-model-store.ts';
import type { ModelStore } from '../src/store/model-store.ts';
import { ManualClock } from './manual-clock.ts';
import {
  exactAverage,
  type Fetch,
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  identities,
  pickTasks,
  post,
  randomModel,
  type SimParticipant,
  sum2Message,
  sumMessage,
  updateMessage,
} from './sim.ts';

export const ADMIN_TOKEN = 'test-admin-token';

/**
 * Settings for tests: a 1000-weight model, phases that end at exactly 3 sum, 10 update and 3 sum2
 * messages; override any field with its PETFL_* name (`{ PETFL_PET_UPDATE_TIME_MIN_MS: '200' }`).
 */
export function testSettings(env: Record<string, string> = {}): Settings {
  // Messages are opened in the coordinator's own thread unless a test asks for ingest workers
  // (PETFL_API_INGEST_WORKERS; the pool's own tests: src/node/ingest-pool.test.ts).
  const toml = `
[api]
admin_token = "${ADMIN_TOKEN}"
ingest_workers = 0
[safety]
allow_unsafe_small_rounds = true
scalar_min = 0
[pet.sum]
probability = 0.2
count = { min = 3, max = 3 }
time = { min_ms = 0, max_ms = 60000 }
[pet.update]
probability = 0.6
count = { min = 10, max = 10 }
time = { min_ms = 0, max_ms = 60000 }
[pet.sum2]
count = { min = 3, max = 3 }
time = { min_ms = 0, max_ms = 60000 }
[model]
length = 1000
`;
  return parseSettings(toml, env);
}

export interface Harness extends Omit<CoordinatorApp, 'metrics'> {
  readonly metrics: PrometheusMetrics;
  readonly crypto: PetCrypto;
  readonly fetch: Fetch;
  readonly clock: Clock;
  readonly models: ModelStore;
  readonly settings: Settings;
  admin(path: string, init?: RequestInit): Promise<Response>;
}

export async function startHarness(
  settings: Settings = testSettings(),
  options: {
    store?: CoordinatorStore;
    models?: ModelStore;
    clock?: Clock;
    logger?: Logger;
    ingest?: MessageIngest;
    initialModel?: ArrayLike<number>;
  } = {},
): Promise<Harness> {
  const crypto = await initCrypto();
  const clock = options.clock ?? new ManualClock();
  const models = options.models ?? new MemoryModelStore();
  const metrics = new PrometheusMetrics();
  const created = await createNodeCoordinatorApp(settings, {
    crypto,
    clock,
    models,
    metrics,
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.ingest === undefined ? {} : { ingest: options.ingest }),
    ...(options.initialModel === undefined ? {} : { initialModel: options.initialModel }),
  });
  const fetch: Fetch = async (path, init) => created.app.request(path, init);
  return {
    ...created,
    metrics,
    crypto,
    fetch,
    clock,
    models,
    settings,
    admin: async (path, init = {}) =>
      created.app.request(`/admin${path}`, {
        ...init,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(init.headers ?? {}) },
      }),
  };
}

export interface RoundRun {
  readonly roundId: number;
  readonly models: (Float32Array | Float64Array)[];
  readonly scalars: number[];
  readonly global: GlobalModel;
}

/** Lets queued work (timers fired by a manual clock, serialized handlers) run. */
export async function settle(predicate: () => boolean = () => true, rounds = 200): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    if (predicate()) return;
  }
  throw new Error('settle: condition not reached');
}

/** Runs one full round through the HTTP API; every message must be accepted. */
export async function runRound(
  h: Pick<Harness, 'crypto' | 'fetch'>,
  pool: readonly SimParticipant[],
  want: { sum: number; update: number },
  seed: number,
  options: {
    maxChunkData?: number;
    /** The i-th update participant's vector and scalar (default: random ones from `seed`). */
    contribution?: (i: number, params: RoundParameters) => { model: Float32Array | Float64Array; scalar: number };
  } = {},
): Promise<RoundRun> {
  const { crypto, fetch } = h;
  const params = await fetchParams(fetch);
  const { sum, update } = pickTasks(crypto, params, pool, want);
  for (const p of sum) expect(await post(fetch, sumMessage(crypto, params, p))).toEqual({ status: 202 });
  const sumDict = await fetchSumDict(fetch);
  expect(sumDict?.size).toBe(want.sum);
  const models: (Float32Array | Float64Array)[] = [];
  const scalars: number[] = [];
  for (const [i, p] of update.entries()) {
    const { model, scalar } = options.contribution?.(i, params) ?? {
      model: randomModel(params.modelLength, seed * 1000 + i),
      scalar: 0.5 + ((seed * 7 + i * 13) % 10) / 2,
    };
    models.push(model);
    scalars.push(scalar);
    for (const part of updateMessage(crypto, params, p, sumDict ?? new Map(), model, scalar, options.maxChunkData)) {
      expect(await post(fetch, part)).toEqual({ status: 202 });
    }
  }
  for (const p of sum) {
    const seeds = await fetchSeeds(fetch, p.pk);
    expect(seeds?.size).toBe(want.update);
    expect(await post(fetch, sum2Message(crypto, params, p, seeds ?? new Map()))).toEqual({ status: 202 });
  }
  const res = await fetch('/model');
  expect(res.status).toBe(200);
  const global = decodeGlobalModel(new Uint8Array(await res.arrayBuffer()));
  expect(global.roundId).toBe(params.roundId);
  return { roundId: params.roundId, models, scalars, global };
}

/** |got − Σsᵢwᵢ/Σsᵢ| ≤ n/E for every weight (protocol.md §4.5), plus `extra` (e.g. f32 rounding). */
export function expectAverage(
  settings: Settings,
  got: ArrayLike<number>,
  models: readonly ArrayLike<number>[],
  scalars: readonly number[],
  extra: (reference: number) => number = () => 0,
): void {
  const reference = exactAverage(models, scalars);
  const tolerance = models.length / Number(maskParams(settings.mask).expShift);
  expect(got.length).toBe(reference.length);
  let worst = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i] as number;
    const err = Math.abs((got[i] as number) - r) - extra(r);
    worst = Math.max(worst, err);
  }
  expect(worst).toBeLessThanOrEqual(tolerance);
}

export { identities };
