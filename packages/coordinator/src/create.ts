/**
 * Wires a coordinator from settings and ports: crypto,
 * admission, the round state machine and the Hono app, on the stores, metrics
 * and rate-limit counters the runtime passes in. Web-standard: it never
 * listens and opens no file and no connection. `@petfl/coordinator/node`
 * picks the store (memory or Redis), the filesystem model store and
 * Prometheus from settings, then calls this.
 */

import { initCrypto, type PetCrypto } from '@petfl/core';
import type { Context, Hono } from 'hono';
import type { GetConnInfo } from 'hono/conninfo';
import { type Admission, createAdmission } from './admission/admission.ts';
import type { RateLimitStores } from './admission/rate-limit.ts';
import type { Clock } from './clock.ts';
import { combineEvents } from './events.ts';
import { createApp } from './http/app.ts';
import { type Logger, silentLogger } from './logger.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import type { Settings } from './settings.ts';
import { Coordinator, type CoordinatorEvents } from './state-machine/coordinator.ts';
import type { MessageIngest } from './state-machine/ingest.ts';
import type { CoordinatorStore } from './store/coordinator-store.ts';
import { MemoryCoordinatorStore } from './store/memory-store.ts';
import type { ModelStore } from './store/model-store.ts';

/** What the runtime provides; everything but `models` has a web-standard default. */
export interface CoordinatorPorts {
  /** Global models: where they outlive the process is the runtime's choice (`FsModelStore` on Node). */
  readonly models: ModelStore;
  /**
   * Round state; a `MemoryCoordinatorStore` when omitted (`settings.store.kind` must then be
   * "memory"). The coordinator app owns it from now on: `close()` closes it.
   */
  readonly store?: CoordinatorStore;
  readonly crypto?: PetCrypto;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Overrides the admission `settings.admission` describes (an embedder's own authentication). */
  readonly admission?: Admission;
  /** Where rate-limit counters live: this process's memory unless given (`RedisRateLimitStores`). */
  readonly rateLimitStores?: RateLimitStores;
  /** Hooks on the coordinator's events, besides the metrics' own. */
  readonly events?: CoordinatorEvents;
  /** Serves `GET /metrics` (404 without one): `PrometheusMetrics` from `@petfl/coordinator/prometheus`. */
  readonly metrics?: CoordinatorMetrics;
  /**
   * The runtime's connection-info helper (`hono/bun`, `hono/deno`, `@hono/node-server/conninfo`…)
   * for per-address limits; without it every client shares one address (docs/security.md §2).
   */
  readonly getConnInfo?: GetConnInfo;
  /**
   * The runtime's reader of `POST /message` bodies (Node: `readNodeRequestBody`, which reads a
   * stated length into one array); hono's `arrayBuffer()` when absent.
   */
  readonly readBody?: (c: Context) => Promise<Uint8Array>;
  /**
   * Where messages are opened and decoded (state-machine/ingest.ts): the coordinator's own thread
   * unless given (Node: a pool of worker threads, which the caller closes after the app).
   */
  readonly ingest?: MessageIngest;
  /** A training run's initial global model (docs/learning.md §4); zeros when absent. */
  readonly initialModel?: ArrayLike<number>;
}

export interface CoordinatorApp {
  readonly app: Hono;
  readonly coordinator: Coordinator;
  readonly metrics: CoordinatorMetrics | undefined;
  readonly store: CoordinatorStore;
  readonly models: ModelStore;
  /** Stops the state machine and closes the store (the round in progress stays in a persistent store). */
  close(): Promise<void>;
}

export async function createCoordinatorApp(settings: Settings, ports: CoordinatorPorts): Promise<CoordinatorApp> {
  if (settings.store.kind === 'redis' && ports.store === undefined) {
    throw new Error(
      'createCoordinatorApp: store.kind = "redis" needs ports.store (RedisCoordinatorStore.connect from ' +
        '@petfl/coordinator/redis), or createNodeCoordinatorApp from @petfl/coordinator/node',
    );
  }
  const store = ports.store ?? new MemoryCoordinatorStore();
  const { models, metrics } = ports;
  const log = ports.logger ?? silentLogger;
  const events = combineEvents([metrics?.events, ports.events], (error, hook) =>
    log.error({ err: error instanceof Error ? error.message : String(error), hook }, 'an event hook failed'),
  );
  let crypto: PetCrypto;
  let admission: Admission;
  let coordinator: Coordinator;
  try {
    crypto = ports.crypto ?? (await initCrypto());
    admission = ports.admission ?? (await createAdmission(settings.admission));
    coordinator = await Coordinator.start({
      crypto,
      settings,
      store,
      models,
      events,
      // A Redis store may be shared by several instances (ADR 0008): lead by lease, else follow.
      ...(settings.store.kind === 'redis'
        ? { cluster: { leaseMs: settings.cluster.leaseMs, checkpointEvery: settings.cluster.checkpointEvery } }
        : {}),
      ...(settings.cluster.instance === '' ? {} : { instance: settings.cluster.instance }),
      ...(ports.clock === undefined ? {} : { clock: ports.clock }),
      ...(ports.logger === undefined ? {} : { logger: ports.logger }),
      ...(ports.ingest === undefined ? {} : { ingest: ports.ingest }),
      ...(ports.initialModel === undefined ? {} : { initialModel: ports.initialModel }),
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  metrics?.watch(coordinator);
  const app = createApp({
    coordinator,
    settings,
    crypto,
    admission,
    events,
    ...(metrics === undefined ? {} : { metrics }),
    ...(ports.rateLimitStores === undefined ? {} : { rateLimitStores: ports.rateLimitStores }),
    ...(ports.getConnInfo === undefined ? {} : { getConnInfo: ports.getConnInfo }),
    ...(ports.readBody === undefined ? {} : { readBody: ports.readBody }),
    ...(ports.clock === undefined ? {} : { clock: ports.clock }),
    ...(ports.logger === undefined ? {} : { logger: ports.logger }),
  });
  return {
    app,
    coordinator,
    metrics,
    store,
    models,
    async close() {
      await coordinator.shutdown();
      await store.close();
    },
  };
}
