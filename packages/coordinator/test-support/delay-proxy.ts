/**
 * Test support: a TCP proxy that can hold back the server's replies, so a client's command
 * times out while the server has already applied it — the case a store timeout leaves behind
 * (docs/security.md §5). `hold()` keeps every reply from then on until `release()` passes them
 * on, in order; nothing depends on how long anything takes.
 */

import { connect, createServer, type Socket } from 'node:net';

export interface DelayProxy {
  readonly port: number;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startDelayProxy(target: { host: string; port: number }): Promise<DelayProxy> {
  let holding = false;
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      const pass = () => {
        if (!client.destroyed) client.write(chunk);
      };
      if (holding || held.length > 0) held.push(pass);
      else pass();
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('delay proxy: no port');
  return {
    port: address.port,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const pass of held.splice(0)) pass();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
