/**
 * A tiny static server on 127.0.0.1 for the browser tests: `/build/…` is the
 * pages build (see ../build.ts), and `/<page>.html` is a generated page that
 * loads `/build/pages/<page>.js` under the build's import map, so page
 * scripts import the SDK by its public names from the built bundles.
 */

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import type { BrowserBuild } from '../build.ts';

export interface StaticServer {
  /** e.g. http://127.0.0.1:40123 */
  readonly origin: string;
  /** The URL of a page whose script is `pages/<name>.ts`. */
  pageUrl(name: string): string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
};

function pageHtml(name: string, importMap: BrowserBuild['importMap']): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${name}</title>
<link rel="icon" href="data:,">
<script type="importmap">${JSON.stringify({ imports: importMap })}</script>
<script type="module" src="/build/pages/${name}.js"></script>
</head><body><main id="app">${name}</main></body></html>`;
}

export async function startStaticServer(built: BrowserBuild): Promise<StaticServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const page = /^\/([a-z0-9-]+)\.html$/.exec(path);
    if (page?.[1] !== undefined) return send(200, 'text/html; charset=utf-8', pageHtml(page[1], built.importMap));
    if (path.startsWith('/build/')) {
      const file = normalize(join(built.dir, path.slice('/build/'.length)));
      if (!file.startsWith(built.dir)) return send(403, 'text/plain', 'forbidden');
      readFile(file).then(
        (body) => send(200, TYPES[extname(file)] ?? 'application/octet-stream', body),
        () => send(404, 'text/plain', 'not found'),
      );
      return;
    }
    send(404, 'text/plain', 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    pageUrl: (name) => `${origin}/${name}.html`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
