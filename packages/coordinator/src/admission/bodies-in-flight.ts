/**
 * The bound on `POST /message` bodies read or processed at once
 * (docs/security.md §4, `api.max_bodies_in_flight`): each body may be up to
 * `api.max_body_bytes`, so without it memory grows with the number of
 * senders. Beyond the bound a request is answered at once — 503 `busy`,
 * `Retry-After: 1`, `Connection: close` — and its body is never read; a slot
 * is freed when the handler has answered, accepted or not.
 */

import { PetError } from '@petfl/core';
import type { MiddlewareHandler } from 'hono';

export interface BodiesInFlightOptions {
  /** Called when a request is refused (metrics). */
  readonly onRefused?: () => void;
}

/** The middleware holding at most `max` requests past it at once. */
export function boundBodiesInFlight(max: number, options: BodiesInFlightOptions = {}): MiddlewareHandler {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`bodies in flight: expected an integer ≥ 1, got ${max}`);
  let inFlight = 0;
  return async (c, next) => {
    if (inFlight >= max) {
      options.onRefused?.();
      c.header('retry-after', '1');
      // The body stays unread: closing the connection spares reading (and discarding) it.
      c.header('connection', 'close');
      throw new PetError('busy', `message: ${max} message bodies are in flight already; retry after 1 s`);
    }
    inFlight++;
    try {
      // Hono answers a handler's error (app.onError) before `next()` settles, so the slot outlives the work.
      await next();
    } finally {
      inFlight--;
    }
  };
}
