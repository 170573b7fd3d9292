/**
 * The published coordinator CLI, started in an installed fixture the way its README says —
 * `npx petfl-coordinator --config petfl.toml` — in an outside environment (no `@petfl/source`
 * condition, no npm_* variables), in a process group of its own so that stopping it stops npx,
 * the shell npm may put in between, and the coordinator. Its JSON log lines (pino, stdout) are
 * kept; `started` resolves once it logs the URL it listens on and `GET /admin/status` answers 200
 * with the admin token.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { outsideEnv } from '../../../scripts/pack.ts';

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface CliCoordinator {
  readonly url: string;
  /** Every JSON line it has logged so far, and any other output (npm's warnings…) as text. */
  logs(): { readonly lines: readonly LogLine[]; readonly other: string };
  /** GET an `/admin/*` route with the admin token; the JSON body. */
  admin(path: string): Promise<unknown>;
  /** SIGTERM to its process group, SIGKILL after `graceMs`; how it ended. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startCliCoordinator(
  dir: string,
  args: readonly string[],
  { adminToken, timeoutMs = 60_000 }: { adminToken: string; timeoutMs?: number },
): Promise<CliCoordinator> {
  const child = spawn('npx', ['petfl-coordinator', ...args], {
    cwd: dir,
    env: outsideEnv(),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let other = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) {
      try {
        lines.push(JSON.parse(part) as LogLine);
      } catch {
        other += `${part}\n`;
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    other += chunk;
  });
  // 'close', not 'exit': npx exits at the SIGTERM at once, while the coordinator it started (which
  // shares its stdout) is still shutting down — closing its ingest workers, logging 'stopped'.
  // The streams close only when every process holding them has gone.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const logs = () => ({ lines: [...lines], other: other + pending });
  let ended: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((end) => {
    ended = end;
  });

  const stop = async (graceMs = 15_000) => {
    if (ended !== undefined) return ended;
    signalGroup(child, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  const deadline = Date.now() + timeoutMs;
  try {
    let url: string | undefined;
    while (url === undefined) {
      if (ended !== undefined) throw new Error(`it exited (${JSON.stringify(ended)}) before listening`);
      if (Date.now() > deadline) throw new Error(`it logged no URL within ${timeoutMs} ms`);
      const listening = lines.find((line) => typeof line['url'] === 'string' && line.msg.includes('listening'));
      url = listening?.['url'] as string | undefined;
      if (url === undefined) await sleep(100);
    }
    const admin = async (path: string): Promise<unknown> => {
      const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${adminToken}` } });
      if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${await response.text()}`);
      return response.json();
    };
    for (;;) {
      const answered = await admin('/admin/status').then(
        () => true,
        (error: unknown) => {
          if (Date.now() > deadline) throw error;
          return false;
        },
      );
      if (answered) break;
      await sleep(100);
    }
    return { url, logs, admin, stop };
  } catch (error) {
    await stop(2_000);
    const { lines: logged, other: text } = logs();
    throw new Error(
      `npx petfl-coordinator ${args.join(' ')} did not start: ${(error as Error).message}\n` +
        `${logged.map((line) => JSON.stringify(line)).join('\n')}\n${text}`,
    );
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
