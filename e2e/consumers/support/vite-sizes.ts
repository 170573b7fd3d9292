/**
 * Bundle sizes for the Vite fixture (e2e/consumers/vite) and bench/results/bundle.json: gzip -9
 * bytes, as packages/sdk/browser-test/build.ts reports them.
 *
 * Two measures:
 * - what the app ships: the fixture's size pages (sizes/<name>/index.html, each a one-import
 *   page) built by the app's own Vite, no configuration, chunk by chunk;
 * - like with like against the in-repo figures: esbuild (ESM, minified, ES2022, standalone,
 *   build.ts's settings) over the repository's sources (`@petfl/source`) and over the packed
 *   packages' dist/ as the fixture installed them.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build } from 'esbuild';
import { ROOT as REPO_ROOT } from '../../../scripts/pack.ts';
import type { Fixture } from './fixture.ts';

export interface Size {
  readonly raw: number;
  readonly gzip: number;
}

export function sizeOf(bytes: Uint8Array): Size {
  return { raw: bytes.byteLength, gzip: gzipSync(bytes, { level: 9 }).byteLength };
}

export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** A Vite build's JavaScript chunks (dist/assets/*.js): file name → size. */
export function viteChunks(dist: string): Map<string, Size> {
  const assets = join(dist, 'assets');
  const chunks = new Map<string, Size>();
  for (const name of readdirSync(assets)
    .filter((f) => f.endsWith('.js'))
    .sort()) {
    chunks.set(name, sizeOf(readFileSync(join(assets, name))));
  }
  return chunks;
}

/** The Worker chunk Vite emits for `new Worker(new URL('./worker-entry.js', import.meta.url))`. */
export function isWorkerChunk(name: string): boolean {
  return /^worker-entry-[\w-]+\.js$/.test(name);
}

/** Builds the fixture's size page `sizes/<name>/index.html` with the app's Vite (no config); its chunks. */
export function buildSizePage(fixture: Fixture, name: string): Map<string, Size> {
  const outDir = join(fixture.dir, 'dist-sizes', name);
  fixture.run('npx', ['vite', 'build', `sizes/${name}`, '--outDir', outDir, '--emptyOutDir', '--logLevel', 'error']);
  return viteChunks(outDir);
}

/** packages/sdk/browser-test/build.ts's settings for the size report. */
const ESBUILD: BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'error',
  write: false,
  outdir: '/out',
};

async function esbuildSize(options: BuildOptions): Promise<Size> {
  const result = await build({ ...ESBUILD, ...options });
  const code = result.outputFiles?.find((f) => f.path.endsWith('.js'));
  if (code === undefined) throw new Error(`esbuild: no output for ${JSON.stringify(options.entryPoints)}`);
  return sizeOf(code.contents);
}

export interface EsbuildSizes {
  /** `@petfl/sdk/worker`: the whole entry, the main-thread part of Worker mode. */
  readonly sdkWorkerMainThread: Size;
  /** The Worker script (worker-entry), libsodium included. */
  readonly workerScript: Size;
  /** `@petfl/core`, every export, libsodium included. */
  readonly core: Size;
  /** `@petfl/core`, every export, libsodium-wrappers-sumo left out (external). */
  readonly coreWithoutLibsodium: Size;
}

/** The in-repo build: the sources, as browser-test/build.ts measures them today. */
export function inRepoSizes(): Promise<EsbuildSizes> {
  const options = { absWorkingDir: REPO_ROOT, conditions: ['@petfl/source'] };
  return measureEsbuild(
    {
      sdkWorkerMainThread: join(REPO_ROOT, 'packages/sdk/src/worker/index.ts'),
      workerScript: join(REPO_ROOT, 'packages/sdk/src/worker/worker-entry.ts'),
      core: join(REPO_ROOT, 'packages/core/src/index.ts'),
    },
    options,
  );
}

/** The packed packages, as the fixture installed them (node_modules/@petfl/…/dist). */
export function packagedSizes(fixture: Fixture): Promise<EsbuildSizes> {
  const modules = join(fixture.dir, 'node_modules');
  return measureEsbuild(
    {
      sdkWorkerMainThread: join(modules, '@petfl/sdk/dist/worker.js'),
      workerScript: join(modules, '@petfl/sdk/dist/worker-entry.js'),
      core: join(modules, '@petfl/core/dist/index.js'),
    },
    { absWorkingDir: fixture.dir },
  );
}

async function measureEsbuild(
  entries: { sdkWorkerMainThread: string; workerScript: string; core: string },
  options: BuildOptions,
): Promise<EsbuildSizes> {
  const [sdkWorkerMainThread, workerScript, core, coreWithoutLibsodium] = await Promise.all([
    esbuildSize({ ...options, entryPoints: [entries.sdkWorkerMainThread] }),
    esbuildSize({ ...options, entryPoints: [entries.workerScript] }),
    esbuildSize({ ...options, entryPoints: [entries.core] }),
    esbuildSize({ ...options, entryPoints: [entries.core], external: ['libsodium-wrappers-sumo'] }),
  ]);
  return { sdkWorkerMainThread, workerScript, core, coreWithoutLibsodium };
}

/**
 * libsodium-wrappers-sumo alone, as docs/decisions/0002-libsodium-sumo.md measured it: a bundle of
 * `import s from 'libsodium-wrappers-sumo'; s.ready.then(() => s.crypto_sign_keypair())`.
 */
export function libsodiumSize(fixture: Fixture): Promise<Size> {
  return esbuildSize({
    stdin: {
      contents: "import s from 'libsodium-wrappers-sumo'; s.ready.then(() => s.crypto_sign_keypair());",
      resolveDir: join(fixture.dir, 'node_modules/@petfl/core'),
      loader: 'js',
    },
    absWorkingDir: fixture.dir,
  });
}
