/**
 * Builds the SDK for the browser with esbuild (ESM, minified, ES2022): what
 * the browser tests load, and the bundle sizes the SDK reports.
 *
 * Two builds from the same sources:
 * - the pages build, into `node_modules/.cache/petfl-browser/` (never git):
 *   the public entries (`@petfl/sdk`, `@petfl/sdk/worker`, `@petfl/sdk/idb`,
 *   `@petfl/tfjs` when it is there) with code splitting, so a page that loads
 *   two of them shares one copy of each module (and `instanceof` works across
 *   them, as in an app bundler's build); the Worker script as a standalone
 *   file next to them; and the test pages' own scripts, which import the
 *   entries by bare name through the pages' import map (`importMap`).
 * - the size report: every entry built standalone in memory, raw and gzip.
 *
 * `src/worker` names its Worker script `new URL('./worker-entry.ts',
 * import.meta.url)`, the form app bundlers (Vite, webpack 5, Parcel) rewrite;
 * esbuild leaves it alone, so a tiny plugin points it at the built
 * `./worker-entry.js` here — as a published build of the SDK would.
 *
 * Run directly (`npx tsx packages/sdk/browser-test/build.ts`) it builds and
 * prints the size table.
 */

import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { type BuildOptions, build, type Plugin } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const sdkRoot = resolve(here, '..');
const repoRoot = resolve(sdkRoot, '../..');

/** Where the pages build goes: inside node_modules, so nothing reaches git. */
export const BROWSER_BUILD_DIR = join(repoRoot, 'node_modules/.cache/petfl-browser');

/** A public entry: its bare import name, its source file and the file name it is built to. */
interface Entry {
  readonly specifier: string;
  readonly source: string;
  readonly out: string;
}

const SDK_ENTRIES: readonly Entry[] = [
  { specifier: '@petfl/sdk', source: join(sdkRoot, 'src/index.ts'), out: 'sdk' },
  { specifier: '@petfl/sdk/worker', source: join(sdkRoot, 'src/worker/index.ts'), out: 'sdk-worker' },
  { specifier: '@petfl/sdk/idb', source: join(sdkRoot, 'src/idb/index.ts'), out: 'sdk-idb' },
  { specifier: '@petfl/tfjs', source: join(repoRoot, 'packages/tfjs/src/index.ts'), out: 'tfjs' },
  // The pages import TensorFlow.js by name too, so they share @petfl/tfjs's instance (one engine).
  { specifier: '@tensorflow/tfjs', source: join(repoRoot, 'node_modules/@tensorflow/tfjs/package.json'), out: 'tf' },
];
/** The entries whose size the SDK reports (TensorFlow.js is not the SDK's). */
const SIZE_REPORTED = new Set(['@petfl/sdk', '@petfl/sdk/worker', '@petfl/sdk/idb']);
const WORKER_SCRIPT = join(sdkRoot, 'src/worker/worker-entry.ts');
const PAGE_SCRIPTS = join(here, 'pages');

export interface BundleSize {
  readonly name: string;
  readonly raw: number;
  readonly gzip: number;
}

export interface BrowserBuild {
  readonly dir: string;
  /** The bare names the pages import, mapped to built files (an HTML import map's `imports`). */
  readonly importMap: Readonly<Record<string, string>>;
  /** Entries whose source is missing (e.g. `@petfl/tfjs` before it exists). */
  readonly missing: readonly string[];
}

/** The `new URL('./worker-entry.ts', import.meta.url)` of src/worker, pointed at the built script. */
const workerUrlPlugin: Plugin = {
  name: 'petfl-worker-url',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]worker[\\/][^\\/]+\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes("'./worker-entry.ts'")) return undefined;
      return { contents: text.replaceAll("'./worker-entry.ts'", "'./worker-entry.js'"), loader: 'ts' };
    });
  },
};

const common: BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // The workspace packages from their sources (docs/architecture.md §8), then the browser's.
  conditions: ['@petfl/source', 'browser', 'module'],
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  absWorkingDir: sdkRoot,
  plugins: [workerUrlPlugin],
};

/** A package is an entry by name (its browser build); a source file by path. */
function entryIn(entry: Entry): string {
  return entry.source.endsWith('package.json') ? entry.specifier : entry.source;
}

function available(): { entries: Entry[]; missing: string[] } {
  const entries = SDK_ENTRIES.filter((e) => existsSync(e.source));
  const missing = SDK_ENTRIES.filter((e) => !existsSync(e.source)).map((e) => e.specifier);
  return { entries, missing };
}

/** Builds the pages' bundles into `dir` (default `BROWSER_BUILD_DIR`). */
export async function buildBrowserBundles(dir = BROWSER_BUILD_DIR): Promise<BrowserBuild> {
  const { entries } = available();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const external = entries.map((e) => e.specifier);
  await Promise.all([
    build({
      ...common,
      entryPoints: entries.map((e) => ({ in: entryIn(e), out: e.out })),
      splitting: true,
      chunkNames: 'chunk-[hash]',
      outdir: dir,
    }),
    build({ ...common, entryPoints: [{ in: WORKER_SCRIPT, out: 'worker-entry' }], outdir: dir }),
    build({
      ...common,
      minify: false,
      entryPoints: [join(PAGE_SCRIPTS, '*.ts')],
      external,
      outdir: join(dir, 'pages'),
    }),
  ]);
  return describeBuild(dir);
}

/** A pages build in `dir`: its import map (each available entry's name → built file) and what is missing. */
export function describeBuild(dir = BROWSER_BUILD_DIR): BrowserBuild {
  const { entries, missing } = available();
  return { dir, importMap: Object.fromEntries(entries.map((e) => [e.specifier, `/build/${e.out}.js`])), missing };
}

/** Every entry built standalone (no splitting, nothing external), minified: raw and gzip bytes. */
export async function bundleSizes(): Promise<BundleSize[]> {
  const { entries } = available();
  const targets = [
    ...entries.filter((e) => SIZE_REPORTED.has(e.specifier)).map((e) => ({ name: e.specifier, source: e.source })),
    { name: '@petfl/sdk/worker (Worker script)', source: WORKER_SCRIPT },
  ];
  return Promise.all(
    targets.map(async ({ name, source }) => {
      const result = await build({ ...common, entryPoints: [source], write: false, outdir: '/out' });
      const code = result.outputFiles.find((f) => f.path.endsWith('.js'));
      if (code === undefined) throw new Error(`bundleSizes: no output for ${name}`);
      return { name, raw: code.contents.byteLength, gzip: gzipSync(code.contents, { level: 9 }).byteLength };
    }),
  );
}

export function formatSizes(sizes: readonly BundleSize[]): string {
  const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
  const width = Math.max(...sizes.map((s) => s.name.length));
  return sizes
    .map((s) => `${s.name.padEnd(width)}  ${kib(s.raw).padStart(10)}  ${kib(s.gzip).padStart(10)} gzip`)
    .join('\n');
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildBrowserBundles();
  process.stdout.write(
    `built into ${built.dir}${built.missing.length ? ` (missing: ${built.missing.join(', ')})` : ''}\n`,
  );
  process.stdout.write(`${formatSizes(await bundleSizes())}\n`);
}
