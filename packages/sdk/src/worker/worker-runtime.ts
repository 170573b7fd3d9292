/**
 * The main-thread side of Worker mode: a `RuntimeFactory` whose runtimes run
 * in a dedicated Worker (serve-runtime.ts). `spawnParticipant` and
 * `spawnAsyncParticipant` take it in place of the in-thread runtime, so
 * ParticipantABC and AsyncParticipant behave exactly as in direct mode — the
 * app's callbacks (participateInUpdateTask, trainRound, the local model
 * cache, onNewGlobalModel, onStop, onError, the logger, a custom store or
 * fetch) run on the main thread, while the protocol work (masking, mask
 * derivation, sealing, HTTP, the IndexedDB store) runs in the Worker and
 * never blocks the page.
 *
 * `WorkerRuntime` is that runtime as the main thread sees it: it mirrors the
 * Worker's snapshot and round parameters (sent on every change), forwards
 * the app's calls, and answers the Worker's calls with the app's callbacks.
 * Options are checked here first, so a bad one fails as in direct mode
 * before any Worker starts.
 */

import type { GlobalModel, RoundParameters } from '@petfl/core';
import type { ResponseLike } from '../client/http-client.ts';
import { ParticipantInitError, PetflError, UninitializedParticipantError } from '../errors.ts';
import { createLog, type Log } from '../logger.ts';
import { type ResolvedOptions, resolveOptions, validateCoordinatorUrl } from '../options.ts';
import type { ParticipantRuntime, ReportContext, RuntimeCallbacks } from '../runtime.ts';
import { type ParticipantSnapshot, sameSnapshot } from '../snapshot.ts';
import type { RuntimeFactory } from '../spawn-participant.ts';
import { Channel, withTransfer } from './channel.ts';
import {
  createParticipantWorker,
  type WorkerErrorEventLike,
  type WorkerLike,
  type WorkerSource,
} from './create-worker.ts';
import type {
  ErrorEvent,
  FetchAnswer,
  FetchRequest,
  GlobalModelEvent,
  LogEvent,
  PortableOptions,
  RuntimeView,
  StartRequest,
  StoreOp,
} from './protocol.ts';
import { portableModel } from './transfer.ts';
import { fromWireError, toWireError } from './wire-error.ts';

/** A RuntimeFactory that runs each participant's runtime in a Worker of its own. */
export function workerRuntimeFactory(source: WorkerSource = {}): RuntimeFactory {
  return async (init) => {
    const coordinatorUrl = validateCoordinatorUrl(init.coordinatorUrl);
    const options = resolveOptions(init.options);
    const runtime = new WorkerRuntime(createParticipantWorker(source), init.callbacks, options);
    await runtime.start(coordinatorUrl);
    return runtime;
  };
}

class WorkerRuntime implements ParticipantRuntime {
  private view: RuntimeView | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly channel: Channel;
  private readonly log: Log;
  /** Errors reported to the Worker, by token: `onError` gets the very object the app threw. */
  private readonly reported = new Map<number, Error>();
  private nextToken = 1;
  private isStopped = false;
  private stopCalled = false;
  private stopping: Promise<Uint8Array> | undefined;
  private started = false;
  private failStart: ((error: Error) => void) | undefined;
  private readonly onExternalAbort = (): void => {
    this.shutdown().catch((error: unknown) => this.log.error(`stopping failed: ${messageOf(error)}`));
  };
  private readonly onWorkerError = (event: WorkerErrorEventLike): void => {
    const where = event.filename ? ` (${event.filename}:${event.lineno ?? '?'})` : '';
    const message = `the participant Worker failed: ${event.message || 'its script did not load'}${where}`;
    if (!this.started) {
      this.failStart?.(new ParticipantInitError(message));
      return;
    }
    event.preventDefault?.();
    this.log.error(message);
    this.reportError(new PetflError('worker-error', message));
  };

  private readonly worker: WorkerLike;
  private readonly callbacks: RuntimeCallbacks;
  private readonly options: ResolvedOptions;

  constructor(worker: WorkerLike, callbacks: RuntimeCallbacks, options: ResolvedOptions) {
    this.worker = worker;
    this.callbacks = callbacks;
    this.options = options;
    this.log = createLog(options.logLevel, options.logger);
    this.channel = new Channel(
      worker,
      {
        localModel: (roundId: number, round: RoundParameters | undefined) => this.localModel(roundId, round),
        onStop: () => this.onStopped(),
        store: (op: StoreOp) => this.store(op),
        fetch: (request: FetchRequest) => this.fetch(request),
        token: () => this.token(),
      },
      (name, payload) => this.onEvent(name, payload),
    );
    worker.addEventListener('error', this.onWorkerError);
    worker.addEventListener('messageerror', this.onWorkerError);
  }

  async start(coordinatorUrl: string): Promise<void> {
    const { options } = this;
    const portable = portableOptions(options);
    const request: StartRequest = {
      coordinatorUrl,
      options: portable,
      proxied: {
        store: options.store !== undefined,
        // The platform's own fetch is the Worker's; only an app's fetch is called here.
        fetch: options.fetch !== (globalThis as { fetch?: unknown }).fetch,
        logger: options.logger !== undefined,
        onError: options.onError !== undefined,
        token: typeof options.token === 'function',
      },
    };
    try {
      const failed = new Promise<never>((_, reject) => {
        this.failStart = reject;
      });
      // The state copy is moved to the Worker (SECURITY: no second copy of the keys stays here).
      const transfer = portable.state === undefined ? [] : [portable.state.buffer];
      const view = await Promise.race([this.channel.call<RuntimeView>('start', [request], transfer), failed]);
      this.view ??= freezeView(view);
    } catch (error) {
      this.dispose(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    this.started = true;
    this.failStart = undefined;
    options.signal?.addEventListener('abort', this.onExternalAbort, { once: true });
  }

  // ---- Observable ----------------------------------------------------------------------------

  subscribe(listener: () => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('subscribe: expected a function');
    const entry = (): void => listener();
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  getSnapshot(): ParticipantSnapshot {
    return this.currentView().snapshot;
  }

  // ---- for the app side ----------------------------------------------------------------------

  get stopped(): boolean {
    return this.isStopped;
  }

  round(): RoundParameters | undefined {
    return this.view?.round;
  }

  async globalModel(): Promise<GlobalModel | undefined> {
    if (this.isStopped) throw new UninitializedParticipantError('getGlobalModel(): the participant was stopped');
    return this.channel.call<GlobalModel | undefined>('globalModel');
  }

  setTraining(training: boolean): void {
    this.channel.emit('setTraining', training);
  }

  reportError(error: unknown, context: ReportContext = {}): void {
    const cause = error instanceof Error ? error : new Error(String(error));
    const token = this.nextToken++;
    this.reported.set(token, cause);
    this.channel.emit('reportError', { error: toWireError(cause), context, token });
  }

  wake(): void {
    this.channel.emit('wake', undefined);
  }

  stop(): Promise<Uint8Array> {
    if (this.stopCalled) {
      return Promise.reject(new UninitializedParticipantError('stop(): the participant was stopped already'));
    }
    this.stopCalled = true;
    return this.shutdown();
  }

  // ---- the Worker's calls and events ---------------------------------------------------------

  private async localModel(roundId: number, round: RoundParameters | undefined): Promise<unknown> {
    this.setRound(round);
    const model = await this.callbacks.localModel(roundId, this);
    if (model === null || model === undefined) return model;
    const { value, transfer } = portableModel(model);
    return withTransfer(value, transfer);
  }

  private onStopped(): void {
    try {
      this.callbacks.onStop?.(this);
    } catch (error) {
      this.reportError(error, { callback: 'onStop' });
    }
  }

  private async store(op: StoreOp): Promise<unknown> {
    const store = this.options.store;
    if (store === undefined) throw new TypeError('no store was given');
    switch (op[0]) {
      case 'get':
        return store.get(op[1]);
      case 'set':
        return store.set(op[1], op[2]);
      case 'del':
        return store.del(op[1]);
    }
  }

  private async fetch(request: FetchRequest): Promise<unknown> {
    const { url, method, headers, body } = request;
    const response = await this.options.fetch(url, { method, headers, ...(body === null ? {} : { body }) });
    const bytes = await response.arrayBuffer();
    const answer: FetchAnswer = { status: response.status, body: bytes, retryAfter: retryAfterOf(response) };
    return withTransfer(answer, [bytes]);
  }

  /** A fresh admission token from the app's token function, for the Worker's HTTP client. */
  private async token(): Promise<string> {
    const source = this.options.token;
    if (typeof source !== 'function') throw new TypeError('no token function was given');
    // SECURITY: the token crosses to the Worker, which only puts it in request headers.
    return source();
  }

  private onEvent(name: string, payload: unknown): void {
    switch (name) {
      case 'view': {
        const view = payload as RuntimeView;
        this.setView(freezeView(view));
        return;
      }
      case 'globalModel': {
        const { global, round } = payload as GlobalModelEvent;
        this.setRound(round);
        try {
          this.callbacks.onGlobalModel(global, this);
        } catch (error) {
          this.reportError(error, { roundId: global.roundId, callback: 'onGlobalModel' });
        }
        return;
      }
      case 'error': {
        const { error, token } = payload as ErrorEvent;
        const original = token === undefined ? undefined : this.reported.get(token);
        if (token !== undefined) this.reported.delete(token);
        const onError = this.options.onError;
        if (onError === undefined) return;
        try {
          onError(original ?? fromWireError(error));
        } catch (thrown) {
          this.log.error(`options.onError threw: ${messageOf(thrown)}`);
        }
        return;
      }
      case 'log': {
        const { level, message } = payload as LogEvent;
        try {
          this.options.logger?.[level](message);
        } catch {
          // A logger that throws must not break the participant (architecture.md §7.4).
        }
        return;
      }
    }
  }

  // ---- mirror --------------------------------------------------------------------------------

  private currentView(): RuntimeView {
    if (this.view === undefined) throw new UninitializedParticipantError('the participant Worker has not started');
    return this.view;
  }

  private setRound(round: RoundParameters | undefined): void {
    if (this.view === undefined || round === undefined) return;
    this.view = { snapshot: this.view.snapshot, round };
  }

  /** Keeps the previous snapshot object while nothing in it changed (a stable getSnapshot()). */
  private setView(view: RuntimeView): void {
    const previous = this.view?.snapshot;
    if (previous !== undefined && sameSnapshot(previous, view.snapshot)) {
      this.view = { snapshot: previous, round: view.round };
      return;
    }
    this.view = view;
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (error) {
        this.log.error(`a snapshot listener threw: ${messageOf(error)}`);
      }
    }
  }

  // ---- stop ----------------------------------------------------------------------------------

  private shutdown(): Promise<Uint8Array> {
    this.stopping ??= (async () => {
      this.isStopped = true;
      this.options.signal?.removeEventListener('abort', this.onExternalAbort);
      try {
        return await this.channel.call<Uint8Array>('stop');
      } finally {
        this.dispose(new UninitializedParticipantError('the participant was stopped'));
      }
    })();
    return this.stopping;
  }

  private dispose(reason: Error): void {
    this.channel.close(reason);
    this.worker.removeEventListener('error', this.onWorkerError);
    this.worker.removeEventListener('messageerror', this.onWorkerError);
    this.worker.terminate();
  }
}

/** The options that cross to the Worker as they are (defined ones only). */
function portableOptions(options: ResolvedOptions): PortableOptions & { readonly state?: Uint8Array<ArrayBuffer> } {
  return {
    // SECURITY: a copy of the serialized state (private keys) goes to the Worker; the app's stays.
    ...(options.state === undefined ? {} : { state: options.state.slice() }),
    ...(options.scalar === undefined ? {} : { scalar: options.scalar }),
    storeKey: options.storeKey,
    logLevel: options.logLevel,
    ...(typeof options.token === 'string' ? { token: options.token } : {}),
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
    ...(options.maxPollMs === undefined ? {} : { maxPollMs: options.maxPollMs }),
    ...(options.maxChunkData === undefined ? {} : { maxChunkData: options.maxChunkData }),
    ...(options.privacy === undefined ? {} : { privacy: options.privacy }),
    ...(options.privacyFilters === undefined ? {} : { privacyFilters: options.privacyFilters }),
  };
}

function retryAfterOf(response: ResponseLike): string | null {
  try {
    return response.headers?.get('retry-after') ?? null;
  } catch {
    return null;
  }
}

/** Snapshots are immutable, as the runtime's are (structured clone does not keep freezing). */
function freezeView(view: RuntimeView): RuntimeView {
  const { snapshot } = view;
  const lastError = snapshot.lastError === null ? null : Object.freeze({ ...snapshot.lastError });
  return { snapshot: Object.freeze({ ...snapshot, lastError }), round: view.round };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
