/**
 * The participant's admission token (docs/protocol.md §1.2): a credential the
 * app obtains from its own backend and the client presents to the
 * coordinator as `Authorization: Bearer <token>` on every request.
 *
 * The app gives either the token itself or a function that returns one. A
 * function is called lazily (at the first request) and its answer cached.
 * When the answer is a JWT (three base64url parts) its `exp` claim is read —
 * without verifying the signature: the coordinator verifies, the client only
 * needs to know when to ask again — and the function is called again
 * shortly before it expires. After the coordinator refused the token
 * (401 'not-admitted') the client calls `renew()` to get a fresh one.
 *
 * A function that throws, or returns something other than a non-empty
 * string, surfaces as `AdmissionTokenError`. SECURITY: the token is a
 * bearer credential: it is never logged and never part of an error message.
 */

import { fromBase64Url } from '@petfl/core';
import { PetflError } from '../errors.ts';
import type { Clock } from '../state-machine/io.ts';

/** The token, or a function the client calls (lazily, again before a JWT expires) to get one. */
export type TokenSource = string | (() => string | Promise<string>);

/** The token function threw or answered something that is not a token. */
export class AdmissionTokenError extends PetflError {
  override readonly name = 'AdmissionTokenError';
  declare readonly code: 'admission-token';

  constructor(message: string, options?: { cause?: unknown }) {
    super('admission-token', message, options);
  }
}

/** The longest time before a JWT's `exp` at which a fresh one is asked for. */
export const REFRESH_MARGIN_MS = 30_000;

const { TextDecoder } = globalThis as unknown as {
  TextDecoder: new () => { decode(bytes: Uint8Array): string };
};

interface Cached {
  readonly token: string;
  /** When to ask the function again (ms, the clock's time); Infinity for an opaque token. */
  readonly refreshAt: number;
}

export class AdmissionToken {
  private cached: Cached | undefined;
  private pending: Promise<Cached> | undefined;

  private readonly source: TokenSource;
  private readonly clock: Pick<Clock, 'now'>;

  constructor(source: TokenSource, clock: Pick<Clock, 'now'>) {
    this.source = source;
    this.clock = clock;
  }

  /** True when `renew()` can give another token than the one sent (the source is a function). */
  get renewable(): boolean {
    return typeof this.source === 'function';
  }

  /** The token to send now: the cached one, or a fresh one when there is none or a JWT is about to expire. */
  async get(): Promise<string> {
    if (typeof this.source === 'string') return this.source;
    const cached = this.cached;
    if (cached !== undefined && this.clock.now() < cached.refreshAt) return cached.token;
    return (await this.fetch()).token;
  }

  /** Drops the cached token (the coordinator refused it) and asks the function for a fresh one. */
  async renew(): Promise<string> {
    if (typeof this.source === 'string') return this.source;
    this.cached = undefined;
    return (await this.fetch()).token;
  }

  /** One call of the function at a time: concurrent requests share its answer. */
  private fetch(): Promise<Cached> {
    this.pending ??= this.call().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async call(): Promise<Cached> {
    const source = this.source as () => string | Promise<string>;
    let token: unknown;
    try {
      token = await source();
    } catch (cause) {
      throw new AdmissionTokenError(`options.token: the token function failed: ${messageOf(cause)}`, { cause });
    }
    if (typeof token !== 'string' || token === '') {
      const got = typeof token === 'string' ? 'an empty string' : typeof token;
      throw new AdmissionTokenError(`options.token: the token function must return a non-empty string, got ${got}`);
    }
    const now = this.clock.now();
    const expiresAt = jwtExpiry(token);
    // Ask again REFRESH_MARGIN_MS before expiry, or halfway for a short-lived token; an expired
    // one at once (the next request asks again).
    const refreshAt =
      expiresAt === undefined
        ? Number.POSITIVE_INFINITY
        : expiresAt - Math.max(0, Math.min(REFRESH_MARGIN_MS, (expiresAt - now) / 2));
    const cached = { token, refreshAt };
    this.cached = cached;
    return cached;
  }
}

/** Checks the `token` option: a non-empty string or a function. Returns what is wrong, or undefined. */
export function invalidTokenSource(token: unknown): string | undefined {
  if (typeof token === 'function') return undefined;
  if (typeof token === 'string' && token !== '' && !/[\r\n]/.test(token)) return undefined;
  return 'a non-empty string (without line breaks) or a function returning one';
}

/**
 * The `exp` claim of a JWT (RFC 7519 §4.1.4, seconds since the epoch) in milliseconds, or
 * undefined when `token` is not a JWT with a numeric `exp`. The signature is not checked.
 */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]+$/.test(part))) return undefined;
  try {
    const payload: unknown = JSON.parse(new TextDecoder().decode(fromBase64Url(parts[1] as string, 'jwt payload')));
    if (typeof payload !== 'object' || payload === null) return undefined;
    const { exp } = payload as { exp?: unknown };
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined; // not a JWT after all: an opaque token, kept until the coordinator refuses it
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
