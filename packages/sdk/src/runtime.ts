/**
 * The participant runtime: one running participant (architecture.md §5.2). It wraps the
 * protocol loop (`runParticipant` + `step`, state-machine/) with what an app
 * needs around it — checked options, the crypto gate, restoring or creating
 * the state, the store, an observable snapshot, errors as named classes,
 * logging and a clean stop — and hands the loop's two questions to the
 * `callbacks` it is given: "the local model for round r?" and "here is a new
 * global model". ParticipantABC (spawn-participant.ts) and AsyncParticipant
 * (async-participant.ts) are such callbacks; Worker mode runs this runtime in
 * a Worker and proxies the callbacks to the main thread.
 *
 * Start-up, in order, each failure a named error and nothing started:
 * the coordinator URL and options (ParticipantInitError), the crypto gate
 * (CryptoInitError), the state — `options.state`, else the store's, else a
 * fresh identity (ParticipantRestoreError) — and a first `GET /params` after
 * the client's retries (ParticipantInitError: unreachable coordinator).
 *
 * While running nothing the app does can stop the loop (architecture.md §7.4): a
 * callback that throws is caught, becomes `snapshot.lastError` and goes to
 * `options.onError`. `stop()` aborts the loop (in-flight requests included),
 * waits for it, saves the last state and returns it serialized; after that
 * every call but `getSnapshot`/`subscribe` is an UninitializedParticipantError.
 */

import {
  type GlobalModel,
  initCrypto,
  type PetCrypto,
  type RoundParameters,
  validatePrivacyFilters,
} from '@petfl/core';
import {
  type CoordinatorClient,
  CoordinatorRejectedError,
  CoordinatorUnavailableError,
} from './client/coordinator-client.ts';
import { type FetchLike, HttpCoordinatorClient } from './client/http-client.ts';
import { nodeHttpFetch } from './client/node-http-fetch.ts';
import {
  CryptoInitError,
  GlobalModelUnavailableError,
  LocalModelDataTypeMismatchError,
  LocalModelLengthMismatchError,
  ParticipantInitError,
  PetflError,
  UninitializedParticipantError,
} from './errors.ts';
import { checkGlobalModel } from './local-model.ts';
import { createLog, type Log } from './logger.ts';
import { type ParticipantOptions, type ResolvedOptions, resolveOptions, validateCoordinatorUrl } from './options.ts';
import { type ParticipantSnapshot, participantPkOf, type SnapshotError, sameSnapshot, taskOf } from './snapshot.ts';
import { deserializeState, serializeState } from './state-codec.ts';
import {
  type AbortSignalLike,
  type Clock,
  MAX_CHUNK_DATA,
  MIN_CHUNK_DATA,
  type StateStore,
} from './state-machine/io.ts';
import { type AbortControllerLike, LinkedSignal, platformAbortController } from './state-machine/linked-signal.ts';
import { runParticipant } from './state-machine/run.ts';
import { createInitialState, type ParticipantError, type ParticipantState } from './state-machine/state.ts';
import { StateSaver } from './state-machine/state-saver.ts';
import { systemClock } from './system-clock.ts';

/** What the runtime asks of the app side (ParticipantABC, AsyncParticipant, a Worker proxy). */
export interface RuntimeCallbacks {
  /**
   * The local model for this round's update task: a model to send, `undefined` while there is
   * none yet (asked again at the next poll, or at once after `runtime.wake()`), or `null` to sit
   * the round out. A throw is reported (snapshot.lastError, onError) and skips the round. In
   * Worker mode the model is copied to the Worker unless the app hands it over (`handOver`).
   */
  localModel(roundId: number, runtime: ParticipantRuntime): Promise<ArrayLike<number> | null | undefined>;
  /**
   * Each new global model, once, after its value type was checked. A throw is reported. In Worker
   * mode `model.model` is the app's own array (moved from the Worker); in direct mode it is the
   * runtime's (`globalModel()` returns it too): read it, copy it, but do not change or move it.
   */
  onGlobalModel(model: GlobalModel, runtime: ParticipantRuntime): void;
  /** Once, when the participant stops (after the loop ended, before `stop()` resolves). */
  onStop?(runtime: ParticipantRuntime): void;
}

export interface ParticipantRuntimeInit {
  readonly coordinatorUrl: string;
  readonly options?: ParticipantOptions;
  readonly callbacks: RuntimeCallbacks;
  /** The crypto gate, or how to open it (default `initCrypto` from @petfl/core). */
  readonly crypto?: PetCrypto | (() => Promise<PetCrypto>);
  /** Timers (default the system clock). */
  readonly clock?: Clock;
}

/** Where an error reported by the app side came from; shapes `snapshot.lastError`. */
export interface ReportContext {
  /** The round it concerns (default: the current round). */
  readonly roundId?: number | null;
  /** The app callback that threw, named in the message ('trainRound: …'). */
  readonly callback?: string;
}

export interface ParticipantRuntime {
  subscribe(listener: () => void): () => void;
  getSnapshot(): ParticipantSnapshot;
  /** The parameters of the latest round seen (GET /params), or undefined before the first. */
  round(): RoundParameters | undefined;
  /**
   * The latest global model: the last one delivered, else `GET /model` now; undefined while
   * none exists. GlobalModelUnavailableError when fetching fails, GlobalModelDataTypeMismatchError
   * for a model of the wrong value type. Whose array it is: as for `onGlobalModel`.
   */
  globalModel(): Promise<GlobalModel | undefined>;
  /** Marks the app as training (snapshot.training). */
  setTraining(training: boolean): void;
  /**
   * Records an error the app side met as `snapshot.lastError` and passes it to `onError`. Its
   * code is a PetflError's code, else 'callback-failed'.
   */
  reportError(error: unknown, context?: ReportContext): void;
  /** Ends the loop's current poll wait at once (a local model was set, training finished). */
  wake(): void;
  /** True once `stop()` was called (or `options.signal` aborted). */
  readonly stopped: boolean;
  stop(): Promise<Uint8Array>;
}

/** Starts a participant; see the module comment for the order of checks and their errors. */
export async function createParticipantRuntime(init: ParticipantRuntimeInit): Promise<ParticipantRuntime> {
  const url = validateCoordinatorUrl(init.coordinatorUrl);
  const options = checkMaxChunkData(checkPrivacyFilters(resolveOptions(init.options)));
  const log = createLog(options.logLevel, options.logger);
  const crypto = await openCrypto(init.crypto);
  const store = options.store ?? (await defaultStore(log));
  const saver = store === undefined ? undefined : new StateSaver(store, options.storeKey, crypto);
  const state = await restoreState(crypto, options, saver, log);
  const runtime = new Runtime({ url, options, log, crypto, saver, state, init });
  await runtime.checkCoordinator();
  runtime.start();
  return runtime;
}

async function openCrypto(source: ParticipantRuntimeInit['crypto']): Promise<PetCrypto> {
  if (source !== undefined && typeof source !== 'function') return source;
  try {
    return await (source ?? initCrypto)();
  } catch (cause) {
    throw new CryptoInitError(`the crypto library (libsodium) failed to initialize: ${messageOf(cause)}`, { cause });
  }
}

/**
 * IndexedDB where the platform has it (and WebCrypto to encrypt at rest), else none. A memory store
 * made here would be read by nobody (a later participant makes its own), so none is made: no
 * copy of the state, nor of a 6.4 MB payload, is kept beside the participant's own.
 */
async function defaultStore(log: Log): Promise<StateStore | undefined> {
  const platform = globalThis as { indexedDB?: unknown; crypto?: { subtle?: unknown } };
  if (platform.indexedDB !== undefined && platform.crypto?.subtle !== undefined) {
    const { idbStateStore } = await import('./idb/idb-state-store.ts');
    return idbStateStore();
  }
  log.debug('no IndexedDB with WebCrypto here: the state is not saved (pass options.store to persist it)');
  return undefined;
}

async function restoreState(
  crypto: PetCrypto,
  options: ResolvedOptions,
  saver: StateSaver | undefined,
  log: Log,
): Promise<ParticipantState> {
  let restored: ParticipantState | undefined;
  if (options.state !== undefined) {
    restored = deserializeState(options.state);
    log.debug('restoring the state given in options.state');
  } else {
    // The store may hold a record (what the loop saves) or serializeState bytes (state-saver.ts).
    restored = await saver?.load();
    if (restored !== undefined) log.debug(`restoring the state saved under '${options.storeKey}'`);
  }
  if (restored === undefined) {
    try {
      return createInitialState(crypto, options.scalar === undefined ? {} : { scalar: options.scalar });
    } catch (cause) {
      throw new ParticipantInitError(`options.scalar: ${messageOf(cause)}`, { cause });
    }
  }
  return options.scalar === undefined ? restored : { ...restored, scalar: options.scalar };
}

interface RuntimeDeps {
  readonly url: string;
  readonly options: ResolvedOptions;
  readonly log: Log;
  readonly crypto: PetCrypto;
  readonly saver: StateSaver | undefined;
  readonly state: ParticipantState;
  readonly init: ParticipantRuntimeInit;
}

class Runtime implements ParticipantRuntime {
  private state: ParticipantState;
  private snapshot: ParticipantSnapshot;
  private readonly listeners = new Set<() => void>();
  private readonly controller = createAbortController();
  private readonly clock: WakeableClock;
  private readonly client: CoordinatorClient;
  private readonly callbacks: RuntimeCallbacks;
  private lastParams: RoundParameters | undefined;
  private latestGlobal: GlobalModel | undefined;
  private lastError: SnapshotError | null;
  private training = false;
  private bytesSent = 0;
  private isStopped = false;
  private stopCalled = false;
  private loop: Promise<ParticipantState> | undefined;
  private stopping: Promise<Uint8Array> | undefined;
  private readonly onExternalAbort = (): void => {
    this.shutdown().catch((error: unknown) => this.deps.log.error(`stopping failed: ${messageOf(error)}`));
  };

  private readonly deps: RuntimeDeps;

  constructor(deps: RuntimeDeps) {
    this.deps = deps;
    this.state = deps.state;
    this.callbacks = deps.init.callbacks;
    this.clock = new WakeableClock(deps.init.clock ?? systemClock);
    const recorded = deps.state.lastError;
    this.lastError = recorded === undefined ? null : snapshotError(recorded);
    // On Node.js, without the app's own fetch: the node:http transport (ADR 0015). Chosen here,
    // where the participant runs, so a page's main thread (Worker mode) never loads it.
    const fetch = deps.options.fetchGiven ? deps.options.fetch : (nodeHttpFetch() ?? deps.options.fetch);
    const counting: FetchLike = async (url, requestInit) => {
      const response = await fetch(url, requestInit);
      const body = requestInit?.body;
      const sent = body instanceof Uint8Array ? body.byteLength : typeof body === 'string' ? body.length : 0;
      if (sent > 0) {
        this.bytesSent += sent;
        this.refresh();
      }
      return response;
    };
    const http = new HttpCoordinatorClient(deps.url, {
      fetch: counting,
      signal: this.controller.signal,
      log: deps.log,
      ...(deps.options.token === undefined ? {} : { token: deps.options.token }),
    });
    this.client = observeParams(http, (params) => {
      this.lastParams = params;
    });
    this.snapshot = this.computeSnapshot(undefined);
  }

  get stopped(): boolean {
    return this.isStopped;
  }

  /** The first GET /params: proves the coordinator is there before anything starts. */
  async checkCoordinator(): Promise<void> {
    try {
      await this.client.getParams();
    } catch (cause) {
      if (cause instanceof CoordinatorUnavailableError || cause instanceof CoordinatorRejectedError) {
        throw new ParticipantInitError(`coordinator ${this.deps.url} unreachable: ${cause.message}`, { cause });
      }
      throw cause;
    }
  }

  start(): void {
    const { options, log, crypto, saver } = this.deps;
    log.info(`participant ${this.snapshot.participantPk} started (coordinator ${this.deps.url})`);
    this.loop = runParticipant({
      state: this.state,
      io: {
        crypto,
        client: this.client,
        localModel: (roundId) => this.localModel(roundId),
        onGlobalModel: (global) => this.deliverGlobalModel(global),
        ...(options.privacy === undefined ? {} : { privacy: options.privacy }),
        ...(options.privacyFilters === undefined ? {} : { privacyFilters: options.privacyFilters }),
        ...(options.maxChunkData === undefined ? {} : { maxChunkData: options.maxChunkData }),
      },
      ...(saver === undefined ? {} : { saver }),
      clock: this.clock,
      signal: this.controller.signal,
      onState: (next) => this.onState(next),
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
      ...(options.maxPollMs === undefined ? {} : { maxPollMs: options.maxPollMs }),
    });
    options.signal?.addEventListener('abort', this.onExternalAbort, { once: true });
    if (options.signal?.aborted) this.onExternalAbort(); // aborted while starting up
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
    return this.snapshot;
  }

  // ---- for the app side ----------------------------------------------------------------------

  round(): RoundParameters | undefined {
    return this.lastParams ?? this.state.round;
  }

  async globalModel(): Promise<GlobalModel | undefined> {
    this.assertRunning('getGlobalModel()');
    if (this.latestGlobal !== undefined) return this.latestGlobal;
    let global: GlobalModel | undefined;
    try {
      global = await this.client.getModel();
    } catch (cause) {
      throw new GlobalModelUnavailableError(`GET /model: ${messageOf(cause)}`, { cause });
    }
    if (global === undefined) return undefined;
    checkGlobalModel(global, this.round());
    // A model the loop delivered meanwhile may be newer (the field may have changed during the await).
    const delivered = this.latestGlobal as GlobalModel | undefined;
    if (delivered !== undefined && delivered.roundId >= global.roundId) return delivered;
    this.latestGlobal = global;
    return global;
  }

  setTraining(training: boolean): void {
    if (this.training === training) return;
    this.training = training && !this.isStopped;
    this.refresh();
  }

  reportError(error: unknown, context: ReportContext = {}): void {
    const cause = error instanceof Error ? error : new Error(String(error));
    const code = cause instanceof PetflError ? cause.code : 'callback-failed';
    const message = context.callback === undefined ? cause.message : `${context.callback}: ${cause.message}`;
    const roundId = context.roundId === undefined ? (this.round()?.roundId ?? null) : context.roundId;
    this.setError(Object.freeze({ code, message, roundId }), cause);
  }

  wake(): void {
    this.clock.wake();
  }

  stop(): Promise<Uint8Array> {
    if (this.stopCalled) {
      return Promise.reject(new UninitializedParticipantError('stop(): the participant was stopped already'));
    }
    this.stopCalled = true;
    return this.shutdown();
  }

  // ---- the loop's side -----------------------------------------------------------------------

  private async localModel(roundId: number): Promise<ArrayLike<number> | null | undefined> {
    try {
      return await this.callbacks.localModel(roundId, this);
    } catch (error) {
      this.reportError(error, { roundId, callback: 'localModel' });
      return null; // architecture.md §7.4: reported, and the participant sits this round out
    }
  }

  private deliverGlobalModel(global: GlobalModel): void {
    try {
      checkGlobalModel(global, this.round());
    } catch (error) {
      this.reportError(error, { roundId: global.roundId });
      return; // not handed to the app
    }
    this.latestGlobal = global;
    this.deps.log.debug(`global model of round ${global.roundId} (${global.model.length} weights)`);
    try {
      this.callbacks.onGlobalModel(global, this);
    } catch (error) {
      this.reportError(error, { roundId: global.roundId, callback: 'onGlobalModel' });
    }
  }

  private onState(next: ParticipantState): void {
    const previous = this.state;
    this.state = next;
    const record = next.lastError;
    if (record !== undefined && record !== previous.lastError) this.setError(snapshotError(record), roundError(record));
    if (next.phase.kind !== previous.phase.kind || next.round?.roundId !== previous.round?.roundId) {
      this.deps.log.debug(`round ${next.round?.roundId ?? '-'}: ${next.phase.kind}`);
    }
    this.refresh();
  }

  private setError(error: SnapshotError, cause: Error): void {
    this.lastError = error;
    this.deps.log.warn(`round ${error.roundId ?? '-'}: ${error.code}: ${error.message}`);
    this.refresh();
    const { onError } = this.deps.options;
    if (onError === undefined) return;
    try {
      onError(cause);
    } catch (thrown) {
      this.deps.log.error(`options.onError threw: ${messageOf(thrown)}`);
    }
  }

  // ---- snapshot ------------------------------------------------------------------------------

  private computeSnapshot(previous: ParticipantSnapshot | undefined): ParticipantSnapshot {
    const { state } = this;
    return Object.freeze({
      participantPk: previous?.participantPk ?? participantPkOf(state),
      phase: this.isStopped ? 'stopped' : state.phase.kind,
      task: taskOf(state, previous),
      roundId: state.round?.roundId ?? null,
      training: this.training,
      bytesSent: this.bytesSent,
      lastError: this.lastError,
    });
  }

  /** A new snapshot object only when a field changed; then every listener hears of it. */
  private refresh(): void {
    const next = this.computeSnapshot(this.snapshot);
    if (sameSnapshot(next, this.snapshot)) return;
    this.snapshot = next;
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (error) {
        this.deps.log.error(`a snapshot listener threw: ${messageOf(error)}`);
      }
    }
  }

  // ---- stop ----------------------------------------------------------------------------------

  private assertRunning(call: string): void {
    if (this.isStopped) throw new UninitializedParticipantError(`${call}: the participant was stopped`);
  }

  private shutdown(): Promise<Uint8Array> {
    this.stopping ??= (async () => {
      const { options, log, saver } = this.deps;
      this.isStopped = true;
      this.training = false;
      options.signal?.removeEventListener('abort', this.onExternalAbort);
      this.controller.abort(new UninitializedParticipantError('the participant was stopped'));
      this.refresh();
      const last = this.loop === undefined ? this.state : await this.loop;
      this.state = last;
      try {
        await saver?.save(last);
      } catch (error) {
        this.reportError(new PetflError('store-failed', `saving the state on stop failed: ${messageOf(error)}`));
      }
      try {
        this.callbacks.onStop?.(this);
      } catch (error) {
        this.reportError(error, { callback: 'onStop' });
      }
      this.refresh();
      log.info(`participant ${this.snapshot.participantPk} stopped`);
      return serializeState(last);
    })();
    return this.stopping;
  }
}

/** The engine's error record as the SDK's error class (local model problems get theirs). */
function roundError(record: ParticipantError): PetflError {
  switch (record.code) {
    case 'model-length-mismatch':
      return new LocalModelLengthMismatchError(record.message);
    case 'invalid-model-value':
      return new LocalModelDataTypeMismatchError(record.message);
    default:
      return new PetflError(record.code, record.message);
  }
}

function snapshotError(record: ParticipantError): SnapshotError {
  const { code, message } = roundError(record);
  return Object.freeze({ code, message, roundId: record.roundId ?? null });
}

/** A CoordinatorClient that tells `onParams` every set of round parameters it reads. */
function observeParams(client: CoordinatorClient, onParams: (params: RoundParameters) => void): CoordinatorClient {
  const watch = client.waitForPhaseChange?.bind(client);
  const soFar = client.getSeedsSoFar?.bind(client);
  return {
    async getParams() {
      const params = await client.getParams();
      if (params !== undefined) onParams(params);
      return params;
    },
    getSums: () => client.getSums(),
    getSeeds: (pk, signature) => client.getSeeds(pk, signature),
    getModel: () => client.getModel(),
    postMessage: (sealed) => client.postMessage(sealed),
    ...(soFar === undefined ? {} : { getSeedsSoFar: soFar }),
    ...(watch === undefined ? {} : { waitForPhaseChange: watch }),
  };
}

/**
 * The platform's AbortController (fetch accepts only its signals), or a minimal stand-in where a
 * platform has none — its signal then reaches only the SDK's own waits, not fetch.
 */
function createAbortController(): AbortControllerLike {
  return platformAbortController() ?? new LinkedSignal(undefined);
}

/** A clock whose sleeps `wake()` ends early: the loop polls again at once after the app acted. */
class WakeableClock implements Clock {
  private readonly sleeping = new Set<LinkedSignal>();

  private readonly base: Clock;

  constructor(base: Clock) {
    this.base = base;
  }

  now(): number {
    return this.base.now();
  }

  async sleep(ms: number, signal?: AbortSignalLike): Promise<void> {
    const linked = new LinkedSignal(signal);
    this.sleeping.add(linked);
    try {
      await this.base.sleep(ms, linked);
    } finally {
      this.sleeping.delete(linked);
      linked.detach();
    }
  }

  wake(): void {
    for (const linked of this.sleeping) linked.fire();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `maxChunkData` in its range (here, not in options.ts: in Worker mode the check runs in the
 * Worker and adds nothing to the page's main thread; it fails there as a ParticipantInitError too).
 */
function checkMaxChunkData(options: ResolvedOptions): ResolvedOptions {
  const { maxChunkData } = options;
  if (
    maxChunkData !== undefined &&
    !(Number.isSafeInteger(maxChunkData) && maxChunkData >= MIN_CHUNK_DATA && maxChunkData <= MAX_CHUNK_DATA)
  ) {
    const got = typeof maxChunkData === 'number' ? String(maxChunkData) : typeof maxChunkData;
    throw new ParticipantInitError(
      `options.maxChunkData: expected an integer from ${MIN_CHUNK_DATA} to ${MAX_CHUNK_DATA} (bytes), got ${got}`,
    );
  }
  return options;
}

/** The privacy filters checked by @petfl/core's own validator (here, not in options.ts: see there). */
function checkPrivacyFilters(options: ResolvedOptions): ResolvedOptions {
  if (options.privacyFilters === undefined) return options;
  try {
    return { ...options, privacyFilters: validatePrivacyFilters(options.privacyFilters) };
  } catch (cause) {
    throw new ParticipantInitError(`options.privacyFilters: ${messageOf(cause)}`, { cause });
  }
}
