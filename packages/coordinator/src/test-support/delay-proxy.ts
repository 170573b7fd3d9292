/**
 * Test support: a TCP proxy that can hold back the server's replies, so a client's command
 * times out while the server has already applied it — the case a store timeout leaves behind
 * (docs/security.md §5). `delay(ms)` delays every reply chunk from then on; `idle()` resolves
 * once every reply held back so far has been passed on.
 */

import { connect, createServer, type Socket } from 'node:net';

export interface DelayProxy {
  readonly port: number;
  delay(ms: number): void;
  idle(): Promise<void>;
  close(): Promise<void>;
}

export async function startDelayProxy(target: { host: string; port: number }): Promise<DelayProxy> {
  let delayMs = 0;
  let pending = 0;
  let waiters: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const settle = () => {
    if (pending > 0) return;
    const done = waiters;
    waiters = [];
    for (const w of done) w();
  };
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream);
    let releaseAt = 0; // when this connection's last held-back chunk goes out
    upstream.on('data', (chunk: Buffer) => {
      const now = Date.now();
      if (delayMs === 0 && releaseAt <= now) {
        client.write(chunk);
        return;
      }
      // Held back, in order: every chunk waits at least `delayMs` and after those before it.
      releaseAt = Math.max(now + delayMs, releaseAt);
      pending += 1;
      setTimeout(() => {
        if (!client.destroyed) client.write(chunk);
        pending -= 1;
        settle();
      }, releaseAt - now);
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('delay proxy: no port');
  return {
    port: address.port,
    delay(ms) {
      delayMs = ms;
    },
    idle() {
      return pending === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
