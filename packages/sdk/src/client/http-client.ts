/**
 * The coordinator over HTTP (protocol.md §1.2): `CoordinatorClient` on top of
 * an injected `fetch`.
 *
 * Transient failures — a network error, a 5xx answer, a body that does not
 * decode — are retried `retries` times with capped exponential backoff and
 * jitter, then surface as `CoordinatorUnavailableError`. A 4xx answer is the
 * coordinator refusing: it is never retried and surfaces at once as
 * `CoordinatorRejectedError` with the JSON body's code. Bodies are decoded
 * with the @petfl/core decoders, so nothing malformed gets past the client.
 *
 * Every request carries the admission token, when there is one, as
 * `Authorization: Bearer <token>` (admission-token.ts); a token function is
 * asked once more, and the request repeated once, after a 401
 * 'not-admitted'. A coordinator that sheds load — 503 'busy' or
 * 'unavailable', 429 'rate-limited' — with a `Retry-After` header (seconds)
 * is waited for as it asks, at most 30 s a time and 3 times a request, then
 * its answer surfaces as above. A plain-http URL to a non-loopback host is
 * warned about once (plain-http.ts).
 *
 * `GET /model` is revalidated, not downloaded again (protocol.md §3.10): the client keeps the last
 * global model with its ETag and sends `If-None-Match`; a 304 answers with the kept model.
 */

import {
  decodeGlobalModel,
  decodeRoundParameters,
  decodeSumDict,
  decodeUpdateSeedDict,
  expectSeedsSignature,
  type GlobalModel,
  PetError,
  type RoundParameters,
  SEEDS_SO_FAR_HEADER,
  toBase64Url,
} from '@petfl/core';
import { createLog, type Log } from '../logger.ts';
import type { AbortSignalLike, Clock } from '../state-machine/io.ts';
import { platformAbortController } from '../state-machine/linked-signal.ts';
import { systemClock } from '../system-clock.ts';
import { AdmissionToken, invalidTokenSource, type TokenSource } from './admission-token.ts';
import {
  type CoordinatorClient,
  CoordinatorRejectedError,
  CoordinatorUnavailableError,
  type SeedsSoFar,
} from './coordinator-client.ts';
import { plainHttpHost } from './plain-http.ts';

/**
 * What the client passes to `fetch`: a method, a plain record of headers, a Uint8Array body and
 * its AbortSignal. The field types are deliberately wider than that (supertypes of the
 * platform's `RequestInit`), so that the platform's own `fetch` is assignable to `FetchLike`.
 */
export interface RequestInitLike {
  readonly method?: string;
  readonly headers?: object;
  readonly body?: object | string | null;
  readonly signal?: AbortSignalLike | null;
}

/** The part of the platform's `Response` the client reads. */
export interface ResponseLike {
  readonly status: number;
  /** Read for `Retry-After` only; a fetch without headers simply never waits as asked. */
  readonly headers?: { get(name: string): string | null };
  text(): Promise<string>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * The platform's `fetch`, structurally. Declared through a method signature, whose parameters
 * TypeScript compares bivariantly: that is what lets `typeof fetch` (whose `init` is the wider
 * `RequestInit`) be assigned to it.
 */
export type FetchLike = {
  fetch(url: string, init?: RequestInitLike): Promise<ResponseLike>;
}['fetch'];

export interface HttpCoordinatorClientOptions {
  readonly fetch: FetchLike;
  /** Sleeps between retries (default: the system clock). */
  readonly clock?: Clock;
  /** Retries after the first attempt of a transiently failing request (default 3). */
  readonly retries?: number;
  /** First backoff; doubles per retry (default 100 ms). */
  readonly backoffMs?: number;
  /** Cap of the backoff (default 5000 ms). */
  readonly maxBackoffMs?: number;
  /** Aborts in-flight requests and retry waits; the request then rejects with `signal.reason`. */
  readonly signal?: AbortSignalLike;
  /**
   * The admission token sent as `Authorization: Bearer <token>`, or a function returning it
   * (admission-token.ts). SECURITY: a bearer credential; never logged.
   */
  readonly token?: TokenSource;
  /** Where the plain-http warning goes (default: `console` at level warn). */
  readonly log?: Pick<Log, 'warn'>;
}

const DEFAULTS = { retries: 3, backoffMs: 100, maxBackoffMs: 5000 } as const;
/** The coordinator's limit on one GET /phase wait. */
const MAX_PHASE_WAIT_MS = 30_000;
/** The longest wait a `Retry-After` header gets. */
export const MAX_RETRY_AFTER_MS = 30_000;
/** How many times one request waits as a `Retry-After` header asks before its answer surfaces. */
export const MAX_RETRY_AFTER_WAITS = 3;
/** The answers whose `Retry-After` the client honours: status → the codes (protocol.md §3.11). */
const RETRY_AFTER_CODES: Readonly<Record<number, readonly string[]>> = {
  429: ['rate-limited'],
  503: ['busy', 'unavailable'],
};

/** What one request (all its attempts) has used up. */
interface RequestBudget {
  retryAfterWaits: number;
  renewedToken: boolean;
}

/** Errors that must not be retried with backoff: their Retry-After waits are used up. */
const exhausted = new WeakSet<Error>();

export class HttpCoordinatorClient implements CoordinatorClient {
  private readonly base: string;
  private readonly fetchFn: FetchLike;
  private readonly clock: Clock;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly signal: AbortSignalLike | undefined;
  // SECURITY: the admission token (a bearer credential) lives here; it is only ever put in headers.
  private readonly token: AdmissionToken | undefined;
  /** False once the coordinator answered GET /phase with 404. */
  private phaseRoute = true;
  /** False once an answer to `so_far=1` came without its `petfl-seeds` header (getSeedsSoFar). */
  private seedsSoFarRoute = true;
  /** The body of the last global model and the ETag it came with (a 304 to If-None-Match answers it again, decoded anew). */
  private model: { readonly etag: string; readonly body: Uint8Array } | undefined;

  constructor(baseUrl: string, options: HttpCoordinatorClientOptions) {
    this.base = baseUrl.replace(/\/+$/, '');
    // Kept as a plain function and called unbound: browsers reject `fetch` called on another object.
    this.fetchFn = options.fetch;
    this.clock = options.clock ?? systemClock;
    this.retries = nonNegativeInteger(options.retries ?? DEFAULTS.retries, 'retries');
    this.backoffMs = nonNegativeInteger(options.backoffMs ?? DEFAULTS.backoffMs, 'backoffMs');
    this.maxBackoffMs = nonNegativeInteger(options.maxBackoffMs ?? DEFAULTS.maxBackoffMs, 'maxBackoffMs');
    this.signal = options.signal;
    if (options.token !== undefined) {
      const invalid = invalidTokenSource(options.token);
      if (invalid !== undefined)
        throw new PetError('invalid-field', `HttpCoordinatorClient token: expected ${invalid}`);
      this.token = new AdmissionToken(options.token, this.clock);
    }
    const host = plainHttpHost(this.base);
    if (host !== undefined) {
      (options.log ?? createLog('warn', undefined)).warn(
        `the coordinator URL is plain http to ${host}, which is not loopback: the admission token, ` +
          'the round parameters and every answer travel unencrypted and can be read or forged on the way; use https',
      );
    }
  }

  getParams(): Promise<RoundParameters | undefined> {
    return this.read('/params', 'round parameters', async (r) => decodeRoundParameters(JSON.parse(await r.text())));
  }

  getSums(): Promise<ReadonlyMap<string, Uint8Array> | undefined> {
    return this.read('/sums', 'sum dictionary', async (r) => decodeSumDict(await bytesOf(r)));
  }

  /** `GET /seeds?pk=&sig=`, signed as seeds-request.ts describes. */
  async getSeeds(
    sumParticipantPk: Uint8Array,
    signature: Uint8Array,
  ): Promise<ReadonlyMap<string, Uint8Array> | undefined> {
    expectSeedsSignature(signature);
    const path = `/seeds?pk=${toBase64Url(sumParticipantPk)}&sig=${toBase64Url(signature)}`;
    return this.read(path, 'update seed dictionary', async (r) => decodeUpdateSeedDict(await bytesOf(r)), '/seeds');
  }

  /**
   * `GET /seeds?pk=&sig=&so_far=1` (ADR 0017). The answer's `petfl-seeds` header says which
   * dictionary it is. An answer without it — a coordinator that does not know `so_far` (it
   * answers only once the update phase has ended), or a fetch, proxy or CORS policy that hides
   * the header — cannot be told apart from a dictionary so far: it is not used, and this client
   * asks as `getSeeds` does from then on.
   */
  async getSeedsSoFar(sumParticipantPk: Uint8Array, signature: Uint8Array): Promise<SeedsSoFar | undefined> {
    if (!this.seedsSoFarRoute) {
      const seeds = await this.getSeeds(sumParticipantPk, signature);
      return seeds === undefined ? undefined : { seeds, final: true };
    }
    expectSeedsSignature(signature);
    const path = `/seeds?pk=${toBase64Url(sumParticipantPk)}&sig=${toBase64Url(signature)}&so_far=1`;
    const answer = await this.read(
      path,
      'update seed dictionary',
      async (r) => {
        const which = headerOf(r, SEEDS_SO_FAR_HEADER);
        if (which !== 'final' && which !== 'so-far') return null; // unmarked: see above
        return { seeds: decodeUpdateSeedDict(await bytesOf(r)), final: which === 'final' };
      },
      '/seeds',
    );
    if (answer === null) {
      this.seedsSoFarRoute = false;
      return undefined; // asked again, without so_far, at the next poll
    }
    return answer;
  }

  /**
   * `GET /model` with `If-None-Match` once a model is kept: 304 → the kept model, 200 → the new
   * model, kept with its ETag, 204 → undefined (and nothing kept: the coordinator has no model any
   * more). What is kept is the response body, which nothing else holds, and the model is a view
   * into it (`view`; a copy where its values lie unaligned): a 200 costs no copy beyond reading
   * the body, and a 304 views the kept body again. So the caller reads the model and never
   * changes it (`CoordinatorClient.getModel`); the runtime hands the app copies (runtime.ts).
   */
  async getModel(): Promise<GlobalModel | undefined> {
    const kept = this.model;
    const global = await this.read(
      '/model',
      'global model',
      async (r) => {
        const body = await bytesOf(r);
        const decoded = decodeGlobalModel(body, { view: true });
        const etag = entityTag(r);
        this.model = etag === undefined ? undefined : { etag, body };
        return decoded;
      },
      '/model',
      kept === undefined ? undefined : { etag: kept.etag, answer: () => decodeGlobalModel(kept.body, { view: true }) },
    );
    if (global === undefined) this.model = undefined;
    return global;
  }

  /**
   * One attempt, no retries: it only shortens a wait the participant would make anyway.
   * `cancel` ends the request early (see CoordinatorClient); it needs the platform's
   * AbortController, and where there is none the request runs to its answer.
   */
  async waitForPhaseChange(
    after: string,
    waitMs: number,
    cancel?: AbortSignalLike,
    untilRound = false,
  ): Promise<string | undefined> {
    if (!this.phaseRoute) return undefined;
    const wait = Math.max(0, Math.min(MAX_PHASE_WAIT_MS, Math.round(waitMs)));
    const path = `/phase?after=${encodeURIComponent(after)}&wait_ms=${wait}${untilRound ? '&until=round' : ''}`;
    const request = cancel === undefined ? undefined : eitherSignal(this.signal, cancel);
    try {
      const init = request === undefined ? { method: 'GET' } : { method: 'GET', signal: request.signal };
      const response = await this.exchange('GET /phase', path, init, newBudget());
      if (response.status === 404) {
        this.phaseRoute = false; // a coordinator without long polls: poll only, and stop asking
        return undefined;
      }
      if (response.status !== 200) throw await failure('GET /phase', response);
      let token: unknown;
      try {
        token = (JSON.parse(await response.text()) as { token?: unknown }).token;
      } catch (cause) {
        throw new CoordinatorUnavailableError(`GET /phase: malformed answer: ${messageOf(cause)}`, { cause });
      }
      if (typeof token !== 'string') throw new CoordinatorUnavailableError('GET /phase: expected {token: string}');
      return token;
    } finally {
      request?.release();
    }
  }

  postMessage(sealed: Uint8Array): Promise<void> {
    const label = 'POST /message';
    const budget = newBudget();
    return this.withRetries(async () => {
      const init = { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: sealed };
      const response = await this.exchange(label, '/message', init, budget);
      if (response.status !== 202) throw await failure(label, response, sealed.length);
    });
  }

  /**
   * A GET: 204 → undefined, 200 → the decoded body, anything else → an error. `shown` is the
   * path as errors name it (the seeds request's signature stays out of messages). With `kept`, the
   * request carries `If-None-Match: kept.etag` and a 304 is `kept.answer()`.
   */
  private read<T>(
    path: string,
    what: string,
    decode: (response: ResponseLike) => Promise<T>,
    shown = path,
    kept?: { readonly etag: string; answer(): T },
  ): Promise<T | undefined> {
    const label = `GET ${shown}`;
    const budget = newBudget();
    const init = kept === undefined ? { method: 'GET' } : { method: 'GET', headers: { 'if-none-match': kept.etag } };
    return this.withRetries(async () => {
      const response = await this.exchange(label, path, init, budget);
      if (response.status === 304 && kept !== undefined) return kept.answer();
      if (response.status === 204) return undefined;
      if (response.status !== 200) throw await failure(label, response);
      try {
        return await decode(response);
      } catch (cause) {
        this.throwIfAborted();
        throw new CoordinatorUnavailableError(`${label}: malformed ${what}: ${messageOf(cause)}`, {
          cause,
          status: response.status,
        });
      }
    });
  }

  /**
   * One request as every request goes: with the admission token, once more with a fresh token
   * after a 401 'not-admitted', and again after each wait a `Retry-After` asks for (until the
   * budget's waits are used up: then the answer's error is thrown, marked not to be retried).
   * Resolves to the final answer, whatever its status.
   */
  private async exchange(
    label: string,
    path: string,
    init: RequestInitLike,
    budget: RequestBudget,
  ): Promise<ResponseLike> {
    let token = this.token === undefined ? undefined : await this.token.get();
    for (;;) {
      const sent =
        token === undefined ? init : { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } };
      const response = await this.send(label, path, sent);
      const { status } = response;
      const codes = RETRY_AFTER_CODES[status];
      if (status !== 401 && codes === undefined) return response;

      // Read the error body once; what is returned replays it for `failure`.
      const replay = await replayable(response);
      const { code } = await errorBody(replay);
      if (status === 401) {
        if (code !== 'not-admitted' || this.token === undefined || !this.token.renewable || budget.renewedToken) {
          return replay;
        }
        budget.renewedToken = true;
        token = await this.token.renew();
        continue;
      }
      const waitMs = code === undefined || !codes?.includes(code) ? undefined : retryAfterMs(response);
      if (waitMs === undefined) return replay;
      if (budget.retryAfterWaits >= MAX_RETRY_AFTER_WAITS) {
        const error = await failure(label, replay);
        exhausted.add(error);
        throw error;
      }
      budget.retryAfterWaits++;
      const signal = init.signal ?? this.signal;
      await this.clock.sleep(waitMs, signal ?? undefined);
      this.throwIfAborted();
      if (signal?.aborted) throw new CoordinatorUnavailableError(`${label}: aborted while waiting to retry`);
    }
  }

  private async send(label: string, path: string, init: RequestInitLike): Promise<ResponseLike> {
    const fetch = this.fetchFn;
    try {
      const signal = init.signal ?? this.signal;
      return await fetch(this.base + path, signal === undefined ? init : { ...init, signal });
    } catch (cause) {
      this.throwIfAborted();
      throw new CoordinatorUnavailableError(`${label}: network error: ${messageOf(cause)}`, { cause });
    }
  }

  private async withRetries<T>(attempt: () => Promise<T>): Promise<T> {
    for (let retry = 0; ; retry++) {
      this.throwIfAborted();
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof CoordinatorUnavailableError) || exhausted.has(error) || retry >= this.retries) {
          throw error;
        }
      }
      await this.clock.sleep(this.backoff(retry), this.signal);
    }
  }

  /** Equal jitter: a random delay in [cap/2, cap], cap = min(maxBackoffMs, backoffMs · 2^retry). */
  private backoff(retry: number): number {
    const cap = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** retry);
    return Math.round(cap / 2 + (Math.random() * cap) / 2);
  }

  private throwIfAborted(): void {
    if (this.signal?.aborted) throw this.signal.reason ?? new Error('aborted');
  }
}

/**
 * The error for a non-success answer: 4xx → rejected (never retried), otherwise unavailable.
 * A 413 without the coordinator's code comes from something in front of it (nginx refuses bodies
 * over its `client_max_body_size`): it is 'body-too-large' too, and says what was sent and what
 * to change (docs/operations.md).
 */
async function failure(label: string, response: ResponseLike, bodyBytes?: number): Promise<Error> {
  const { status } = response;
  const body = await errorBody(response);
  if (status === 413 && body.code === undefined && bodyBytes !== undefined) {
    return new CoordinatorRejectedError(
      status,
      'body-too-large',
      `${label}: rejected with 413 by a proxy in front of the coordinator: a body of ${bodyBytes} bytes is over its ` +
        "limit; give the participant a smaller options.maxChunkData or raise the proxy's body limit",
    );
  }
  const code = body.code ?? 'unknown';
  const detail = body.message === undefined ? '' : `: ${body.message}`;
  if (status >= 400 && status < 500) {
    return new CoordinatorRejectedError(status, code, `${label}: rejected with ${status} ${code}${detail}`);
  }
  return new CoordinatorUnavailableError(
    `${label}: answered ${status}${body.code === undefined ? '' : ` ${code}`}${detail}`,
    {
      status,
    },
  );
}

/** The `{code, message}` JSON of an error answer, as far as it is there (protocol.md §1.2). */
async function errorBody(response: ResponseLike): Promise<{ code?: string; message?: string }> {
  try {
    const json: unknown = JSON.parse(await response.text());
    if (typeof json !== 'object' || json === null) return {};
    const { code, message } = json as { code?: unknown; message?: unknown };
    return {
      ...(typeof code === 'string' ? { code } : {}),
      ...(typeof message === 'string' ? { message } : {}),
    };
  } catch {
    return {}; // no or non-JSON body: the status alone must do
  }
}

function newBudget(): RequestBudget {
  return { retryAfterWaits: 0, renewedToken: false };
}

/**
 * The wait a `Retry-After` header asks for (RFC 9110 §10.2.3, delay-seconds only), capped at
 * MAX_RETRY_AFTER_MS; undefined without a usable header.
 */
function retryAfterMs(response: ResponseLike): number | undefined {
  let value: string | null | undefined;
  try {
    value = response.headers?.get('retry-after');
  } catch {
    return undefined;
  }
  if (typeof value !== 'string' || !/^\s*\d+\s*$/.test(value)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Number(value.trim()) * 1000);
}

/**
 * The answer with its body read once and kept as text, so the error path (`errorBody`,
 * `failure`) can read it again; only error answers are replayed, and they are read as text.
 */
async function replayable(response: ResponseLike): Promise<ResponseLike> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // no readable body: the status alone must do
  }
  return {
    status: response.status,
    ...(response.headers === undefined ? {} : { headers: response.headers }),
    text: async () => text,
    arrayBuffer: async () => {
      throw new TypeError('an error answer is replayed as text only');
    },
  };
}

/** A response header's value; undefined when the fetch gives no headers or the header is absent. */
function headerOf(response: ResponseLike, name: string): string | undefined {
  try {
    return response.headers?.get(name) ?? undefined;
  } catch {
    return undefined;
  }
}

/** An answer's ETag when it is one (RFC 9110 §8.8.3: optionally weak, quoted, visible ASCII); else undefined. */
function entityTag(response: ResponseLike): string | undefined {
  const value = headerOf(response, 'etag');
  return typeof value === 'string' && /^(W\/)?"[\x21\x23-\x7e]{0,200}"$/.test(value) ? value : undefined;
}

async function bytesOf(response: ResponseLike): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function nonNegativeInteger(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new PetError('invalid-field', `HttpCoordinatorClient ${field}: expected an integer ≥ 0, got ${value}`);
  }
  return value;
}

/**
 * A platform AbortSignal (what `fetch` takes) that aborts when either given signal does, and
 * `release()` to unhook it from them; undefined where the platform has no AbortController.
 */
function eitherSignal(
  first: AbortSignalLike | undefined,
  second: AbortSignalLike,
): { readonly signal: AbortSignalLike; release(): void } | undefined {
  const controller = platformAbortController();
  if (controller === undefined) return undefined;
  const sources = first === undefined ? [second] : [first, second];
  const abort = () => controller.abort();
  for (const source of sources) {
    if (source.aborted) controller.abort();
    else source.addEventListener('abort', abort, { once: true });
  }
  return {
    signal: controller.signal,
    release: () => {
      for (const source of sources) source.removeEventListener('abort', abort);
    },
  };
}
