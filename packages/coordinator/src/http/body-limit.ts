/**
 * The size limit on `POST /message` bodies (`api.max_body_bytes`, docs/security.md §4).
 *
 * A request that states its length (`Content-Length`, no `Transfer-Encoding`) is judged by that
 * header alone, and its body is left unread for the handler: Node's HTTP parser delivers exactly
 * that many bytes, which the handler reads from the socket (`readBody`: on Node
 * node/request-body.ts into one array of that length). Any other request goes through hono's `bodyLimit`, which counts the bytes as it reads
 * them. hono's middleware judges a stated length the same way, but looks at `c.req.raw.body`
 * first, which turns the body into a web stream: reading a 1 MiB chunk that way costs the
 * coordinator about twice the CPU (bench/http-bodies.bench.ts: medians 5.37 against 2.17 ms,
 * 2.40 ms with no limit at all).
 */

import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

export interface BodyLimitOptions {
  readonly maxSize: number;
  /** The answer to a body over `maxSize`. */
  readonly onError: (c: Context) => Response | Promise<Response>;
}

export function limitBody(options: BodyLimitOptions): MiddlewareHandler {
  const counted = bodyLimit({ maxSize: options.maxSize, onError: options.onError });
  return async (c, next) => {
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding') !== undefined) return counted(c, next);
    if (Number.parseInt(length, 10) > options.maxSize) return options.onError(c);
    await next();
  };
}
