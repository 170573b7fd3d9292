/**
 * The Node convenience over `createCoordinatorApp` (../create.ts): the ports
 * that `settings` describe — the coordinator store (memory, or Redis together
 * with the rate-limit counters every instance on it shares), the filesystem
 * model store in `models.dir`, Prometheus metrics, and client addresses from
 * @hono/node-server. `listen()` and the CLI use it; it never listens.
 */

import { getConnInfo } from '@hono/node-server/conninfo';
import { createAdmission } from '../admission/admission.ts';
import { RedisRateLimitStores } from '../admission/redis-rate-limit-stores.ts';
import { type CoordinatorApp, type CoordinatorPorts, createCoordinatorApp } from '../create.ts';
import type { CoordinatorMetrics } from '../metrics.ts';
import { PrometheusMetrics } from '../prometheus/prometheus-metrics.ts';
import type { Settings } from '../settings.ts';
import type { CoordinatorStore } from '../store/coordinator-store.ts';
import { FsModelStore } from '../store/fs-model-store.ts';
import { MemoryCoordinatorStore } from '../store/memory-store.ts';
import type { ModelStore } from '../store/model-store.ts';
import { RedisCoordinatorStore } from '../store/redis-store.ts';

export interface NodeCreateOptions extends Omit<CoordinatorPorts, 'models' | 'metrics'> {
  /** Overrides the filesystem model store in `settings.models.dir`. */
  readonly models?: ModelStore;
  /** Overrides Prometheus metrics; `false`: none (`GET /metrics` answers 404). */
  readonly metrics?: CoordinatorMetrics | false;
}

/** The store `settings.store` names; a Redis store is pinged first, so a wrong URL fails at start-up. */
export async function storeFromSettings(settings: Settings): Promise<CoordinatorStore> {
  return settings.store.kind === 'redis'
    ? RedisCoordinatorStore.connect({ url: settings.store.redisUrl, keyPrefix: settings.store.keyPrefix })
    : new MemoryCoordinatorStore();
}

export async function createNodeCoordinatorApp(
  settings: Settings,
  options: NodeCreateOptions = {},
): Promise<CoordinatorApp> {
  const { metrics: metricsOption, models, ...ports } = options;
  // Admission first: a static key that cannot be imported fails before a connection is opened.
  const admission = options.admission ?? (await createAdmission(settings.admission));
  const store = options.store ?? (await storeFromSettings(settings));
  let limits: RedisRateLimitStores | undefined;
  try {
    // With Redis, rate-limit counts are shared by every coordinator instance on it (docs/security.md §2).
    if (settings.store.kind === 'redis' && options.rateLimitStores === undefined) {
      limits = await RedisRateLimitStores.connect(settings.store.redisUrl, `${settings.store.keyPrefix}:rate`);
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  const metrics = metricsOption === false ? undefined : (metricsOption ?? new PrometheusMetrics());
  let created: CoordinatorApp;
  try {
    // createCoordinatorApp closes the store if it fails.
    created = await createCoordinatorApp(settings, {
      getConnInfo,
      ...ports,
      admission,
      store,
      models: models ?? new FsModelStore(settings.models.dir),
      ...(metrics === undefined ? {} : { metrics }),
      ...(limits === undefined ? {} : { rateLimitStores: limits.storeFor }),
    });
  } catch (error) {
    await limits?.close();
    throw error;
  }
  if (limits === undefined) return created;
  const redisLimits = limits;
  return {
    ...created,
    async close() {
      await created.close();
      await redisLimits.close();
    },
  };
}
