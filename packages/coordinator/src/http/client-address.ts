/**
 * The client address of a request, for per-address limits: what the
 * runtime's connection-info helper (Hono's `GetConnInfo`: `hono/bun`,
 * `hono/deno`, `@hono/node-server/conninfo`…) says is the peer, or `'unknown'`
 * where there is no helper or it cannot tell (`app.request()` in tests, a
 * socket already destroyed) — so every such request shares one bucket, which
 * errs on the side of limiting.
 *
 * A proxy in front of the coordinator makes every client look like the proxy:
 * limits then apply to the proxy's address as a whole.
 */

import type { Context } from 'hono';
import type { GetConnInfo } from 'hono/conninfo';

export const UNKNOWN_ADDRESS = 'unknown';

export function clientAddress(c: Context, getConnInfo: GetConnInfo | undefined): string {
  if (getConnInfo === undefined) return UNKNOWN_ADDRESS;
  try {
    return getConnInfo(c).remote.address ?? UNKNOWN_ADDRESS;
  } catch {
    // A request without the runtime's bindings (app.request()), or a socket already gone.
    return UNKNOWN_ADDRESS;
  }
}
