/**
 * The React Native fixture (e2e/consumers/react-native): an app that installs the packed
 * @petfl/sdk next to react-native, with React Native's Metro and Babel setup and the Metro
 * configuration REACT-NATIVE.md documents. Metro bundles it as a release build does (React
 * Native's own bundle script: `--dev false --minify false`, the `react-native` export
 * condition), and the bundle compiles with `hermesc` of hermes-compiler, the compiler React
 * Native ships, with the release build's flags.
 *
 * The protocol scenario of packages/sdk/hermes-test/ (keys, eligibility, masking, message
 * encoding, a whole round with the state saved and restored between steps) is copied into the
 * app and runs from that Metro bundle on a Hermes VM with no WebAssembly (libsodium takes its
 * pure-JS path); it must report exactly what the same scenario reports in Node from the
 * sources. The VM is the `hermes` of hermes-engine-cli 0.12.0, the newest Hermes VM published to
 * npm: it cannot load today's bytecode (the test checks that too), so it runs the bundle's
 * JavaScript, compiling it itself. Then each global REACT-NATIVE.md tells an app to provide is
 * left out in turn, and the run must fail; and without the documented Metro configuration Metro
 * picks libsodium's ESM build, which hermesc rejects.
 *
 * Versions: react-native 0.88.1 (the latest), its hermes-compiler 260318099.0.5 (Hermes 1.0.0,
 * bytecode 99), metro 0.87.1, @react-native/metro-config and @react-native/babel-preset 0.88.1,
 * react 19.3.1. React Native 0.88 declares Node ^22.13; its bundling runs on the Node 20 the
 * repository's CI has. None of the fixture's packages has an install script.
 *
 * Where the Hermes binaries have no build (not x86-64 Linux, macOS or Windows) the suite is
 * skipped with the reason, except in CI (or with HERMES_REQUIRED=1), where it fails.
 */
import { mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../../scripts/pack.ts';
import { type Fixture, installFixture } from './support/fixture.ts';
import {
  bytecodeVersionOf,
  execute,
  HBC_MAGIC,
  hermesTools,
  type MetroBundle,
  metroBundle,
  parseBundleOutput,
  readHbcHeader,
} from './support/rn-toolchain.ts';

const packs = inject('packs');
const HERMES_REQUIRED = Boolean(process.env['CI']) || Boolean(process.env['HERMES_REQUIRED']);
/** libsodium's pure-JS path is slow under Hermes' interpreter: about 15 s here, compiling included. */
const HERMES_TIMEOUT_MS = 240_000;

type ScenarioReport = Record<string, string | number | boolean>;

/**
 * What the test copies into the app's scenario/ (index.js imports it), with the imports of the
 * SDK's sources pointed at the installed package; each rewrite must match exactly once.
 */
const SCENARIO_FILES: readonly { from: string; rewrites: readonly (readonly [string, string])[] }[] = [
  { from: 'packages/sdk/hermes-test/polyfills.ts', rewrites: [] },
  { from: 'packages/sdk/hermes-test/main.ts', rewrites: [] },
  {
    from: 'packages/sdk/hermes-test/scenario.ts',
    rewrites: [
      ["from '../src/react-native/index.ts'", "from '@petfl/sdk'"],
      ["from '../test-support/fake-coordinator.ts'", "from './fake-coordinator.ts'"],
    ],
  },
  {
    from: 'packages/sdk/test-support/fake-coordinator.ts',
    rewrites: [["from '../src/client/coordinator-client.ts'", "from '@petfl/sdk'"]],
  },
];

function copyScenario(appDir: string): void {
  const dir = join(appDir, 'scenario');
  mkdirSync(dir, { recursive: true });
  for (const { from, rewrites } of SCENARIO_FILES) {
    let text = readFileSync(join(ROOT, from), 'utf8');
    for (const [search, replacement] of rewrites) {
      const parts = text.split(search);
      if (parts.length !== 2) throw new Error(`${from}: expected "${search}" once, found it ${parts.length - 1} times`);
      text = parts.join(replacement);
    }
    const relative = /from '\.\.\/[^']*'/.exec(text);
    if (relative !== null) throw new Error(`${from} still imports ${relative[0]} after the rewrites`);
    writeFileSync(join(dir, from.split('/').at(-1) ?? from), text);
  }
}

/** The files a Metro bundle was built from (its source map's sources), relative to the app. */
function bundledSources(bundle: MetroBundle, dir: string): string[] {
  const appDir = realpathSync(dir);
  const map = JSON.parse(readFileSync(bundle.sourceMap, 'utf8')) as {
    sources?: string[];
    sections?: { map: { sources: string[] } }[];
  };
  const sources = map.sections?.flatMap((s) => s.map.sources) ?? map.sources ?? [];
  return sources.map((s) => (s.startsWith(`${appDir}/`) ? s.slice(appDir.length + 1) : s));
}

const hostUnsupported =
  process.arch !== 'x64' || !['linux', 'darwin', 'win32'].includes(process.platform)
    ? `hermes-compiler and hermes-engine-cli have no binaries for ${process.platform}-${process.arch}`
    : undefined;
if (hostUnsupported !== undefined && !HERMES_REQUIRED) {
  console.warn(`React Native fixture skipped: ${hostUnsupported}; set HERMES_REQUIRED=1 to fail instead`);
}

describe.skipIf(hostUnsupported !== undefined && !HERMES_REQUIRED)('React Native (Metro, hermesc, Hermes)', () => {
  let fixture: Fixture | undefined;
  let hermesc: string;
  let hermes: string;
  let bundle: MetroBundle;
  let installMs: number;

  beforeAll(() => {
    expect(hostUnsupported).toBeUndefined();
    const started = performance.now();
    fixture = installFixture('react-native', packs);
    installMs = Math.round(performance.now() - started);
    const tools = hermesTools(fixture);
    if ('missing' in tools) throw new Error(tools.missing);
    ({ hermesc, hermes } = tools);
    copyScenario(fixture.dir);
    bundle = metroBundle(fixture, 'index.android', { config: 'metro.bare-hermes.config.js' });
  }, 600_000);

  afterAll(() => fixture?.remove());

  const app = (): Fixture => {
    if (fixture === undefined) throw new Error('the fixture was not installed');
    return fixture;
  };

  it('Metro resolves @petfl/sdk through its react-native condition, and libsodium to its CommonJS builds', () => {
    const sources = bundledSources(bundle, app().dir);
    expect(sources).toContain('index.js');
    expect(sources).toContain('node_modules/@petfl/sdk/dist/react-native.js');
    expect(sources).toContain('node_modules/@petfl/core/dist/index.js');
    expect(sources).toContain('node_modules/libsodium-wrappers-sumo/dist/modules-sumo/libsodium-wrappers.js');
    expect(sources).toContain('node_modules/libsodium-sumo/dist/modules-sumo/libsodium-sumo.js');
    expect(sources.filter((s) => s.includes('modules-sumo-esm'))).toEqual([]);
    // The packed packages' built files only: not the SDK's default entry, nothing from the repository.
    expect(sources).not.toContain('node_modules/@petfl/sdk/dist/index.js');
    expect(sources.filter((s) => s.includes('@petfl/') && !/^node_modules\/@petfl\/\w+\/dist\//.test(s))).toEqual([]);
    expect(sources.filter((s) => s.startsWith('/'))).toEqual([]);
    // metro.bare-hermes.config.js: React Native's setup-env (it needs the native runtime) is not in it.
    expect(sources.filter((s) => s.startsWith('node_modules/react-native/'))).toEqual([]);
  });

  it('compiles to Hermes bytecode with hermes-compiler, as a release build does', async () => {
    const compiler = await bytecodeVersionOf(hermesc);
    const out = `${bundle.file}.hbc`;
    // React Native's Gradle plugin (BundleHermesCTask) with its default flags; the Xcode script differs only in -w.
    const run = await execute(
      hermesc,
      ['-w', '-emit-binary', '-max-diagnostic-width=80', '-out', out, bundle.file, '-O', '-output-source-map'],
      HERMES_TIMEOUT_MS,
    );
    expect(run.status, run.stderr).toBe(0);
    expect(readHbcHeader(out)).toEqual({ magic: HBC_MAGIC, version: compiler.bytecode });

    // The VM on npm is older than that bytecode: if it ever loads it, run the .hbc instead of the source.
    const vm = await bytecodeVersionOf(hermes);
    expect(vm.bytecode).toBeLessThan(compiler.bytecode);
    const load = await execute(hermes, ['-b', out], 60_000);
    expect(load.status).not.toBe(0);
    expect(`${load.stdout}${load.stderr}`).toMatch(/Wrong bytecode version/);

    const source = readFileSync(bundle.file);
    process.stdout.write(
      `react-native fixture: npm install ${installMs} ms; Metro release bundle ${source.length} B ` +
        `(gzip ${gzipSync(source).length} B) in ${bundle.ms} ms; hermesc ${compiler.release} ` +
        `(bytecode ${compiler.bytecode}) -O: ${statSync(out).size} B in ${run.ms} ms; ` +
        `VM hermes ${vm.release} (bytecode ${vm.bytecode})\n`,
    );
  });

  it(
    'runs the protocol scenario from the Metro bundle on Hermes, with exactly the results of Node',
    async () => {
      const nodeTimings: Record<string, number> = {};
      const nodeStarted = performance.now();
      // The same scenario from the sources, in this process (WebAssembly libsodium).
      const { runScenario } = (await import(join(ROOT, 'packages/sdk/hermes-test/scenario.ts'))) as {
        runScenario: (timings?: Record<string, number>) => Promise<ScenarioReport>;
      };
      const nodeReport = await runScenario(nodeTimings);
      const nodeMs = Math.round(performance.now() - nodeStarted);

      const run = await execute(hermes, [bundle.file], HERMES_TIMEOUT_MS);
      const output = parseBundleOutput(run);
      if (!output.ok) throw new Error(`the scenario failed under Hermes: ${output.error} (cause: ${output.cause})`);
      expect(output.report).toEqual(nodeReport);
      // The scenario reached everything it claims to check.
      expect(nodeReport['round.globalModel']).toMatch(/^[0-9a-f]+$/);
      expect(nodeReport['round.restoreMismatches']).toBe(0);
      expect(nodeReport['round.aggregatedMasksAgree']).toBe(true);
      expect(nodeReport['message.update.opens']).toBe(true);
      expect(nodeReport['sha256.abc.isVector']).toBe(true);

      process.stdout.write(
        `react-native fixture: scenario ${output.ms} ms under Hermes (${run.ms} ms with compiling), ${nodeMs} ms in Node\n` +
          `  Hermes parts (ms): ${JSON.stringify(output.timings)}\n  Node parts (ms): ${JSON.stringify(nodeTimings)}\n`,
      );
    },
    HERMES_TIMEOUT_MS + 60_000,
  );

  it.each([
    ['self', /No secure random number generator found/],
    ['getRandomValues', /No secure random number generator found/],
    ['TextDecoder', /libsodium failed to initialize[\s\S]*TextDecoder/],
  ])(
    'fails without the %s polyfill an app must provide',
    async (omit, expected) => {
      const file = join(app().dir, 'build', `without-${omit}.bundle`);
      writeFileSync(
        file,
        `globalThis.__petflOmitPolyfill = ${JSON.stringify(omit)};\n${readFileSync(bundle.file, 'utf8')}`,
      );
      const output = parseBundleOutput(await execute(hermes, ['-lazy', file], HERMES_TIMEOUT_MS));
      expect(output.ok).toBe(false);
      if (!output.ok) expect(`${output.error} ${output.cause ?? ''}`).toMatch(expected);
    },
    HERMES_TIMEOUT_MS,
  );

  it("without metro.config.js's libsodium rule, Metro bundles libsodium's ESM build, which hermesc rejects", async () => {
    const esm = metroBundle(app(), 'default-resolution', {
      config: 'metro.bare-hermes.config.js',
      env: { PETFL_METRO_RESOLUTION: 'default' },
      resetCache: false,
    });
    const sources = bundledSources(esm, app().dir);
    expect(sources).toContain('node_modules/libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs');
    const run = await execute(
      hermesc,
      ['-w', '-emit-binary', '-out', `${esm.file}.hbc`, esm.file, '-O'],
      HERMES_TIMEOUT_MS,
    );
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/'import\.meta' is currently unsupported/);
  });
});
