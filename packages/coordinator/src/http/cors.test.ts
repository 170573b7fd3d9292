import { Hono, type MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { describe, expect, it } from 'vitest';
import { corsHeaders } from './cors.ts';
import { securityHeaders } from './security-headers.ts';

const OPTIONS = {
  allowMethods: ['GET', 'POST', 'PUT', 'OPTIONS'],
  allowHeaders: ['Content-Type', 'Authorization', 'If-None-Match'],
  exposeHeaders: ['ETag'],
  maxAge: 600,
} as const;

/** hono's own middleware with the same settings: what ours must answer like. */
const honoCors = (origin: '*' | string[]) =>
  cors({
    origin,
    allowMethods: [...OPTIONS.allowMethods],
    allowHeaders: [...OPTIONS.allowHeaders],
    exposeHeaders: [...OPTIONS.exposeHeaders],
    maxAge: OPTIONS.maxAge,
  });

/** An app as the coordinator builds it, whose GET /bytes remembers the response it returned. */
function appWith(middleware: MiddlewareHandler) {
  const app = new Hono();
  app.use('*', securityHeaders());
  app.use('*', middleware);
  const returned: Response[] = [];
  app.get('/bytes', (c) => {
    const res = c.body(new Uint8Array([1, 2, 3]), 200, { etag: '"1-x"' });
    returned.push(res);
    return res;
  });
  app.get('/fails', () => {
    throw new Error('boom');
  });
  app.onError((_error, c) => c.json({ code: 'internal' }, 500));
  return { app, returned };
}

describe('corsHeaders', () => {
  it('sets the CORS headers on the handler’s own response, which is not rebuilt around its body', async () => {
    const { app, returned } = appWith(corsHeaders({ origins: ['http://app.example'], ...OPTIONS }));
    const res = await app.request('/bytes', { headers: { origin: 'http://app.example' } });
    // The Node adapter writes a Uint8Array body straight to the socket only from this object.
    expect(res).toBe(returned[0]);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://app.example');
    expect(res.headers.get('access-control-expose-headers')).toBe('ETag');
    expect(res.headers.get('vary')).toBe('Origin');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));

    // hono's own middleware, which sets them before the handler, answers with a rebuilt response
    // (should a hono upgrade change that, this fails, and corsHeaders may give way to hono's cors).
    const before = appWith(honoCors(['http://app.example']));
    const rebuilt = await before.app.request('/bytes', { headers: { origin: 'http://app.example' } });
    expect(rebuilt).not.toBe(before.returned[0]);
  });

  it('gives every answer the headers hono’s cors gives it', async () => {
    const ours = appWith(corsHeaders({ origins: ['http://app.example'], ...OPTIONS })).app;
    const hono = appWith(honoCors(['http://app.example'])).app;
    const anyOurs = appWith(corsHeaders({ origins: ['*'], ...OPTIONS })).app;
    const anyHono = appWith(honoCors('*')).app;
    const requests: [string, RequestInit][] = [
      ['/bytes', { headers: { origin: 'http://app.example' } }],
      ['/bytes', { headers: { origin: 'http://evil.example' } }],
      ['/bytes', {}],
      ['/fails', { headers: { origin: 'http://app.example' } }],
      ['/nowhere', { headers: { origin: 'http://app.example' } }],
      [
        '/bytes',
        { method: 'OPTIONS', headers: { origin: 'http://app.example', 'access-control-request-method': 'POST' } },
      ],
      [
        '/bytes',
        { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } },
      ],
    ];
    const headersOf = (res: Response) => [...res.headers].filter(([k]) => k !== 'content-type').sort();
    for (const [path, init] of requests) {
      for (const [a, b] of [
        [ours, hono],
        [anyOurs, anyHono],
      ] as const) {
        const [x, y] = [await a.request(path, init), await b.request(path, init)];
        expect({ path, init, status: x.status, headers: headersOf(x) }).toEqual({
          path,
          init,
          status: y.status,
          headers: headersOf(y),
        });
      }
    }
  });
});
