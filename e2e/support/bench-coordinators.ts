/**
 * The e2e benchmark's two servers (e2e/bench.ts), each in a process of its own, as a deployment
 * runs a coordinator: not in the bench's process, whose event loop also drives the browser and
 * would stall it (and be stalled by it). The tabs reach each one directly, with no proxy between.
 *
 * - `startSecureCoordinator`: the built `petfl-coordinator` command (packages/coordinator/dist/cli.js,
 *   plain Node, as `npm run bench:round` runs it) with the e2e settings (coordinator.ts's
 *   `settingsToml`: memory store, CORS open, the bench's phases) and its global models in a
 *   temporary directory; rounds read over `GET /admin/rounds`.
 * - `startPlainServer`: BENCHMARK ONLY plain averaging (plain-coordinator.ts) through
 *   plain-coordinator-main.ts; rounds read over `GET /plain/history`.
 *
 * `cpuProfileDir` gives either process `--cpu-prof` (a V8 CPU profile written there when it exits).
 */

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RoundSummary } from '@petfl/coordinator';
import {
  type Child,
  ChildProcesses,
  jsonLines,
  startCoordinatorProcess,
  waitFor,
} from '../../packages/coordinator/test-support/processes.ts';
import { ADMIN_TOKEN, type CoordinatorConfig, type PhaseConfig, settingsToml } from './coordinator.ts';
import type { PlainRoundSummary } from './plain-coordinator.ts';
import { REPO_ROOT } from './web-app.ts';

/** The built coordinator command; `npm run build` writes it. */
export const COORDINATOR_CLI = join(REPO_ROOT, 'packages/coordinator/dist/cli.js');

export interface BenchServer<Round> {
  readonly url: string;
  readonly pid: number;
  /** Its finished rounds, oldest first. */
  history(): Promise<readonly Round[]>;
  /** Stops the process (SIGTERM; it closes and exits) and removes its files. */
  close(): Promise<void>;
}

function profileArgs(dir: string | undefined, name: string): string[] {
  return dir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}.cpuprofile`];
}

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(url, { headers });
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** Stops `child` (SIGTERM); one that does not exit cleanly (its CPU profile unwritten) is an error. */
async function stop(child: Child, name: string): Promise<void> {
  const exit = await child.stop('SIGTERM', 10_000);
  if (exit.code !== 0) {
    throw new Error(`${name} exited with ${exit.signal ?? exit.code}:\n${child.lines().slice(-40).join('\n')}`);
  }
}

export async function startSecureCoordinator(
  config: CoordinatorConfig,
  options: { readonly cpuProfileDir?: string; readonly profileName?: string } = {},
): Promise<BenchServer<RoundSummary>> {
  if (!existsSync(COORDINATOR_CLI)) {
    throw new Error(`${COORDINATOR_CLI} is missing: the bench runs the built coordinator (npm run build)`);
  }
  if (config.run !== undefined) throw new Error('the bench coordinator runs no training run');
  const dir = mkdtempSync(join(tmpdir(), 'petfl-e2e-bench-'));
  const group = new ChildProcesses();
  try {
    const toml = `${settingsToml(config, 0, undefined)}\n[models]\ndir = "${join(dir, 'models')}"\n`;
    const running = await startCoordinatorProcess(group, {
      name: 'coordinator',
      toml,
      dir,
      bin: COORDINATOR_CLI,
      nodeArgs: profileArgs(options.cpuProfileDir, options.profileName ?? 'coordinator'),
    });
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    return {
      url: running.url,
      pid: running.process.pid as number,
      history: async () =>
        [...(await getJson<{ rounds: RoundSummary[] }>(`${running.url}/admin/rounds?limit=1000`, admin)).rounds].sort(
          (a, b) => a.roundId - b.roundId,
        ),
      async close() {
        try {
          await stop(running, 'the coordinator');
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

export async function startPlainServer(
  modelLength: number,
  update: PhaseConfig,
  options: { readonly cpuProfileDir?: string; readonly profileName?: string } = {},
): Promise<BenchServer<PlainRoundSummary>> {
  const group = new ChildProcesses();
  const child = group.spawn('plain', process.execPath, [
    ...profileArgs(options.cpuProfileDir, options.profileName ?? 'plain'),
    '--import',
    'tsx',
    join(REPO_ROOT, 'e2e/support/plain-coordinator-main.ts'),
    String(modelLength),
    JSON.stringify(update),
  ]);
  try {
    const url = await waitFor(
      'the plain server to print its URL',
      () => {
        if (child.done()) throw new Error(`the plain server exited:\n${child.lines().join('\n')}`);
        return jsonLines(child).find((l) => typeof l['url'] === 'string')?.['url'] as string | undefined;
      },
      30_000,
    );
    return {
      url,
      pid: child.process.pid as number,
      history: async () => (await getJson<{ rounds: PlainRoundSummary[] }>(`${url}/plain/history`)).rounds,
      close: () => stop(child, 'the plain server'),
    };
  } catch (error) {
    await group.stopAll();
    throw error;
  }
}
