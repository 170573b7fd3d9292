/**
 * @petfl/coordinator/node — the Node adapter: `listen()` serves a coordinator
 * over HTTP (@hono/node-server), `createNodeCoordinatorApp` wires one from
 * settings (memory or Redis store, filesystem model store, Prometheus
 * metrics), `FsModelStore` keeps global models in `models.dir`. The CLI
 * (`petfl-coordinator`) runs on it. Re-exports only.
 */

export { FsModelStore } from '../store/fs-model-store.ts';
export { createNodeCoordinatorApp, type NodeCreateOptions, storeFromSettings } from './create.ts';
export { type ListenOptions, listen, type RunningCoordinator } from './listen.ts';
