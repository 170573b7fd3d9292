/**
 * The client address of a request, for per-address limits: the socket's peer
 * address under @hono/node-server (its `getConnInfo`), or `'unknown'` where
 * the runtime gives none (`app.request()` in tests, other runtimes) — so every
 * such request shares one bucket, which errs on the side of limiting.
 *
 * A proxy in front of the coordinator makes every client look like the proxy:
 * limits then apply to the proxy's address as a whole.
 */

import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

export const UNKNOWN_ADDRESS = 'unknown';

export function clientAddress(c: Context): string {
  const env = c.env as { incoming?: unknown; server?: { incoming?: unknown } } | undefined;
  if (env?.incoming === undefined && env?.server?.incoming === undefined) return UNKNOWN_ADDRESS;
  try {
    return getConnInfo(c).remote.address ?? UNKNOWN_ADDRESS;
  } catch {
    // A socket already destroyed has no peer left to name.
    return UNKNOWN_ADDRESS;
  }
}
