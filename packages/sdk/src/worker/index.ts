/**
 * `@petfl/sdk/worker` — Worker mode (architecture.md §5.4): `spawnParticipant` and
 * `spawnAsyncParticipant` with the same options and handles as the main
 * entry, but the protocol work — masking, mask derivation, sealing, HTTP and
 * the IndexedDB state store — runs in a dedicated module Worker, so it never
 * blocks the page. The app's callbacks (ParticipantABC's methods, the
 * AsyncParticipant model cache, onError, a custom store or fetch) stay on
 * the main thread; models move between the two as transferred buffers.
 *
 * ```ts
 * import { spawnAsyncParticipant } from '@petfl/sdk/worker';
 * const { participant } = await spawnAsyncParticipant('https://coordinator.example');
 * ```
 *
 * The Worker script is found the way app bundlers understand
 * (`new Worker(new URL('./worker-entry.ts', import.meta.url), { type: 'module' })`,
 * create-worker.ts); without such a bundler pass `workerUrl` (the built
 * worker-entry script) or `createWorker`. Re-exports only (architecture.md §7.2).
 */

export type { WorkerErrorEventLike, WorkerLike, WorkerSource } from './create-worker.ts';
export { spawnAsyncParticipant, spawnParticipant, type WorkerParticipantOptions } from './spawn.ts';
export { workerRuntimeFactory } from './worker-runtime.ts';
