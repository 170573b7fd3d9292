/**
 * The bound on `POST /message` bodies read or processed at once
 * (docs/security.md §4, `api.max_bodies_in_flight`): each body may be up to
 * `api.max_body_bytes`, so without it memory grows with the number of
 * senders. Beyond the bound a request waits for a slot, its body unread — only
 * its socket is held, and TCP holds the sender — in a queue of at most
 * `api.max_bodies_waiting`, first come first served, for at most
 * BODY_WAIT_MS. A request the queue has no room for, or that waited that long,
 * is answered 503 `busy`, `Retry-After: 1`, `Connection: close`, its body never
 * read. A slot is freed, or handed to the first waiter, when the handler has
 * answered, accepted or not.
 *
 * Waiting instead of refusing at once matters when many participants send
 * together (100 updates at the start of an update phase): a slot frees within
 * tens of milliseconds, while a refusal sends its participant away for at least
 * the one second `Retry-After` can express.
 */

import { PetError } from '@petfl/core';
import type { MiddlewareHandler } from 'hono';

/** The longest a request waits for a slot: no longer than the `Retry-After: 1` a refusal asks for. */
export const BODY_WAIT_MS = 1000;

export interface BodiesInFlightOptions {
  /** Called when a request is refused (metrics). */
  readonly onRefused?: () => void;
  /** Requests that may wait for a slot (default 0: refused at once). */
  readonly maxWaiting?: number;
  /** How long one may wait (default BODY_WAIT_MS). */
  readonly maxWaitMs?: number;
}

/** The middleware holding at most `max` requests past it at once. */
export function boundBodiesInFlight(max: number, options: BodiesInFlightOptions = {}): MiddlewareHandler {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`bodies in flight: expected an integer ≥ 1, got ${max}`);
  const maxWaiting = options.maxWaiting ?? 0;
  const maxWaitMs = options.maxWaitMs ?? BODY_WAIT_MS;
  if (!Number.isInteger(maxWaiting) || maxWaiting < 0) {
    throw new RangeError(`bodies waiting: expected an integer ≥ 0, got ${maxWaiting}`);
  }
  let inFlight = 0;
  /** Waiters in arrival order; calling one hands it a slot. */
  const waiting: (() => void)[] = [];

  /** Resolves true once a slot was handed over, false after maxWaitMs without one. */
  const waitForSlot = () =>
    new Promise<boolean>((resolve) => {
      const take = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const at = waiting.indexOf(take);
        if (at >= 0) waiting.splice(at, 1);
        resolve(false);
      }, maxWaitMs);
      waiting.push(take);
    });

  const release = () => {
    const next = waiting.shift();
    if (next === undefined) inFlight--;
    else next(); // the slot passes to the first waiter: inFlight stays
  };

  return async (c, next) => {
    let admitted = inFlight < max;
    if (admitted) inFlight++;
    else if (waiting.length < maxWaiting) admitted = await waitForSlot();
    if (!admitted) {
      options.onRefused?.();
      c.header('retry-after', '1');
      // The body stays unread: closing the connection spares reading (and discarding) it.
      c.header('connection', 'close');
      throw new PetError('busy', `message: ${max} message bodies are in flight already; retry after 1 s`);
    }
    try {
      // Hono answers a handler's error (app.onError) before `next()` settles, so the slot outlives the work.
      await next();
    } finally {
      release();
    }
  };
}
