/**
 * Rate limits (docs/security.md §2): at most `perMinute` requests per key
 * (a client address, an admitted subject) in each one-minute window, counted
 * by `hono-rate-limiter` in a store — in memory for one coordinator, in Redis
 * when several coordinator instances must share the counts. Beyond the limit
 * a request is answered 429 `rate-limited` with `Retry-After` (the seconds
 * until the window ends) before any other work. A limit of 0 is no limit.
 */

import { PetError } from '@petfl/core';
import type { Context, Env, MiddlewareHandler } from 'hono';
import { MemoryStore, type RateLimitInfo, rateLimiter, type Store } from 'hono-rate-limiter';

/** Makes the counter store of one named limit (`message-ip`, `phase-ip`…); limits never share counters. */
export type RateLimitStores = (name: string) => Store;

/** Counters in this process's memory: one coordinator instance. */
export const memoryRateLimitStores: RateLimitStores = () => new MemoryStore();

const WINDOW_MS = 60_000;

export interface RateLimitOptions<E extends Env> {
  /** Names the limit's counters and its message: `message-ip`. */
  readonly name: string;
  /** Requests per key per minute; 0 turns the limit off. */
  readonly perMinute: number;
  /** What one request is counted against, for the message: `messages per client address`. */
  readonly per: string;
  /** The key a request is counted under; undefined: the request is not counted by this limit. */
  readonly key: (c: Context<E>) => string | undefined;
  readonly stores: RateLimitStores;
  /** Closes the connection with the refusal: for a request whose body is left unread. */
  readonly closeConnection?: boolean;
  /** Called when a request is refused (metrics). */
  readonly onRefused?: () => void;
}

/** Whole seconds until `resetTime`, at least 1 (a window in Redis may end a moment after the count). */
export function retryAfterSeconds(resetTime: Date | undefined, now = Date.now()): number {
  if (resetTime === undefined) return WINDOW_MS / 1000;
  return Math.max(1, Math.ceil((resetTime.getTime() - now) / 1000));
}

/** The middleware of one limit; a pass-through when `perMinute` is 0. */
export function rateLimit<E extends Env>(options: RateLimitOptions<E>): MiddlewareHandler<E> {
  const { name, perMinute, per, key } = options;
  if (perMinute === 0) return async (_c, next) => next();
  const infoProperty = `rateLimit:${name}`;
  return rateLimiter<E>({
    windowMs: WINDOW_MS,
    limit: perMinute,
    // The stores never read the context: one store type serves every route.
    store: options.stores(name) as unknown as Store<E>,
    // Only Retry-After, on the refusal: several limits on one route would overwrite each other's RateLimit-* headers.
    standardHeaders: false,
    requestPropertyName: infoProperty,
    skip: (c) => key(c) === undefined,
    keyGenerator: (c) => key(c) as string,
    handler: (c) => {
      const info = (c as unknown as Context).get(infoProperty as never) as RateLimitInfo | undefined;
      const seconds = retryAfterSeconds(info?.resetTime);
      options.onRefused?.();
      c.header('retry-after', String(seconds));
      if (options.closeConnection === true) c.header('connection', 'close');
      // Thrown, so the app's one error mapping answers it (429 with {code, message}).
      throw new PetError(
        'rate-limited',
        `${name}: more than ${perMinute} requests per minute (${per}); retry after ${seconds} s`,
      );
    },
  });
}
