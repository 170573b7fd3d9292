/**
 * The React Native fixture's toolchain (e2e/consumers/react-native), all from its own
 * node_modules: Metro through React Native's own bundle script, hermes-compiler's `hermesc`
 * (resolved through react-native, as React Native's build scripts resolve it), and the `hermes`
 * VM of hermes-engine-cli 0.12.0 — the newest Hermes VM on npm. Hermes has not been published
 * to npm on its own since then: React Native ships the VM inside the app (Maven, CocoaPods) and
 * only the compiler as an npm package, so no VM here can load what today's hermesc emits.
 */
import { execFile } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Fixture } from './fixture.ts';

/** The Metro release-build command React Native's Xcode and Gradle scripts run (Hermes: no minifying). */
export interface MetroBundle {
  readonly file: string;
  readonly sourceMap: string;
  readonly ms: number;
}

/**
 * `react-native/scripts/bundle.js` (React Native's own `bundle` command, which the Xcode build
 * runs) for Android, `--dev false --minify false --reset-cache`: what a release build with
 * Hermes bundles. `--load-config` gives it the project config that `react-native config`
 * (@react-native-community/cli) would print: only `root` and the platforms are read.
 */
export function metroBundle(
  fixture: Fixture,
  name: string,
  options: { config: string; env?: Record<string, string>; resetCache?: boolean },
): MetroBundle {
  const file = join(fixture.dir, 'build', `${name}.bundle`);
  const sourceMap = `${file}.map`;
  const started = performance.now();
  fixture.run(
    process.execPath,
    [
      'node_modules/react-native/scripts/bundle.js',
      '--config',
      options.config,
      '--platform',
      'android',
      '--dev',
      'false',
      '--minify',
      'false',
      ...(options.resetCache === false ? [] : ['--reset-cache']),
      '--entry-file',
      'index.js',
      '--bundle-output',
      file,
      '--sourcemap-output',
      sourceMap,
      '--assets-dest',
      join(fixture.dir, 'build', 'res'),
      '--load-config',
      JSON.stringify({ root: fixture.dir, platforms: { android: {}, ios: {} } }),
    ],
    { env: options.env ?? {}, timeoutMs: 480_000 },
  );
  return { file, sourceMap, ms: Math.round(performance.now() - started) };
}

const PLATFORM_DIRS: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'linux64-bin',
  darwin: 'osx-bin',
  win32: 'win64-bin',
};

/** Paths of `hermesc` (hermes-compiler) and `hermes` (hermes-engine-cli) in the fixture, or why not. */
export function hermesTools(fixture: Fixture): { hermesc: string; hermes: string } | { missing: string } {
  const dir = PLATFORM_DIRS[process.platform];
  if (dir === undefined || process.arch !== 'x64') {
    return {
      missing: `hermes-compiler and hermes-engine-cli have no binaries for ${process.platform}-${process.arch}`,
    };
  }
  const exe = process.platform === 'win32' ? '.exe' : '';
  const fromFixture = createRequire(join(fixture.dir, 'package.json'));
  const reactNative = dirname(fromFixture.resolve('react-native/package.json'));
  const compiler = dirname(createRequire(join(reactNative, 'package.json')).resolve('hermes-compiler/package.json'));
  const cli = dirname(fromFixture.resolve('hermes-engine-cli/package.json'));
  return { hermesc: join(compiler, 'hermesc', dir, `hermesc${exe}`), hermes: join(cli, dir, `hermes${exe}`) };
}

export interface ToolRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  readonly error: string | undefined;
}

export function execute(file: string, args: readonly string[], timeoutMs: number): Promise<ToolRun> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({
        status: error === null ? 0 : typeof error.code === 'number' ? error.code : null,
        stdout,
        stderr,
        ms: Math.round(performance.now() - started),
        error: error === null ? undefined : error.message,
      });
    });
  });
}

/** The "HBC bytecode version" a Hermes binary's `--version` reports. */
export async function bytecodeVersionOf(binary: string): Promise<{ release: string; bytecode: number }> {
  const run = await execute(binary, ['--version'], 30_000);
  const release = /Hermes release version: (\S+)/.exec(run.stdout)?.[1];
  const bytecode = /HBC bytecode version: (\d+)/.exec(run.stdout)?.[1];
  if (release === undefined || bytecode === undefined) {
    throw new Error(`${binary} --version: ${run.error ?? ''} ${run.stdout}${run.stderr}`);
  }
  return { release, bytecode: Number(bytecode) };
}

/** Magic and bytecode version from a Hermes bytecode file's header (BytecodeFileHeader). */
export function readHbcHeader(file: string): { magic: bigint; version: number } {
  const header = Buffer.alloc(12);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, header, 0, 12, 0);
  } finally {
    closeSync(fd);
  }
  return { magic: header.readBigUInt64LE(0), version: header.readUInt32LE(8) };
}

/** Hermes bytecode's magic number (hermes/BCGen/HBC/BytecodeFileFormat.h). */
export const HBC_MAGIC = 0x1f1903c103bc1fc6n;

/** What scenario/main.ts prints: the scenario's report, or why it failed. */
export type BundleOutput =
  | {
      readonly ok: true;
      readonly ms: number;
      readonly timings: Readonly<Record<string, number>>;
      readonly report: Readonly<Record<string, string | number | boolean>>;
    }
  | { readonly ok: false; readonly error: string; readonly cause?: string };

/** main.ts's JSON line, or `{ok: false}` with whatever Hermes printed (an uncaught error at load). */
export function parseBundleOutput(run: ToolRun): BundleOutput {
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as BundleOutput;
  } catch {
    return { ok: false, error: `${run.stdout}${run.stderr}`.trim() || `exit ${run.status}` };
  }
}
