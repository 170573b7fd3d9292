/**
 * Making the participant's Worker. By default it is the SDK's own script,
 * named the way app bundlers understand — `new Worker(new URL('./worker-entry.ts',
 * import.meta.url), { type: 'module' })`: Vite, webpack 5, Parcel and
 * Rollup's plugins see this exact form, bundle worker-entry.ts as a separate
 * module-worker chunk and put its URL here. Without such a bundler (or with
 * a prebuilt copy of the SDK) pass `workerUrl`, the URL of the built
 * worker-entry script, or `createWorker` to make the Worker yourself.
 */

import { ParticipantInitError } from '../errors.ts';
import type { Endpoint, MessageEventLike } from './channel.ts';

/** A Worker as the handle uses it; the platform's `Worker` fits. */
export interface WorkerLike extends Endpoint {
  addEventListener(type: 'message', listener: (event: MessageEventLike) => void): void;
  addEventListener(type: 'error' | 'messageerror', listener: (event: WorkerErrorEventLike) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEventLike) => void): void;
  removeEventListener(type: 'error' | 'messageerror', listener: (event: WorkerErrorEventLike) => void): void;
  terminate(): void;
}

/** The `error` event of a Worker (an ErrorEvent when the script threw; a plain Event when it failed to load). */
export interface WorkerErrorEventLike {
  readonly message?: string;
  readonly filename?: string;
  readonly lineno?: number;
  preventDefault?(): void;
}

/** Where the participant's Worker comes from (Worker-mode options). */
export interface WorkerSource {
  /**
   * The URL of the Worker script (the built `worker-entry` of `@petfl/sdk/worker`), loaded as a
   * module worker. Default: the SDK's own script, resolved by the app's bundler (module comment).
   */
  readonly workerUrl?: string | { readonly href: string };
  /** Makes the Worker (wins over `workerUrl`): for a Worker the app bundles itself, or a test's port. */
  readonly createWorker?: () => WorkerLike;
}

interface WorkerConstructorLike {
  new (url: string | { readonly href: string }, options: { type: 'module'; name: string }): WorkerLike;
}

// The platform's globals, declared here only: the SDK compiles without DOM types.
declare const Worker: WorkerConstructorLike | undefined;
declare const URL: new (url: string, base: string) => { readonly href: string };
declare global {
  // Every ES module host has it (the DOM's and Node's types declare the same member).
  interface ImportMeta {
    url: string;
  }
}

export function createParticipantWorker(source: WorkerSource): WorkerLike {
  try {
    if (source.createWorker !== undefined) return source.createWorker();
    if (typeof Worker === 'undefined') throw new Error('this platform has no Worker');
    if (source.workerUrl !== undefined) {
      const url = typeof source.workerUrl === 'string' ? source.workerUrl : source.workerUrl.href;
      return new Worker(url, { type: 'module', name: 'petfl-participant' });
    }
    return new Worker(new URL('./worker-entry.ts', import.meta.url), { type: 'module', name: 'petfl-participant' });
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new ParticipantInitError(`the participant Worker could not be created: ${message}`, { cause });
  }
}
