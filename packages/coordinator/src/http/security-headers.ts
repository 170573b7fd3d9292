/**
 * Security headers on every coordinator answer (docs/security.md): the API serves
 * JSON and binary data only, never a page, so a browser is told not to sniff a
 * content type (`X-Content-Type-Options: nosniff`) and that nothing in an answer
 * may load, run or be framed (`Content-Security-Policy: default-src 'none';
 * frame-ancestors 'none'`). Set after the handler, so error answers (onError,
 * notFound, CORS preflights) carry them too.
 */

import type { MiddlewareHandler } from 'hono';

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};

export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
  };
}
