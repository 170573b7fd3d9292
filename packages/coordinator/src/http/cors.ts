/**
 * CORS for the coordinator's API: a page on a configured origin (`api.cors_origins`, or `*`)
 * may call it and read the `ETag` of `GET /model` (protocol.md §3.10).
 *
 * Preflights (`OPTIONS`) are hono's `cors` middleware, unchanged. Every other answer gets hono's
 * CORS headers — `Access-Control-Allow-Origin` for an allowed origin, `Access-Control-Expose-Headers`,
 * `Vary: Origin` unless the origin is `*` — set on the handler's response *after* it, where hono's
 * middleware sets them before it. The difference is the body's path: once a middleware has touched
 * `c.res` before the handler, hono rebuilds the handler's response around its body, and the Node
 * adapter then copies a `Uint8Array` body and streams it, where it would otherwise write it to the
 * socket as it is. Serving a 4 MB global model costs 3.4–3.7 ms of coordinator CPU that way
 * against 1.9–2.0 ms this way, the same as with no CORS at all, per participant and round
 * (bench/http-bodies.bench.ts).
 */

import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';

export interface CorsOptions {
  /** `['*']` (any origin) or the allowed origins, exactly as a browser sends them. */
  readonly origins: readonly string[];
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  /** Seconds a browser may keep a preflight's answer. */
  readonly maxAge: number;
}

export function corsHeaders(options: CorsOptions): MiddlewareHandler {
  const any = options.origins.includes('*');
  const preflight = cors({
    origin: any ? '*' : [...options.origins],
    allowMethods: [...options.allowMethods],
    allowHeaders: [...options.allowHeaders],
    exposeHeaders: [...options.exposeHeaders],
    maxAge: options.maxAge,
  });
  const expose = options.exposeHeaders.join(',');
  return async (c, next) => {
    if (c.req.method === 'OPTIONS') return preflight(c, next);
    const origin = c.req.header('origin') ?? '';
    await next();
    // `c.res.headers`, never `c.header()`: after the handler, c.header() rebuilds the response too.
    const headers = c.res.headers;
    const allowed = any ? '*' : options.origins.includes(origin) ? origin : undefined;
    if (allowed !== undefined) headers.set('access-control-allow-origin', allowed);
    if (expose !== '') headers.set('access-control-expose-headers', expose);
    if (!any) headers.append('vary', 'Origin');
  };
}
