/**
 * The demo's headless Node participants as `npm start` runs them (scripts/start.ts): one child
 * process of apps/web/node/participants.ts, the SDK and @petfl/tfjs on the wasm backend, on the
 * shards after the tabs'. With `--report` it prints each participant's snapshot as it changes;
 * they are kept here, for the paced driver (support/paced-driver.ts) and the test's record.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ParticipantSnapshot } from './tab.ts';
import { REPO_ROOT } from './web-app.ts';

export interface NodeParticipants {
  /** Each participant's latest snapshot, by its index. */
  readonly snapshots: ReadonlyMap<number, ParticipantSnapshot>;
  /** Output other than snapshots (the accuracy lines, errors). */
  readonly output: readonly string[];
  stop(): Promise<void>;
}

const STARTED = /^\[node participants\] \d+ on /;

/** Starts `count` participants on shards first…first+count−1 of `shards`; resolves once they have joined. */
export async function startNodeParticipants(
  coordinatorUrl: string,
  { first, count, shards }: { readonly first: number; readonly count: number; readonly shards: number },
  timeoutMs = 120_000,
): Promise<NodeParticipants> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--conditions=@petfl/source',
      '--import',
      'tsx',
      'apps/web/node/participants.ts',
      '--url',
      coordinatorUrl,
      '--first-shard',
      String(first),
      '--count',
      String(count),
      '--shards',
      String(shards),
      '--report',
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const snapshots = new Map<number, ParticipantSnapshot>();
  const output: string[] = [];
  let started: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    started = resolve;
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (line.startsWith('PETFL-SNAPSHOT ')) {
      const { k, snapshot } = JSON.parse(line.slice('PETFL-SNAPSHOT '.length)) as {
        k: number;
        snapshot: ParticipantSnapshot;
      };
      snapshots.set(k, snapshot);
      return;
    }
    output.push(line);
    if (STARTED.test(line)) started();
  });
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => output.push(line));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(kill);
    }
  };
  try {
    await Promise.race([
      ready,
      exited.then(() => {
        throw new Error(`node participants exited before joining:\n${output.join('\n')}`);
      }),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`node participants: not joined in ${timeoutMs} ms:\n${output.join('\n')}`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return { snapshots, output, stop };
}
