/**
 * Wires a coordinator from settings: crypto, stores (memory or Redis, and the
 * filesystem model store unless one is given), metrics, the round state
 * machine and the Hono app. Used by the Node entry, the tests and embedders;
 * it never listens.
 */

import { initCrypto, type PetCrypto } from '@petfl/core';
import type { Hono } from 'hono';
import { type Admission, createAdmission } from './admission/admission.ts';
import { memoryRateLimitStores, type RateLimitStores } from './admission/rate-limit.ts';
import { RedisRateLimitStores } from './admission/redis-rate-limit-stores.ts';
import type { Clock } from './clock.ts';
import { createApp } from './http/app.ts';
import type { Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import type { Settings } from './settings.ts';
import { Coordinator } from './state-machine/coordinator.ts';
import type { CoordinatorStore } from './store/coordinator-store.ts';
import { FsModelStore } from './store/fs-model-store.ts';
import { MemoryCoordinatorStore } from './store/memory-store.ts';
import type { ModelStore } from './store/model-store.ts';
import { RedisCoordinatorStore } from './store/redis-store.ts';

export interface CreateOptions {
  readonly crypto?: PetCrypto;
  /** Overrides `settings.store`. */
  readonly store?: CoordinatorStore;
  /** Overrides the filesystem model store in `settings.models.dir`. */
  readonly models?: ModelStore;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Overrides the admission `settings.admission` describes (an embedder's own authentication). */
  readonly admission?: Admission;
}

export interface CoordinatorApp {
  readonly app: Hono;
  readonly coordinator: Coordinator;
  readonly metrics: Metrics;
  readonly store: CoordinatorStore;
  readonly models: ModelStore;
  /** Stops the state machine and closes the store (the round in progress stays in a Redis store). */
  close(): Promise<void>;
}

/** The store `settings.store` names; a Redis store is pinged first, so a wrong URL fails at start-up. */
export async function storeFromSettings(settings: Settings): Promise<CoordinatorStore> {
  return settings.store.kind === 'redis'
    ? RedisCoordinatorStore.connect({ url: settings.store.redisUrl })
    : new MemoryCoordinatorStore();
}

export async function createCoordinatorApp(settings: Settings, options: CreateOptions = {}): Promise<CoordinatorApp> {
  const crypto = options.crypto ?? (await initCrypto());
  // Admission first: a static key that cannot be imported fails before anything is opened.
  const admission = options.admission ?? (await createAdmission(settings.admission));
  const store = options.store ?? (await storeFromSettings(settings));
  let limits: RedisRateLimitStores | undefined;
  const models = options.models ?? new FsModelStore(settings.models.dir);
  const metrics = new Metrics();
  let coordinator: Coordinator;
  try {
    // With Redis, rate-limit counts are shared by every coordinator instance on it (docs/security.md §2).
    if (settings.store.kind === 'redis') limits = await RedisRateLimitStores.connect(settings.store.redisUrl);
    coordinator = await Coordinator.start({
      crypto,
      settings,
      store,
      models,
      events: metrics.events,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
  } catch (error) {
    await limits?.close();
    await store.close();
    throw error;
  }
  const rateLimitStores: RateLimitStores = limits?.storeFor ?? memoryRateLimitStores;
  metrics.watch(coordinator);
  const app = createApp({
    coordinator,
    settings,
    crypto,
    metrics,
    admission,
    rateLimitStores,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  return {
    app,
    coordinator,
    metrics,
    store,
    models,
    async close() {
      await coordinator.shutdown();
      await limits?.close();
      await store.close();
    },
  };
}
