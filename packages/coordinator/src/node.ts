/**
 * The Node runtime entry (CONVENTIONS §12): serves a coordinator app over
 * HTTP with @hono/node-server. A few lines on purpose; the logic is in
 * `createCoordinatorApp`.
 */

import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { type CoordinatorApp, type CreateOptions, createCoordinatorApp } from './create.ts';
import type { Settings } from './settings.ts';

/** How long `close()` lets requests in flight finish before it drops their connections. */
const CLOSE_GRACE_MS = 2000;

export interface RunningCoordinator extends CoordinatorApp {
  /** The base URL it listens on, e.g. http://127.0.0.1:8081. */
  readonly url: string;
  readonly port: number;
}

/** Starts a coordinator and listens on `settings.api.port` (0: a free port) at `hostname`. */
export async function listen(
  settings: Settings,
  options: CreateOptions & { readonly hostname?: string } = {},
): Promise<RunningCoordinator> {
  const created = await createCoordinatorApp(settings, options);
  const hostname = options.hostname ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: created.app.fetch, port: settings.api.port, hostname }, () => resolve(s));
    s.once('error', reject);
  });
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
