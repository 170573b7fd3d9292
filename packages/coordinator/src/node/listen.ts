/**
 * The Node runtime entry: serves a coordinator app over
 * HTTP with @hono/node-server. A few lines on purpose; the wiring is in
 * `createNodeCoordinatorApp` (create.ts), the logic in the core.
 *
 * Connections are bounded here (docs/security.md §4): a client must send its
 * headers within `api.headers_timeout_ms` (slow-loris) and its whole request
 * within `api.request_timeout_ms`; an idle keep-alive connection closes after
 * `api.keep_alive_timeout_ms`; beyond `api.max_connections` new connections
 * are refused. An answer sent before the request's body has arrived (a 413,
 * an early refusal) says `Connection: close`: the unread rest of the body
 * would otherwise be taken for the next request on a pooled connection.
 */

import type { AddressInfo, Socket } from 'node:net';
import { createAdaptorServer, type Http2Bindings, type HttpBindings } from '@hono/node-server';
import type { CoordinatorApp } from '../create.ts';
import type { Settings } from '../settings.ts';
import { createNodeCoordinatorApp, type NodeCreateOptions } from './create.ts';

/**
 * The listen backlog: connections the kernel queues until the coordinator accepts them (Node's
 * default is 511; Linux caps it at `net.core.somaxconn`, 4096 on current kernels). A thousand
 * participants reconnecting at a phase change overflowed 511 on a busy 2-core machine: dropped
 * SYNs are retried after 1, 3, 7… s, so whole processes of participants joined minutes late.
 */
export const LISTEN_BACKLOG = 4096;

/** How long `close()` lets requests in flight finish before it drops their connections. */
const CLOSE_GRACE_MS = 2000;

/**
 * How often Node checks headers and request timeouts (its `connectionsCheckingInterval`, 30 s by
 * default): often enough that a slow client is cut off soon after its timeout.
 */
export function connectionsCheckingIntervalMs(api: Settings['api']): number {
  return Math.max(50, Math.min(1000, Math.floor(Math.min(api.headersTimeoutMs, api.requestTimeoutMs) / 4)));
}

export interface ListenOptions extends NodeCreateOptions {
  /** Where to listen: 127.0.0.1 unless given. */
  readonly hostname?: string;
}

export interface RunningCoordinator extends CoordinatorApp {
  /** The base URL it listens on, e.g. http://127.0.0.1:8081. */
  readonly url: string;
  readonly port: number;
}

/** How long, and how many bytes, a closing connection keeps reading what its client still sends. */
const LINGER_MS = 10_000;

/**
 * Lingering close: when Node closes a connection after an answer that says `Connection: close`,
 * the client may still be sending a body nobody read (an oversized upload refused with 413).
 * Closing the socket with data still arriving makes the kernel reset the connection, and a
 * client still uploading then sees the reset instead of the answer. So the server sends its FIN,
 * reads and discards what still comes — at most `maxBytes`, for at most LINGER_MS — and closes
 * once the client has closed its side.
 */
function lingerOnClose(socket: Socket, maxBytes: number): void {
  socket.destroySoon = () => {
    socket.end();
    let read = 0;
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read > maxBytes) socket.destroy();
    });
    socket.once('end', () => socket.destroy());
    socket.once('close', () => clearTimeout(timer));
    socket.resume();
  };
}

/** Whether the request's body has not fully arrived (the answer then closes the connection). */
function bodyPending(incoming: { readonly complete: boolean }): boolean {
  return !incoming.complete;
}

/** Starts a coordinator and listens on `settings.api.port` (0: a free port) at `hostname`. */
export async function listen(settings: Settings, options: ListenOptions = {}): Promise<RunningCoordinator> {
  const { hostname = '127.0.0.1', ...createOptions } = options;
  const created = await createNodeCoordinatorApp(settings, createOptions);
  const { api } = settings;
  const fetch = async (request: Request, env: HttpBindings | Http2Bindings): Promise<Response> => {
    const response = await created.app.fetch(request, env);
    if (bodyPending(env.incoming) && !response.headers.has('connection')) response.headers.set('connection', 'close');
    return response;
  };
  const server = await new Promise<ReturnType<typeof createAdaptorServer>>((resolve, reject) => {
    const s = createAdaptorServer({
      fetch,
      hostname,
      serverOptions: {
        headersTimeout: api.headersTimeoutMs,
        requestTimeout: api.requestTimeoutMs,
        connectionsCheckingInterval: connectionsCheckingIntervalMs(api),
      },
    });
    s.once('error', reject);
    s.listen({ port: api.port, host: hostname, backlog: LISTEN_BACKLOG }, () => resolve(s));
  }).catch(async (error: unknown) => {
    // The port is taken (or the host unknown): nothing listens, so nothing must keep running.
    await created.close();
    throw error;
  });
  if ('keepAliveTimeout' in server) server.keepAliveTimeout = api.keepAliveTimeoutMs;
  server.on('connection', (socket: Socket) => lingerOnClose(socket, api.maxBodyBytes + 1024 * 1024));
  server.maxConnections = api.maxConnections;
  const port = (server.address() as AddressInfo).port;
  return {
    ...created,
    url: `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`,
    port,
    async close() {
      // First stop the state machine: that answers every long poll (`GET /phase`) at once, so
      // none holds its connection through the grace period below; messages now get 503.
      await created.coordinator.shutdown();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections (browser tabs polling) would hold close() open forever: idle ones
        // close now, and after a grace period for requests in flight, every one.
        if ('closeIdleConnections' in server) server.closeIdleConnections();
        const force = setTimeout(() => {
          if ('closeAllConnections' in server) server.closeAllConnections();
        }, CLOSE_GRACE_MS);
        force.unref();
      });
      await created.close();
    },
  };
}
