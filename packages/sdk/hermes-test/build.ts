/**
 * Bundles the Hermes check (polyfills.ts, then main.ts: the scenario) into
 * one script the `hermes` CLI runs, the way Metro would bundle an app:
 *
 * - esbuild, format iife, platform neutral, conditions `react-native`; target
 *   es2019, with BigInt marked as supported (Hermes has it) and async/await
 *   lowered to generators (Hermes 0.12 rejects async arrow functions);
 * - libsodium-wrappers-sumo and libsodium-sumo resolve to their CommonJS
 *   builds: their ESM builds (the `import` condition) need WebAssembly and
 *   have no pure-JS fallback. An RN app needs the same in its Metro config
 *   (REACT-NATIVE.md);
 * - the Node built-ins libsodium names in branches Hermes never takes
 *   (`require('crypto')` in a try, `require('node:fs')` when on Node) become
 *   empty modules, as the packages' own `browser` field asks;
 * - afterwards classes are lowered to functions (lower-classes.ts) and block
 *   scoping to function scoping (lower-block-scoping.ts): Hermes 0.12 has no
 *   `class` and treats `let`/`const` as `var`; in an app Metro's Babel
 *   preset does both.
 *
 * `tsx hermes-test/build.ts [outfile] [--minify]` writes the bundle and prints its size.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Plugin } from 'esbuild';
import { lowerBlockScoping } from './lower-block-scoping.ts';
import { lowerClasses } from './lower-classes.ts';

const here = dirname(fileURLToPath(import.meta.url));

export const DEFAULT_BUNDLE_FILE = join(here, 'dist', 'petfl-hermes.js');

export interface HermesBundle {
  readonly file: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly buildMs: number;
  /** Block-scoped bindings renamed, closures wrapped (lower-block-scoping.ts). */
  readonly renamedBindings: number;
  readonly wrappedClosures: number;
}

export interface BuildOptions {
  /** Minify, as a release build of an app would (default false: readable stack traces). */
  readonly minify?: boolean;
  /**
   * Which libsodium build to bundle: 'commonjs' (default), or 'esm' — what a bundler that
   * asserts the `import` condition picks; hermes.test.ts shows that one fails under Hermes.
   */
  readonly libsodium?: 'commonjs' | 'esm';
}

/** Bundles main.ts for Hermes into `outfile`. */
export async function buildHermesBundle(
  outfile = DEFAULT_BUNDLE_FILE,
  options: BuildOptions = {},
): Promise<HermesBundle> {
  const started = performance.now();
  const result = await build({
    entryPoints: [join(here, 'main.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    target: 'es2019',
    // Hermes 0.12 has BigInt, and async functions but not async arrows: lower async/await to generators.
    supported: { bigint: true, 'async-await': false },
    conditions: ['react-native'],
    mainFields: ['react-native', 'main'],
    minify: options.minify ?? false,
    legalComments: 'none',
    logLevel: 'silent',
    plugins: options.libsodium === 'esm' ? [emptyNodeBuiltins()] : [libsodiumCommonJs(), emptyNodeBuiltins()],
  });
  // The polyfills go first, as a script of their own: imported from main.ts they would be
  // dropped (the package is `"sideEffects": false`) or run after libsodium loaded (ESM order).
  const polyfills = await build({
    entryPoints: [join(here, 'polyfills.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    target: 'es2019',
    minify: options.minify ?? false,
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  const [polyfillsOutput] = polyfills.outputFiles;
  if (output === undefined || polyfillsOutput === undefined) throw new Error('esbuild wrote no output');
  const lowered = lowerBlockScoping(lowerClasses(`${polyfillsOutput.text}\n${output.text}`));
  const code = lowered.code;
  mkdirSync(dirname(outfile), { recursive: true });
  writeFileSync(outfile, code);
  return {
    file: outfile,
    bytes: Buffer.byteLength(code),
    gzipBytes: gzipSync(code).length,
    buildMs: Math.round(performance.now() - started),
    renamedBindings: lowered.renamed,
    wrappedClosures: lowered.wrapped,
  };
}

/** libsodium's CommonJS builds, the ones with the pure-JS (wasm2js) fallback Hermes needs. */
function libsodiumCommonJs(): Plugin {
  return {
    name: 'libsodium-commonjs',
    setup(b) {
      b.onResolve({ filter: /^libsodium-(?:wrappers-)?sumo$/ }, (args) => ({
        // require.resolve applies the `require` condition of the package's exports map.
        path: createRequire(args.importer).resolve(args.path),
      }));
    },
  };
}

/** Node built-ins referenced by libsodium's CommonJS builds, as empty modules. */
function emptyNodeBuiltins(): Plugin {
  return {
    name: 'empty-node-builtins',
    setup(b) {
      b.onResolve({ filter: /^(?:node:)?(?:crypto|fs|path)$/ }, (args) => ({ path: args.path, namespace: 'empty' }));
      b.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
    },
  };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const bundle = await buildHermesBundle(args.find((a) => !a.startsWith('--')) ?? DEFAULT_BUNDLE_FILE, {
    minify: args.includes('--minify'),
  });
  process.stdout.write(`${JSON.stringify(bundle)}\n`);
}
