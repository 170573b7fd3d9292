/**
 * The demo app under test (apps/web): built with Vite into a directory of the e2e
 * suite's own (so a build here never races one in apps/web/dist), rebuilt only when a
 * source is newer than the last build, and served by a tiny static server on
 * 127.0.0.1. `PETFL_E2E_WEB_DIST` points the suite at a build made elsewhere instead
 * (`vite build --mode e2e`: a production build has no test hook, `window.__petfl`).
 */

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '../..');
export const WEB_ROOT = join(REPO_ROOT, 'apps/web');
const BUILD_DIR = join(REPO_ROOT, 'e2e/.cache/web');
const STAMP = join(BUILD_DIR, '.e2e-build-stamp');
const SOURCES = ['apps/web', 'packages/core/src', 'packages/sdk/src', 'packages/tfjs/src'].map((d) =>
  join(REPO_ROOT, d),
);

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** The directory of a current build of apps/web: built here unless one is up to date. */
export function webBuild(): string {
  const given = process.env['PETFL_E2E_WEB_DIST'];
  if (given !== undefined && given !== '') return resolve(given);
  if (!existsSync(join(WEB_ROOT, 'participant.html'))) {
    throw new Error(`apps/web has no participant.html yet: the demo app must exist for the e2e suite`);
  }
  const newest = Math.max(...SOURCES.filter(existsSync).map(newestSource));
  if (existsSync(STAMP) && statSync(STAMP).mtimeMs > newest) return BUILD_DIR;
  // `--mode e2e`: the build with the page's test-only additions (apps/web/test-hooks: the
  // `window.__petfl` hook, `mode=plain`), which a production build leaves out.
  execFileSync(
    'npx',
    ['vite', 'build', '--mode', 'e2e', '--outDir', BUILD_DIR, '--emptyOutDir', '--logLevel', 'warn'],
    {
      cwd: WEB_ROOT,
      stdio: 'inherit',
    },
  );
  writeFileSync(STAMP, new Date().toISOString());
  return BUILD_DIR;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export interface StaticServer {
  /** e.g. http://127.0.0.1:40123 */
  readonly origin: string;
  close(): Promise<void>;
}

/** Serves `dir` on a free port of 127.0.0.1 (`/` is index.html), no caching. */
export async function serveStatic(dir: string, port = 0): Promise<StaticServer> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    const send = (status: number, type: string, body: string | Buffer): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    let path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path.endsWith('/')) path += 'index.html';
    const file = normalize(join(root, path));
    if (!file.startsWith(root)) return send(403, 'text/plain', 'forbidden');
    readFile(file).then(
      (body) => send(200, TYPES[extname(file)] ?? 'application/octet-stream', body),
      () => send(404, 'text/plain', 'not found'),
    );
  });
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}
