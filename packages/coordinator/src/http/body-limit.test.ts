import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { describe, expect, it } from 'vitest';
import { limitBody } from './body-limit.ts';

const MAX = 1000;

function appWith(middleware: MiddlewareHandler) {
  const app = new Hono();
  const received: number[] = [];
  app.post('/message', middleware, async (c) => {
    received.push((await c.req.arrayBuffer()).byteLength);
    return c.body(null, 202);
  });
  return { app, received };
}

const ours = () => appWith(limitBody({ maxSize: MAX, onError: (c) => c.body('too large', 413) }));

/** A POST whose `body` getter records that it was read (undici's arrayBuffer() does not use it). */
function watched(init: RequestInit & { headers?: Record<string, string> }): {
  request: Request;
  touched: () => boolean;
} {
  const request = new Request('http://coordinator/message', { method: 'POST', duplex: 'half', ...init } as RequestInit);
  let touched = false;
  const body = Object.getOwnPropertyDescriptor(Request.prototype, 'body')?.get;
  Object.defineProperty(request, 'body', {
    get() {
      touched = true;
      return body?.call(request);
    },
  });
  return { request, touched: () => touched };
}

describe('limitBody', () => {
  it('judges a stated length by the header and leaves the body unread for the handler', async () => {
    const { app, received } = ours();
    const within = watched({ body: new Uint8Array(MAX), headers: { 'content-length': String(MAX) } });
    expect((await app.fetch(within.request)).status).toBe(202);
    expect(received).toEqual([MAX]);
    expect(within.touched()).toBe(false);

    // hono's bodyLimit opens the body as a stream first (what the Node adapter then has to build;
    // should a hono upgrade change that, this fails, and limitBody may give way to hono's bodyLimit).
    const hono = appWith(bodyLimit({ maxSize: MAX }));
    const opened = watched({ body: new Uint8Array(MAX), headers: { 'content-length': String(MAX) } });
    expect((await hono.app.fetch(opened.request)).status).toBe(202);
    expect(opened.touched()).toBe(true);
  });

  it('refuses a stated length over the limit without reading the body', async () => {
    const { app, received } = ours();
    const over = watched({ body: new Uint8Array(MAX + 1), headers: { 'content-length': String(MAX + 1) } });
    const res = await app.fetch(over.request);
    expect(res.status).toBe(413);
    expect(await res.text()).toBe('too large');
    expect(received).toEqual([]);
    expect(over.touched()).toBe(false);
  });

  it('counts the bytes of a body without a stated length, refusing one over the limit', async () => {
    const stream = (bytes: number) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let sent = 0; sent < bytes; sent += 300) controller.enqueue(new Uint8Array(Math.min(300, bytes - sent)));
          controller.close();
        },
      });
    const { app, received } = ours();
    expect((await app.fetch(watched({ body: stream(MAX) }).request)).status).toBe(202);
    expect((await app.fetch(watched({ body: stream(MAX + 1) }).request)).status).toBe(413);
    expect(received).toEqual([MAX]);
  });
});
