/**
 * `readNodeRequestBody` over a real socket (@hono/node-server): a stated length is read into one
 * array that owns its whole buffer, whatever the socket's chunking; a chunked body is read the web
 * way; a body cut short rejects, and the server goes on answering other requests.
 */

import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readNodeRequestBody } from './request-body.ts';

interface Read {
  readonly length: number;
  readonly sha256: string;
  /** The array is the whole of its buffer (offset 0, buffer length = body length). */
  readonly ownsBuffer: boolean;
}

const failures: string[] = [];
let started = 0;
let server: ReturnType<typeof serve>;
let base: string;

beforeAll(async () => {
  const app = new Hono();
  app.post('/body', async (c) => {
    started++;
    try {
      const body = await readNodeRequestBody(c);
      const read: Read = {
        length: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
        ownsBuffer: body.byteOffset === 0 && body.buffer.byteLength === body.length,
      };
      return c.json(read);
    } catch (error) {
      failures.push(error instanceof Error ? error.message : String(error));
      return c.json({ failed: true }, 400);
    }
  });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function pattern(length: number, salt: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + salt) & 0xff;
  return bytes;
}

it.each([0, 1, 4095, 4096, 65_537, 3 * 1024 * 1024 + 5])(
  'reads a stated body of %i bytes into an array of its own',
  async (length) => {
    const sent = pattern(length, length);
    const res = await fetch(`${base}/body`, { method: 'POST', body: sent });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ length, sha256: sha256(sent), ownsBuffer: true });
  },
);

it('reads a chunked body (no Content-Length) the web way', async () => {
  const parts = [pattern(70_000, 1), pattern(3, 2), pattern(100_000, 3)];
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(part);
      controller.close();
    },
  });
  const res = await fetch(`${base}/body`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
  const whole = new Uint8Array(170_003);
  let at = 0;
  for (const part of parts) {
    whole.set(part, at);
    at += part.length;
  }
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ length: whole.length, sha256: sha256(whole), ownsBuffer: true });
});

it('a body in many small writes arrives whole', async () => {
  const sent = pattern(50_000, 9);
  const port = Number(new URL(base).port);
  const socket = new Socket();
  const answer = new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('"sha256"')) resolve(text);
    });
  });
  await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', resolve));
  socket.write(`POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: ${sent.length}\r\n\r\n`);
  for (let at = 0; at < sent.length; at += 997) {
    socket.write(sent.subarray(at, at + 997));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const text = await answer;
  socket.destroy();
  expect(text).toMatch(/^HTTP\/1\.1 200/);
  expect(text).toContain(sha256(sent));
});

it('a body cut short rejects, and the server goes on', async () => {
  const before = failures.length;
  const startedBefore = started;
  const port = Number(new URL(base).port);
  const socket = new Socket();
  await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write('POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n');
  socket.write(pattern(40_000, 4));
  // The handler is reading the body when the client goes away.
  await expect.poll(() => started, { timeout: 10_000 }).toBe(startedBefore + 1);
  expect(failures.length).toBe(before);
  socket.destroy();
  await closed;
  await expect.poll(() => failures.length, { timeout: 10_000 }).toBe(before + 1);
  expect(failures.at(-1)).toMatch(/closed before the body ended|aborted/);
  const sent = pattern(10, 5);
  const res = await fetch(`${base}/body`, { method: 'POST', body: sent });
  expect(await res.json()).toEqual({ length: 10, sha256: sha256(sent), ownsBuffer: true });
});
