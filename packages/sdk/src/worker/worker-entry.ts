/**
 * The Worker script of `@petfl/sdk/worker`: serves one participant runtime
 * to the page that started it (serve-runtime.ts). Bundlers build it as a
 * module worker from the `new URL('./worker-entry.ts', import.meta.url)` in
 * create-worker.ts; a prebuilt copy is passed as `workerUrl`.
 */

import type { Endpoint } from './channel.ts';
import { serveParticipantRuntime } from './serve-runtime.ts';

// In a dedicated Worker the global scope is the endpoint to the page.
serveParticipantRuntime(globalThis as unknown as Endpoint);
