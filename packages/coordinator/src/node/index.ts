/**
 * @petfl/coordinator/node — the Node adapter: `listen()` serves a coordinator
 * over HTTP (@hono/node-server), `createNodeCoordinatorApp` wires one from
 * settings (memory or Redis store, filesystem model store, Prometheus
 * metrics, the pool of worker threads that opens messages), `FsModelStore` keeps
 * global models in `models.dir`. The CLI (`petfl-coordinator`) runs on it.
 * Re-exports only.
 */

export { FsModelStore } from '../store/fs-model-store.ts';
export { createNodeCoordinatorApp, ingestWorkers, type NodeCreateOptions, storeFromSettings } from './create.ts';
export { autoIngestWorkers, IngestPool, type IngestPoolOptions } from './ingest-pool.ts';
export { type ListenOptions, listen, type RunningCoordinator } from './listen.ts';
