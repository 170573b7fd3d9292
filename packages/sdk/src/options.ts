/**
 * The options of `spawnParticipant` and `spawnAsyncParticipant`
 * (architecture.md §7.4): one typed object, checked once when the participant is
 * created (a bad option is a ParticipantInitError naming it), every default
 * here.
 */

import type { PrivacyFilter } from '@petfl/core';
import { invalidTokenSource, type TokenSource } from './client/admission-token.ts';
import type { FetchLike } from './client/http-client.ts';
import { ParticipantInitError } from './errors.ts';
import { LOG_LEVELS, type LoggerLike, type LogLevel } from './logger.ts';
import type { AbortSignalLike, StateStore } from './state-machine/io.ts';
import type { ParticipantPrivacyOptions } from './state-machine/privacy.ts';
import { DEFAULT_STORE_KEY } from './state-machine/run.ts';

export interface ParticipantOptions {
  /**
   * A serialized state to restore (what `stop()` returned). When given it wins over the store's.
   * SECURITY: it holds the participant's private keys.
   */
  readonly state?: Uint8Array;
  /**
   * The participant's weight in the global model (protocol.md §4.6); a finite number ≥ 0.
   * Default 1 for a fresh participant; a restored one keeps its saved scalar unless this is given.
   */
  readonly scalar?: number;
  /**
   * Where the state is saved after every completed step and on stop, and restored from at start.
   * Default: IndexedDB (`idbStateStore()`) where `globalThis.indexedDB` exists, else none: the
   * state lives in the participant only (`stop()` still returns it).
   */
  readonly store?: StateStore;
  /** The store key (default 'petfl/participant-state'); use one per participant. */
  readonly storeKey?: string;
  /** Aborting it stops the participant, as `stop()` does. */
  readonly signal?: AbortSignalLike;
  /** Default 'warn'. */
  readonly logLevel?: LogLevel;
  /** Console-like; default the platform's `console`. */
  readonly logger?: LoggerLike;
  /**
   * Default: on Node.js, a transport over `node:http`/`node:https` (client/node-http-fetch.ts,
   * ADR 0015: the same requests at 1.5–7.5× less CPU than Node's `fetch`), chosen by the runtime;
   * elsewhere `globalThis.fetch`.
   */
  readonly fetch?: FetchLike;
  /**
   * The admission token the coordinator asks of participants, sent as `Authorization: Bearer`
   * on every request; or a function returning it (sync or async), called at the first request,
   * again shortly before a JWT's `exp`, and after the coordinator answered 401 'not-admitted'.
   * SECURITY: a bearer credential; the SDK never logs it.
   */
  readonly token?: TokenSource;
  /** Every error the participant meets: a callback that threw, a rejected model, a round error. */
  readonly onError?: (error: Error) => void;
  /** First wait between polls of the coordinator (default 250 ms); doubles while nothing changes. */
  readonly pollMs?: number;
  /** Longest wait between polls (default 5000 ms). */
  readonly maxPollMs?: number;
  /**
   * The most payload bytes one message carries (protocol.md §3.7): a larger payload (at the default,
   * an Update or a Sum2 of more than about 160,000 weights) goes in chunks of this size, each its
   * own request.
   * A chunk's request body is its data plus 192 bytes (`CHUNK_REQUEST_OVERHEAD`). Default 1 MiB
   * less those (`DEFAULT_MAX_CHUNK_DATA`): bodies of exactly 1 MiB, which a proxy with nginx's
   * default `client_max_body_size` lets through. An integer from 1 KiB (`MIN_CHUNK_DATA`) to 16 MiB
   * less 192 bytes (`MAX_CHUNK_DATA`, the coordinator's default `api.max_body_bytes`,
   * docs/security.md): less behind a proxy with a smaller body limit, more for fewer round trips
   * on a slow link (and more to send again after a failed request).
   */
  readonly maxChunkData?: number;
  /**
   * The participant's own differential-privacy limit (docs/privacy.md §3): it recomputes ε from
   * each round's announced promise with its own accountant and sits out (lastError 'privacy-limit')
   * any round that would take its total over `maxEpsilon` at `delta`, or that promises none.
   */
  readonly privacy?: ParticipantPrivacyOptions;
  /**
   * Local privacy filters (docs/privacy.md §4): applied in order to every update this participant
   * sends, on the device, before the round's clipping, noise and masking — Laplace noise,
   * percentile sharing, the sparse vector technique (@petfl/core `PrivacyFilter`).
   */
  readonly privacyFilters?: readonly PrivacyFilter[];
}

export interface ResolvedOptions {
  readonly state: Uint8Array | undefined;
  readonly scalar: number | undefined;
  readonly store: StateStore | undefined;
  readonly storeKey: string;
  readonly signal: AbortSignalLike | undefined;
  readonly logLevel: LogLevel;
  readonly logger: LoggerLike | undefined;
  /** The app's `fetch`, else the platform's (which the runtime replaces on Node.js: `fetchGiven` false). */
  readonly fetch: FetchLike;
  /** The app passed `fetch`: it is used as it is. */
  readonly fetchGiven: boolean;
  readonly token: TokenSource | undefined;
  readonly onError: ((error: Error) => void) | undefined;
  readonly pollMs: number | undefined;
  readonly maxPollMs: number | undefined;
  readonly maxChunkData: number | undefined;
  readonly privacy: ParticipantPrivacyOptions | undefined;
  readonly privacyFilters: readonly PrivacyFilter[] | undefined;
}

/** An http(s) URL with a host and no query or fragment; checked without the platform's `URL`. */
const COORDINATOR_URL = /^https?:\/\/[^\s/?#@]+(?:\/[^\s?#]*)?$/i;

export function validateCoordinatorUrl(url: unknown): string {
  if (typeof url !== 'string' || !COORDINATOR_URL.test(url)) {
    throw new ParticipantInitError(
      `coordinatorUrl: expected an http(s) URL such as 'https://coordinator.example', got ${JSON.stringify(url)}`,
    );
  }
  return url.replace(/\/+$/, '');
}

export function resolveOptions(options: ParticipantOptions = {}): ResolvedOptions {
  const bad = (field: string, expected: string, got: unknown): never => {
    const shown = typeof got === 'function' ? 'a function' : typeof got === 'object' ? typeof got : String(got);
    throw new ParticipantInitError(`options.${field}: expected ${expected}, got ${shown}`);
  };
  if (typeof options !== 'object' || options === null) bad('', 'an object', options);
  const { state, scalar, store, storeKey, signal, logLevel, logger, token, onError, pollMs, maxPollMs } = options;
  if (state !== undefined && !(state instanceof Uint8Array)) bad('state', 'a Uint8Array from stop()', state);
  if (scalar !== undefined && (typeof scalar !== 'number' || !Number.isFinite(scalar) || scalar < 0)) {
    bad('scalar', 'a finite number ≥ 0', scalar);
  }
  if (store !== undefined && !['get', 'set', 'del'].every((m) => typeof (store as never)[m] === 'function')) {
    bad('store', 'a StateStore {get, set, del}', store);
  }
  if (storeKey !== undefined && (typeof storeKey !== 'string' || storeKey === '')) {
    bad('storeKey', 'a non-empty string', storeKey);
  }
  if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) bad('logLevel', LOG_LEVELS.join(', '), logLevel);
  for (const [field, value] of [
    ['pollMs', pollMs],
    ['maxPollMs', maxPollMs],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) bad(field, 'an integer ≥ 1', value);
  }
  if (onError !== undefined && typeof onError !== 'function') bad('onError', 'a function', onError);
  const { privacy, privacyFilters } = options;
  if (privacy !== undefined) {
    const problems = privacyOptionsProblems(privacy);
    if (problems.length > 0) throw new ParticipantInitError(`options.privacy: ${problems.join('; ')}`);
  }
  // Each filter is checked where the participant runs (runtime.ts: its Worker in Worker mode), so
  // that the filters' code stays out of a page's main thread.
  if (privacyFilters !== undefined && !Array.isArray(privacyFilters)) {
    bad('privacyFilters', 'a list of privacy filters', privacyFilters);
  }
  if (token !== undefined) {
    const invalid = invalidTokenSource(token);
    // SECURITY: the message says what kind of value came, never the value (a token, perhaps a near miss).
    if (invalid !== undefined) bad('token', invalid, typeof token === 'string' ? 'a string' : token);
  }
  const fetch = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
  if (typeof fetch !== 'function') bad('fetch', 'a fetch function (this platform has no globalThis.fetch)', fetch);
  if (signal?.aborted) throw new ParticipantInitError('options.signal: already aborted');
  return {
    state,
    scalar,
    store,
    storeKey: storeKey ?? DEFAULT_STORE_KEY,
    signal,
    logLevel: logLevel ?? 'warn',
    logger,
    fetch: fetch as FetchLike,
    fetchGiven: options.fetch !== undefined,
    token,
    onError,
    pollMs,
    maxPollMs,
    // Checked where the participant runs (runtime.ts), as the privacy filters are.
    maxChunkData: options.maxChunkData,
    privacy: privacy === undefined ? undefined : { maxEpsilon: privacy.maxEpsilon, delta: privacy.delta },
    privacyFilters: privacyFilters === undefined ? undefined : [...privacyFilters],
  };
}

/** Everything wrong with `options.privacy`. */
function privacyOptionsProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['expected { maxEpsilon, delta }'];
  const { maxEpsilon, delta } = value as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof maxEpsilon !== 'number' || !Number.isFinite(maxEpsilon) || maxEpsilon <= 0) {
    problems.push(`maxEpsilon: expected a finite number > 0, got ${String(maxEpsilon)}`);
  }
  if (typeof delta !== 'number' || !(delta > 0 && delta < 1)) {
    problems.push(`delta: expected a number in (0, 1), got ${String(delta)}`);
  }
  return problems;
}
