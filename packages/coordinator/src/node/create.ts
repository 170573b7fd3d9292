/**
 * The Node convenience over `createCoordinatorApp` (../create.ts): the ports
 * that `settings` describe — the coordinator store (memory, or Redis together
 * with the rate-limit counters every instance on it shares), the filesystem
 * model store in `models.dir`, Prometheus metrics, client addresses from
 * @hono/node-server, and the pool of worker threads that opens and decodes
 * messages (`api.ingest_workers`, ingest-pool.ts). `listen()` and the CLI use
 * it; it never listens.
 */

import { getConnInfo } from '@hono/node-server/conninfo';
import { createAdmission } from '../admission/admission.ts';
import { RedisRateLimitStores } from '../admission/redis-rate-limit-stores.ts';
import { type CoordinatorApp, type CoordinatorPorts, createCoordinatorApp } from '../create.ts';
import { type Logger, silentLogger } from '../logger.ts';
import type { CoordinatorMetrics } from '../metrics.ts';
import { PrometheusMetrics } from '../prometheus/prometheus-metrics.ts';
import type { Settings } from '../settings.ts';
import type { MessageIngest } from '../state-machine/ingest.ts';
import type { CoordinatorStore } from '../store/coordinator-store.ts';
import { FsModelStore } from '../store/fs-model-store.ts';
import { MemoryCoordinatorStore } from '../store/memory-store.ts';
import type { ModelStore } from '../store/model-store.ts';
import { RedisCoordinatorStore } from '../store/redis-store.ts';
import { autoIngestWorkers, IngestPool } from './ingest-pool.ts';
import { readInitialModel } from './initial-model.ts';
import { readNodeRequestBody } from './request-body.ts';

export interface NodeCreateOptions extends Omit<CoordinatorPorts, 'models' | 'metrics' | 'ingest'> {
  /** Overrides the filesystem model store in `settings.models.dir`. */
  readonly models?: ModelStore;
  /** Overrides Prometheus metrics; `false`: none (`GET /metrics` answers 404). */
  readonly metrics?: CoordinatorMetrics | false;
  /**
   * Overrides the ingest `api.ingest_workers` describes (the caller then owns it): a pool of its
   * own, or `inProcessIngest` (state-machine/ingest.ts).
   */
  readonly ingest?: MessageIngest;
}

/** What `api.ingest_workers` comes to on this machine: "auto" is one fewer than the cores, at most max_bodies_in_flight. */
export function ingestWorkers(api: Settings['api']): number {
  return api.ingestWorkers === 'auto' ? autoIngestWorkers(api.maxBodiesInFlight) : api.ingestWorkers;
}

/** The store `settings.store` names; a Redis store is pinged first, so a wrong URL fails at start-up. */
export async function storeFromSettings(settings: Settings): Promise<CoordinatorStore> {
  return settings.store.kind === 'redis'
    ? RedisCoordinatorStore.connect({ url: settings.store.redisUrl, keyPrefix: settings.store.keyPrefix })
    : new MemoryCoordinatorStore();
}

/**
 * The pool `api.ingest_workers` asks for, or none (0 workers). Workers that cannot start fail the
 * start-up when the operator asked for a count; under "auto" the error is logged and messages are
 * opened in the coordinator's own thread.
 */
async function startIngestPool(api: Settings['api'], logger: Logger | undefined): Promise<IngestPool | undefined> {
  const workers = ingestWorkers(api);
  if (workers === 0) return undefined;
  try {
    return await IngestPool.start({ workers, ...(logger === undefined ? {} : { logger }) });
  } catch (error) {
    if (api.ingestWorkers !== 'auto') throw error;
    (logger ?? silentLogger).error(
      { err: error instanceof Error ? error.message : String(error) },
      'ingest workers could not start; messages are opened in the coordinator’s own thread',
    );
    return undefined;
  }
}

export async function createNodeCoordinatorApp(
  settings: Settings,
  options: NodeCreateOptions = {},
): Promise<CoordinatorApp> {
  const { metrics: metricsOption, models, ingest: ingestOption, ...ports } = options;
  // Admission first: a static key that cannot be imported fails before a connection is opened.
  const admission = options.admission ?? (await createAdmission(settings.admission));
  // The run's initial model is read before anything is started: a bad file fails at once.
  const initialModel =
    options.initialModel ??
    (settings.run.enabled && settings.run.initialModel !== ''
      ? await readInitialModel(settings.run.initialModel)
      : undefined);
  const pool = ingestOption === undefined ? await startIngestPool(settings.api, options.logger) : undefined;
  const ingest = ingestOption ?? pool;
  let store: CoordinatorStore;
  try {
    store = options.store ?? (await storeFromSettings(settings));
  } catch (error) {
    await pool?.close();
    throw error;
  }
  let limits: RedisRateLimitStores | undefined;
  try {
    // With Redis, rate-limit counts are shared by every coordinator instance on it (docs/security.md §2).
    if (settings.store.kind === 'redis' && options.rateLimitStores === undefined) {
      limits = await RedisRateLimitStores.connect(settings.store.redisUrl, `${settings.store.keyPrefix}:rate`);
    }
  } catch (error) {
    await store.close();
    await pool?.close();
    throw error;
  }
  const metrics = metricsOption === false ? undefined : (metricsOption ?? new PrometheusMetrics());
  let created: CoordinatorApp;
  try {
    // createCoordinatorApp closes the store if it fails.
    created = await createCoordinatorApp(settings, {
      getConnInfo,
      readBody: readNodeRequestBody,
      ...ports,
      admission,
      store,
      models: models ?? new FsModelStore(settings.models.dir),
      ...(metrics === undefined ? {} : { metrics }),
      ...(limits === undefined ? {} : { rateLimitStores: limits.storeFor }),
      ...(ingest === undefined ? {} : { ingest }),
      ...(initialModel === undefined ? {} : { initialModel }),
    });
  } catch (error) {
    await limits?.close();
    await pool?.close();
    throw error;
  }
  if (limits === undefined && pool === undefined) return created;
  const redisLimits = limits;
  return {
    ...created,
    async close() {
      // The coordinator first: messages still in the workers then get 503, and no thread is left.
      await created.close();
      await redisLimits?.close();
      await pool?.close();
    },
  };
}
