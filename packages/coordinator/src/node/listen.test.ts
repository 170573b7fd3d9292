/**
 * `listen()` over real HTTP: closing answers the long polls first, so a participant waiting
 * on `GET /phase` hears `….shutdown` instead of having its connection cut; slow clients are cut
 * off; an answer sent before the request's body arrived closes its connection, so a pooled
 * connection is never reused with half a body on it.
 */

import { Agent, type IncomingMessage, request } from 'node:http';
import { Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { testSettings } from '../../test-support/harness.ts';
import { MemoryModelStore } from '../store/memory-model-store.ts';
import { listen, type RunningCoordinator } from './listen.ts';

let running: RunningCoordinator | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

it('close() answers a waiting GET /phase with the shutdown token', async () => {
  running = await listen(testSettings({ PETFL_API_PORT: '0' }), { models: new MemoryModelStore() });
  const current = running.coordinator.phaseToken();
  expect(current).toBe('1.sum');
  const waiting = fetch(`${running.url}/phase?after=${current}&wait_ms=30000`).then(async (res) => ({
    status: res.status,
    body: (await res.json()) as { token: string },
  }));
  await expect.poll(() => running?.coordinator.phaseWaiters(), { interval: 5 }).toBe(1);
  await running.close();
  expect(await waiting).toEqual({ status: 200, body: { token: '1.shutdown' } });
  expect(running.coordinator.phaseWaiters()).toBe(0);
});

it('cuts off a client that never finishes its headers (slow-loris) after headers_timeout_ms', async () => {
  running = await listen(testSettings({ PETFL_API_PORT: '0', PETFL_API_HEADERS_TIMEOUT_MS: '1500' }), {
    models: new MemoryModelStore(),
  });
  const socket = new Socket();
  const closed = new Promise<string>((resolve) => {
    let answer = '';
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => socket.connect(running?.port ?? 0, '127.0.0.1', resolve));
  socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
  // One header byte every 200 ms: the request never completes its headers.
  const drip = setInterval(() => {
    if (!socket.destroyed) socket.write('a');
  }, 200);
  try {
    // Generous bound for a loaded machine; Node's own default would hold it for a minute or more.
    const answer = await Promise.race([
      closed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('socket still open after 20 s')), 20_000)),
    ]);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  } finally {
    clearInterval(drip);
    socket.destroy();
  }
}, 30_000);

/** One request through `agent`; with `declared`, only `body` of the declared length is sent. */
function send(
  agent: Agent,
  url: string,
  init: { method: string; path: string; body?: Uint8Array; declared?: number },
): Promise<{ res: IncomingMessage; text: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const req = request({
      agent,
      hostname,
      port,
      method: init.method,
      path: init.path,
      headers: init.body === undefined ? {} : { 'content-length': String(init.declared ?? init.body.length) },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => resolve({ res, text }));
      res.on('error', reject);
    });
    // After an early answer the server may reset the rest of the upload: the answer is what counts.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (init.body === undefined) req.end();
    else if (init.declared === undefined) req.end(init.body);
    else req.write(init.body); // never finished: the answer comes before the body does
  });
}

it('answers an oversize body with 413 and Connection: close; the next request on the client succeeds', async () => {
  running = await listen(testSettings({ PETFL_API_PORT: '0', PETFL_API_MAX_BODY_BYTES: '1024' }), {
    models: new MemoryModelStore(),
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await send(agent, running.url, {
      method: 'POST',
      path: '/message',
      body: new Uint8Array(256 * 1024),
    });
    expect(first.res.statusCode).toBe(413);
    expect(first.res.headers.connection).toBe('close');
    expect(JSON.parse(first.text)).toMatchObject({ code: 'body-too-large' });
    const next = await send(agent, running.url, { method: 'GET', path: '/health' });
    expect(next.res.statusCode).toBe(200);
  } finally {
    agent.destroy();
  }
});

it('closes the connection of any answer sent before the request body arrived', async () => {
  running = await listen(testSettings({ PETFL_API_PORT: '0' }), { models: new MemoryModelStore() });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // A body declared but only begun: the 404 comes first, and the connection must not be reused.
    const early = await send(agent, running.url, {
      method: 'POST',
      path: '/nope',
      body: new Uint8Array(100),
      declared: 100_000,
    });
    expect(early.res.statusCode).toBe(404);
    expect(early.res.headers.connection).toBe('close');
    const next = await send(agent, running.url, { method: 'GET', path: '/health' });
    expect(next.res.statusCode).toBe(200);
    // A complete request keeps its connection alive.
    expect(next.res.headers.connection).toBe('keep-alive');
  } finally {
    agent.destroy();
  }
});

it('a client still uploading an oversized body gets the 413, not a reset (lingering close)', async () => {
  running = await listen(testSettings({ PETFL_API_PORT: '0', PETFL_API_MAX_BODY_BYTES: '65536' }), {
    models: new MemoryModelStore(),
  });
  // Bodies far beyond the socket buffers: the 413 is sent while the client is still sending.
  const url = running.url;
  const attempt = async () => {
    const res = await fetch(`${url}/message`, { method: 'POST', body: new Uint8Array(16 * 1024 * 1024 + 1) });
    return {
      status: res.status,
      connection: res.headers.get('connection'),
      code: ((await res.json()) as { code: string }).code,
    };
  };
  for (let i = 0; i < 4; i++) {
    const answers = await Promise.all([attempt(), attempt(), attempt()]);
    for (const answer of answers) expect(answer).toEqual({ status: 413, connection: 'close', code: 'body-too-large' });
  }
  expect((await fetch(`${running.url}/health`)).status).toBe(200);
});
