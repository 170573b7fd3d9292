/**
 * The `node:http` transport (node-http-fetch.ts, ADR 0015) against real HTTP servers on
 * loopback: bodies both ways, headers, kept-alive connections, redirects as `fetch` follows them,
 * aborts, answers cut off, refused connections — and that a participant on Node uses it by default.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawnAsyncParticipant } from '../async-participant.ts';
import type { FetchLike } from './http-client.ts';
import { keepAliveHint, nodeHttpFetch } from './node-http-fetch.ts';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A server that records each request and answers it with `answer`; its base URL and records. */
async function serve(
  answer: (request: Seen, response: ServerResponse) => void,
  keepAliveTimeoutMs?: number,
): Promise<{ base: string; seen: Seen[]; connections: () => number }> {
  const seen: Seen[] = [];
  let connections = 0;
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const record = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks),
      };
      seen.push(record);
      answer(record, response);
    });
  });
  server.on('connection', () => connections++);
  if (keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = keepAliveTimeoutMs;
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, connections: () => connections };
}

const transport = (): FetchLike => {
  const fetch = nodeHttpFetch();
  if (fetch === undefined) throw new Error('this is Node.js: the node:http transport must load');
  return fetch;
};

describe('the node:http transport', () => {
  it('GET: status, headers by any case, a body of its own in full (3 MB, many chunks), text', async () => {
    const big = Buffer.alloc(3_000_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const { base } = await serve((request, response) => {
      if (request.url === '/big') {
        response.writeHead(200, { 'content-type': 'application/octet-stream', ETag: '"v1"' });
        response.end(big);
      } else {
        response.writeHead(404, { 'content-type': 'application/json', 'retry-after': '3' });
        response.end(JSON.stringify({ code: 'not-found', message: 'ä' }));
      }
    });
    const fetch = transport();
    const ok = await fetch(`${base}/big`);
    expect(ok.status).toBe(200);
    expect(ok.headers?.get('ETag')).toBe('"v1"');
    expect(ok.headers?.get('x-missing')).toBeNull();
    const bytes = await ok.arrayBuffer();
    expect(bytes.byteLength).toBe(big.length);
    expect(Buffer.from(bytes).equals(big)).toBe(true);

    const missing = await fetch(`${base}/nothing`);
    expect(missing.status).toBe(404);
    expect(missing.headers?.get('Retry-After')).toBe('3');
    expect(JSON.parse(await missing.text())).toEqual({ code: 'not-found', message: 'ä' });
  });

  it('POST: exactly the bytes of a Uint8Array view, or of a string, with their length and the given headers', async () => {
    const { base, seen } = await serve((_request, response) => {
      response.writeHead(202);
      response.end();
    });
    const fetch = transport();
    const whole = new Uint8Array(700_000).map((_, i) => i & 0xff);
    const view = whole.subarray(100, 600_100);
    const headers = { 'Content-Type': 'application/octet-stream', authorization: 'Bearer t' };
    expect((await fetch(`${base}/message`, { method: 'POST', headers, body: view })).status).toBe(202);
    expect((await fetch(`${base}/text`, { method: 'POST', body: 'ünï' })).status).toBe(202);
    expect(seen[0]?.method).toBe('POST');
    expect(seen[0]?.headers['content-type']).toBe('application/octet-stream');
    expect(seen[0]?.headers['authorization']).toBe('Bearer t');
    expect(seen[0]?.headers['content-length']).toBe('600000');
    expect(seen[0]?.body.equals(Buffer.from(view))).toBe(true);
    expect(seen[1]?.body.toString('utf8')).toBe('ünï');
    expect(seen[1]?.headers['content-length']).toBe(String(Buffer.byteLength('ünï')));
  });

  it('keeps the connection alive: requests one after another go over one connection', async () => {
    const { base, connections } = await serve((_request, response) => response.end('ok'));
    const fetch = transport();
    for (let i = 0; i < 5; i++) expect(await (await fetch(`${base}/params`)).text()).toBe('ok');
    expect(connections()).toBe(1);
  });

  it("keeps an idle connection as long as the server's Keep-Alive hint says, past Node's 5 s", async () => {
    // The coordinator's 65 s (api.keep_alive_timeout_ms): Node answers `Keep-Alive: timeout=65`,
    // so the connection stays 64 s. Node's global agent closed it after 5 s idle whatever the hint.
    const { base, connections } = await serve((_request, response) => response.end('ok'), 65_000);
    const fetch = transport();
    expect(await (await fetch(`${base}/params`)).text()).toBe('ok');
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(await (await fetch(`${base}/params`)).text()).toBe('ok');
    expect(connections()).toBe(1);
  }, 20_000);

  it('reads the Keep-Alive hint as undici does: N s less one, at most 600 s', () => {
    expect(keepAliveHint('timeout=65')).toBe(64_000);
    expect(keepAliveHint('timeout=5, max=1000')).toBe(4_000);
    expect(keepAliveHint('max=100, Timeout=10')).toBe(9_000);
    expect(keepAliveHint(['timeout=3600'])).toBe(600_000);
    expect(keepAliveHint('timeout=1')).toBe(0);
    expect(keepAliveHint('max=100')).toBeUndefined();
    expect(keepAliveHint('maxtimeout=100')).toBeUndefined();
    expect(keepAliveHint(undefined)).toBeUndefined();
  });

  it('follows redirects as fetch does; another origin gets no authorization header', async () => {
    const target = await serve((request, response) => response.end(`${request.method} ${request.body.length}`));
    const { base, seen } = await serve((request, response) => {
      const to: Record<string, [number, string]> = {
        '/keep': [307, '/end'],
        '/see-other': [303, '/end'],
        '/moved': [301, '/end'],
        '/away': [308, `${target.base}/there`],
        '/loop': [302, '/loop'],
      };
      const hop = to[request.url];
      if (hop === undefined) {
        response.end(`${request.method} ${request.body.length} ${request.headers['authorization'] ?? '-'}`);
        return;
      }
      response.writeHead(hop[0], { location: hop[1] });
      response.end();
    });
    const fetch = transport();
    const post = (path: string) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { authorization: 'Bearer t' }, body: new Uint8Array(5) });
    expect(await (await post('/keep')).text()).toBe('POST 5 Bearer t');
    expect(await (await post('/see-other')).text()).toBe('GET 0 Bearer t');
    expect(await (await post('/moved')).text()).toBe('GET 0 Bearer t');
    expect(await (await post('/away')).text()).toBe('POST 5');
    expect(target.seen[0]?.headers['authorization']).toBeUndefined();
    // SECURITY: the token stayed with its origin
    expect(seen.filter((s) => s.url === '/away')[0]?.headers['authorization']).toBe('Bearer t');
    await expect(fetch(`${base}/loop`)).rejects.toThrow(/more than 20 redirects/);
  });

  it('aborts with its signal: a request held open, and one whose signal had already aborted', async () => {
    const { base, seen } = await serve(() => undefined); // never answers
    const fetch = transport();
    const controller = new AbortController();
    const held = fetch(`${base}/phase`, { signal: controller.signal });
    await expect.poll(() => seen.length).toBe(1);
    controller.abort();
    await expect(held).rejects.toMatchObject({ name: 'AbortError' });
    await expect(fetch(`${base}/phase`, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toHaveLength(1);
  });

  it('fails as fetch does (a TypeError with the cause): refused connection, an answer cut off mid-body', async () => {
    const { base } = await serve((_request, response) => {
      response.writeHead(200, { 'content-length': '1000' });
      response.write(Buffer.alloc(10));
      setImmediate(() => response.destroy());
    });
    const fetch = transport();
    const cut = await fetch(`${base}/model`).catch((error: unknown) => error);
    expect(cut).toBeInstanceOf(TypeError);
    const closed = await serve(() => undefined);
    const port = new URL(closed.base).port;
    for (const server of servers.splice(-1)) await new Promise((resolve) => server.close(resolve));
    const refused = await fetch(`http://127.0.0.1:${port}/params`).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TypeError);
    expect((refused as TypeError).cause).toMatchObject({ code: 'ECONNREFUSED' });
    await expect(fetch('ftp://127.0.0.1/x')).rejects.toThrow(/unsupported protocol ftp:/);
  });

  it("is what a participant uses on Node.js when the app passes no fetch; an app's own fetch wins", async () => {
    const { base, seen } = await serve((request, response) => {
      response.writeHead(request.url?.startsWith('/phase') === true ? 404 : 204);
      response.end();
    });
    // Node's fetch fails: only the node:http transport can reach the server.
    const failing = vi.fn(async () => {
      throw new TypeError('fetch failed: not this one');
    });
    vi.stubGlobal('fetch', failing);
    try {
      const { participant } = await spawnAsyncParticipant(base, { logLevel: 'silent' });
      await participant.stop();
      expect(seen.some((s) => s.url === '/params')).toBe(true);
      expect(failing).not.toHaveBeenCalled();
      await expect(spawnAsyncParticipant(base, { logLevel: 'silent', fetch: globalThis.fetch })).rejects.toThrow(
        /unreachable/,
      );
      expect(failing).toHaveBeenCalled();
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
