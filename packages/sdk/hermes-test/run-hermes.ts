/**
 * The `hermes` CLI of the hermes-engine-cli package (0.12.0: Linux, macOS
 * and Windows x64 binaries): where it is, whether it runs here, and running
 * a bundle with it.
 */

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ScenarioReport } from './scenario.ts';

const BINARIES: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'linux64-bin/hermes',
  darwin: 'osx-bin/hermes',
  win32: 'win64-bin/hermes.exe',
};

/** The `hermes` binary for this platform, or why there is none. */
export function hermesBinary(): { readonly path: string } | { readonly missing: string } {
  const relative = BINARIES[process.platform];
  if (relative === undefined || process.arch !== 'x64') {
    return { missing: `hermes-engine-cli has no binary for ${process.platform}-${process.arch}` };
  }
  let packageDir: string;
  try {
    packageDir = dirname(createRequire(import.meta.url).resolve('hermes-engine-cli/package.json'));
  } catch {
    return { missing: 'the hermes-engine-cli package is not installed (a root devDependency)' };
  }
  const path = join(packageDir, relative);
  return existsSync(path) ? { path } : { missing: `${path} does not exist` };
}

/** Why `hermes` cannot run here (missing, not executable, missing libraries), or undefined when it can. */
export async function hermesUnavailable(): Promise<string | undefined> {
  const binary = hermesBinary();
  if ('missing' in binary) return binary.missing;
  const run = await execute(binary.path, ['--version'], 30_000);
  if (run.status === 0 && run.stdout.includes('Hermes')) return undefined;
  return `${binary.path} --version failed (${run.error ?? `exit ${run.status}`}): ${(run.stderr || run.stdout).trim()}`;
}

export interface HermesRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time of the whole process: compiling the bundle and running it. */
  readonly ms: number;
  readonly error: string | undefined;
}

export interface RunOptions {
  readonly timeoutMs: number;
  /** Compile functions when first called (fast start, slower run): for runs expected to fail early. */
  readonly lazy?: boolean;
}

export async function runHermes(file: string, options: RunOptions): Promise<HermesRun> {
  const binary = hermesBinary();
  if ('missing' in binary) throw new Error(binary.missing);
  return execute(binary.path, [...(options.lazy === true ? ['-lazy'] : []), file], options.timeoutMs);
}

/** What main.ts prints: the scenario's report, or why it failed. */
export type BundleOutput =
  | {
      readonly ok: true;
      readonly ms: number;
      readonly timings: Readonly<Record<string, number>>;
      readonly report: ScenarioReport;
    }
  | { readonly ok: false; readonly error: string; readonly cause?: string };

/** main.ts's JSON line, or `{ok: false}` with whatever Hermes printed (an uncaught error at load). */
export function parseBundleOutput(run: HermesRun): BundleOutput {
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as BundleOutput;
  } catch {
    return { ok: false, error: `${run.stdout}${run.stderr}`.trim() || `exit ${run.status}` };
  }
}

function execute(file: string, args: readonly string[], timeoutMs: number): Promise<HermesRun> {
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
