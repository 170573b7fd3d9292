/**
 * Test support: real child processes — the `petfl-coordinator` command and
 * the tools around it (haproxy.ts) — started on free ports, their stdout and
 * stderr kept in memory (the last lines of each) so a failing test can print
 * them, and stopped together at the end. A `ChildProcesses` group owns its
 * children; a test stops the group in afterEach, and any child still running
 * when the test process exits is killed then.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `petfl-coordinator` command (it runs the TypeScript sources through tsx). */
export const COORDINATOR_BIN = fileURLToPath(new URL('../bin/petfl-coordinator.mjs', import.meta.url));

/** Lines kept per child: enough for a failing test's story, bounded for a long one. */
const MAX_LINES = 4000;

/** A port nobody listens on now (the kernel's choice for port 0), for a program that needs one named. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One child process with its output kept in memory. */
export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** Settles when the process has exited (for whatever reason). */
  readonly exited: Promise<Exit>;
  /** Whether it has exited. */
  readonly done: () => boolean;
  /** Its kept output lines, oldest first (stdout and stderr interleaved as they came). */
  readonly lines: () => readonly string[];
  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs` if it has not exited by then. */
  readonly stop: (signal?: NodeJS.Signals, graceMs?: number) => Promise<Exit>;
}

const running = new Set<ChildProcess>();
// A test process that ends without its afterEach (a crash, a timeout kill) leaves no children behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Polls `get` every `intervalMs` until it returns a value; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  get: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
  intervalMs = 25,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Children started together and stopped together. */
export class ChildProcesses {
  private readonly children: Child[] = [];

  /** Starts `command` with `args` and only `env` (plus PATH, HOME and TMPDIR) in its environment. */
  spawn(name: string, command: string, args: readonly string[], env: Readonly<Record<string, string>> = {}): Child {
    const inherited: Record<string, string> = {};
    for (const key of ['PATH', 'HOME', 'TMPDIR']) {
      const value = process.env[key];
      if (value !== undefined) inherited[key] = value;
    }
    const child = spawn(command, args, { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const kept: string[] = [];
    const keep = (stream: 'out' | 'err') => {
      let partial = '';
      return (data: Buffer) => {
        const parts = (partial + data.toString('utf8')).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) kept.push(stream === 'err' ? `[stderr] ${line}` : line);
        if (kept.length > MAX_LINES) kept.splice(0, kept.length - MAX_LINES);
      };
    };
    child.stdout?.on('data', keep('out'));
    child.stderr?.on('data', keep('err'));
    let exit: Exit | undefined;
    const exited = new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => {
        exit = { code, signal };
        running.delete(child);
        resolve(exit);
      });
      child.once('error', (error) => {
        kept.push(`[spawn error] ${error.message}`);
        exit = { code: null, signal: null };
        running.delete(child);
        resolve(exit);
      });
    });
    const handle: Child = {
      name,
      process: child,
      exited,
      done: () => exit !== undefined,
      lines: () => kept,
      stop: async (signal = 'SIGTERM', graceMs = 3_000) => {
        if (exit !== undefined) return exit;
        child.kill(signal);
        if (signal !== 'SIGKILL') {
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          const result = await exited;
          clearTimeout(timer);
          return result;
        }
        return exited;
      },
    };
    this.children.push(handle);
    return handle;
  }

  /** Every child's kept output, each under a header naming it and how it ended. */
  report(): string {
    return this.children
      .map((c) => {
        const state = c.done() ? 'exited' : 'running';
        return `----- ${c.name} (pid ${c.process.pid ?? '?'}, ${state}) -----\n${c.lines().join('\n')}`;
      })
      .join('\n');
  }

  /** Stops every child still running (SIGTERM, then SIGKILL after `graceMs`); their output stays for `report`. */
  async stopAll(graceMs = 3_000): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop('SIGTERM', graceMs)));
  }
}

/** A `petfl-coordinator` process that logged its URL and answers GET /health. */
export interface CoordinatorProcess extends Child {
  /** Its base URL, e.g. http://127.0.0.1:40123. */
  readonly url: string;
  readonly port: number;
}

/** The pino JSON lines among a child's output. */
export function jsonLines(child: Pick<Child, 'lines'>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of child.lines()) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by the output bound
    }
  }
  return out;
}

/**
 * Starts `petfl-coordinator --config <dir>/<name>.toml --host 127.0.0.1` with `toml` as its
 * settings file (it should say `[api] port = 0`: the URL is read from the log), and waits until
 * it has logged its URL and answers GET /health with 200.
 */
export async function startCoordinatorProcess(
  group: ChildProcesses,
  options: {
    readonly name: string;
    readonly toml: string;
    readonly dir: string;
    readonly env?: Readonly<Record<string, string>>;
    readonly timeoutMs?: number;
    /** The CLI to run (default the source's bin; benches run the built `dist/cli.js`). */
    readonly bin?: string;
    /** Node's own flags, before the CLI (e.g. `--cpu-prof`, which NODE_OPTIONS does not take). */
    readonly nodeArgs?: readonly string[];
  },
): Promise<CoordinatorProcess> {
  const config = join(options.dir, `${options.name}.toml`);
  writeFileSync(config, options.toml);
  const child = group.spawn(
    options.name,
    process.execPath,
    [...(options.nodeArgs ?? []), options.bin ?? COORDINATOR_BIN, '--config', config, '--host', '127.0.0.1'],
    { LOG_LEVEL: 'info', ...options.env },
  );
  const timeoutMs = options.timeoutMs ?? 30_000;
  const url = await waitFor(
    `coordinator ${options.name} to log its URL`,
    () => {
      if (child.done()) throw new Error(`coordinator ${options.name} exited:\n${child.lines().join('\n')}`);
      const listening = jsonLines(child).find((l) => typeof l['url'] === 'string');
      return listening?.['url'] as string | undefined;
    },
    timeoutMs,
  );
  await waitFor(
    `coordinator ${options.name} to answer GET /health`,
    async () => {
      const res = await fetch(`${url}/health`).catch(() => undefined);
      await res?.body?.cancel();
      return res?.status === 200 ? true : undefined;
    },
    timeoutMs,
  );
  return { ...child, url, port: Number(new URL(url).port) };
}

/**
 * Asks each process to stop (SIGTERM) and waits for it to exit; one still running after `graceMs`
 * is killed (SIGKILL). Processes that have already exited are skipped.
 */
export async function stopProcesses(children: readonly ChildProcess[], graceMs = 5000): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}
