/**
 * The ingest pool (`api.ingest_workers`, docs/operations.md): worker threads that open, verify and
 * decode messages for the coordinator (state-machine/ingest.ts), so that one coordinator process
 * ingests on several cores while the round — the checks, the queue, the one aggregate — stays on
 * its own thread, taking the results in the order the messages arrived (coordinator.ts).
 *
 * A task goes to the worker with the fewest tasks. Buffers move between the threads instead of
 * being copied where they can (ingest-serve.ts). A worker that dies (a crash, or a task that runs
 * past `taskTimeoutMs`, after which it is ended) fails only its own tasks, each with PetError
 * 'unavailable' (503: the participant retries), and is replaced at once. `close()` ends every
 * worker and waits for their threads to exit.
 *
 * The workers run ./ingest-worker.js next to this module (the published build), or, from the
 * repository's sources, ./ingest-worker.ts through tsx with the `@petfl/source` condition
 * (docs/architecture.md §8): a worker thread gets no module hooks of its own, so they are
 * registered in it first.
 */

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type EncryptKeyPair, type OpenedFrame, type Payload, PetError } from '@petfl/core';
import { type Logger, silentLogger } from '../logger.ts';
import type { EligibilityVerdict } from '../state-machine/eligibility.ts';
import type { DecodeRequest, MessageIngest, OpenOutcome, OpenRequest } from '../state-machine/ingest.ts';
import {
  type IngestAnswer,
  type IngestTaskBody,
  type Moved,
  moveIn,
  moveOut,
  revived,
  type TaskError,
} from './ingest-serve.ts';

export interface IngestPoolOptions {
  /** Worker threads (at least 1). */
  readonly workers: number;
  readonly logger?: Logger;
  /** A task running longer means a stuck worker: it is ended and replaced (default 30 s). */
  readonly taskTimeoutMs?: number;
  /** The workers' module; ./ingest-worker.(js|ts) next to this one unless given (tests pass their own). */
  readonly entry?: URL;
}

/** The `auto` worker count: one core left to the coordinator's own thread, no more workers than bodies in flight. */
export function autoIngestWorkers(maxBodiesInFlight: number, cores = availableParallelism()): number {
  return Math.max(0, Math.min(cores - 1, maxBodiesInFlight));
}

const DEFAULT_TASK_TIMEOUT_MS = 30_000;
/** A worker that fails before it is ready is tried again after this long, not in a tight loop. */
const RESPAWN_DELAY_MS = 1000;

/** The module hook that adds the `@petfl/source` condition (as scripts/source-condition-hook.mjs does). */
const SOURCE_CONDITION_HOOK = `data:text/javascript,${encodeURIComponent(
  'export async function resolve(specifier, context, next) {' +
    " if (context.conditions.includes('@petfl/source')) return next(specifier, context);" +
    " return next(specifier, { ...context, conditions: ['@petfl/source', ...context.conditions] }); }",
)}`;

/** The worker's first code (CommonJS, evaluated): module hooks for sources, then the entry. */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
(async () => {
  const boot = workerData.petflIngest;
  if (boot.tsx !== undefined) {
    (await import(boot.tsx)).register();
    require('node:module').register(boot.hook);
  }
  await import(boot.entry);
})();
`;

interface Task {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly startedAt: number;
}

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, Task>;
  ready: boolean;
  /** Why it is ending (set when it is told to end, or when it reports an error). */
  ending: string | undefined;
  readonly exited: Promise<void>;
}

function defaultEntry(): URL {
  const source = import.meta.url.endsWith('.ts');
  return new URL(source ? './ingest-worker.ts' : './ingest-worker.js', import.meta.url);
}

function bootData(entry: URL): { entry: string; tsx?: string; hook?: string } {
  if (!entry.pathname.endsWith('.ts')) return { entry: entry.href };
  return { entry: entry.href, tsx: import.meta.resolve('tsx/esm/api'), hook: SOURCE_CONDITION_HOOK };
}

function copyKey(key: EncryptKeyPair | undefined, transfer: Set<ArrayBuffer>): EncryptKeyPair | undefined {
  if (key === undefined) return undefined;
  // SECURITY: a copy of the round key pair, moved to the worker (which wipes it after use).
  const publicKey = key.publicKey.slice();
  const secretKey = key.secretKey.slice();
  transfer.add(publicKey.buffer);
  transfer.add(secretKey.buffer);
  return { publicKey, secretKey };
}

function failure(error: TaskError): Error {
  return error.code === undefined
    ? new Error(`ingest worker: ${error.message}`)
    : new PetError(error.code, error.message);
}

/**
 * With more workers than this, a worker unpacks masked models itself (ADR 0018): the coordinator's
 * own thread, which adds every update in turn, then keeps only the add (2.2 ms at 10⁶ weights,
 * against 7.5 ms adding from the packed bytes) and does not hold up the workers running beside it.
 */
export const PACKED_MAX_WORKERS = 1;

export class IngestPool implements MessageIngest {
  private readonly slots: (Slot | undefined)[];
  private readonly log: Logger;
  private readonly taskTimeoutMs: number;
  private readonly boot: ReturnType<typeof bootData>;
  private readonly watchdog: ReturnType<typeof setInterval>;
  private nextId = 0;
  private nextSlot = 0;
  private closing = false;
  private replacedCount = 0;

  private constructor(options: IngestPoolOptions) {
    if (!Number.isSafeInteger(options.workers) || options.workers < 1) {
      throw new Error(`IngestPool: expected at least 1 worker, got ${options.workers}`);
    }
    this.log = options.logger ?? silentLogger;
    this.taskTimeoutMs = options.taskTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS;
    this.boot = bootData(options.entry ?? defaultEntry());
    this.slots = Array.from({ length: options.workers }, () => undefined);
    this.watchdog = setInterval(() => this.endStuckWorkers(), Math.min(1000, Math.ceil(this.taskTimeoutMs / 4)));
    this.watchdog.unref();
  }

  /** Starts `workers` threads and waits until each has loaded; if one cannot, none is left running. */
  static async start(options: IngestPoolOptions): Promise<IngestPool> {
    const pool = new IngestPool(options);
    const starting = pool.slots.map((_, i) => pool.spawn(i));
    const failed = (await Promise.all(starting)).find((reason) => reason !== undefined);
    if (failed !== undefined) {
      await pool.close();
      throw new Error(
        `the ingest worker threads could not start (${failed}); api.ingest_workers = 0 opens messages in the coordinator's own thread`,
      );
    }
    return pool;
  }

  /** Worker threads now running. */
  get workers(): number {
    return this.slots.filter((s) => s !== undefined && s.ending === undefined).length;
  }

  /** The thread ids of the running workers (operators' diagnostics, tests). */
  threadIds(): number[] {
    return this.slots.flatMap((s) => (s === undefined || s.ending !== undefined ? [] : [s.worker.threadId]));
  }

  /** Workers replaced since the start (they died or got stuck). */
  get replaced(): number {
    return this.replacedCount;
  }

  async open(request: OpenRequest): Promise<OpenOutcome> {
    const transfer = new Set<ArrayBuffer>();
    const facts = request.eligibility;
    const task = {
      op: 'open',
      sealed: moveOut(request.sealed, request.handOver, transfer),
      key: copyKey(request.key, transfer),
      previousKey: copyKey(request.previousKey, transfer),
      eligibility:
        facts === undefined
          ? undefined
          : {
              seed: facts.seed.slice(),
              pet: {
                sum: { probability: facts.pet.sum.probability },
                update: { probability: facts.pet.update.probability },
              },
            },
    } as const;
    const outcome = (await this.run(task, transfer)) as
      | { kind: 'late' }
      | {
          kind: 'opened';
          frame: Omit<OpenedFrame, 'body'> & { body: Moved };
          eligibility: EligibilityVerdict | undefined;
        };
    if (outcome.kind === 'late') return outcome;
    const frame: OpenedFrame = { ...outcome.frame, body: moveIn(outcome.frame.body) };
    return outcome.eligibility === undefined
      ? { kind: 'opened', frame }
      : { kind: 'opened', frame, eligibility: outcome.eligibility };
  }

  async decode(request: DecodeRequest): Promise<Payload> {
    const transfer = new Set<ArrayBuffer>();
    const task = {
      op: 'decode',
      tag: request.tag,
      bytes:
        request.bytes instanceof Uint8Array
          ? moveOut(request.bytes, request.handOver, transfer)
          : request.bytes.map((part) => moveOut(part, request.handOver, transfer)),
      // Packed unless the caller asks for arrays or the workers unpack (PACKED_MAX_WORKERS).
      expect: { ...request.expect, packed: (request.expect.packed ?? true) && this.slots.length <= PACKED_MAX_WORKERS },
    } as const;
    return revived((await this.run(task, transfer)) as Payload);
  }

  /** Ends every worker; their tasks fail with 'unavailable'. Resolves once every thread has exited. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.watchdog);
    const exits: Promise<void>[] = [];
    for (const slot of this.slots) {
      if (slot === undefined) continue;
      this.end(slot, 'the coordinator is shutting down');
      exits.push(slot.exited);
    }
    await Promise.all(exits);
  }

  private run(task: IngestTaskBody, transfer: Set<ArrayBuffer>): Promise<unknown> {
    const slot = this.pick();
    if (slot === undefined) {
      const why = this.closing ? 'the coordinator is shutting down' : 'no ingest worker is running; retry';
      return Promise.reject(new PetError('unavailable', `message: ${why}`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // Answers come as events, after this: the task is registered once it is on its way.
      slot.worker.postMessage({ ...task, id }, [...transfer]);
      slot.pending.set(id, { resolve, reject, startedAt: performance.now() });
    });
  }

  /** The running worker with the fewest tasks (ties: in turn). */
  private pick(): Slot | undefined {
    let best: Slot | undefined;
    const n = this.slots.length;
    for (let k = 0; k < n; k++) {
      const slot = this.slots[(this.nextSlot + k) % n];
      if (slot === undefined || slot.ending !== undefined) continue;
      if (best === undefined || slot.pending.size < best.pending.size) best = slot;
    }
    this.nextSlot = (this.nextSlot + 1) % n;
    return best;
  }

  /** Starts the worker of slot `i`; resolves when it is ready (undefined) or has failed (why). */
  private spawn(i: number): Promise<string | undefined> {
    const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { petflIngest: this.boot } });
    let settle: (why: string | undefined) => void = () => {};
    const started = new Promise<string | undefined>((resolve) => {
      settle = resolve;
    });
    let exit: () => void = () => {};
    const slot: Slot = {
      worker,
      pending: new Map(),
      ready: false,
      ending: undefined,
      exited: new Promise((resolve) => {
        exit = resolve;
      }),
    };
    this.slots[i] = slot;
    worker.on('message', (answer: IngestAnswer) => {
      if ('ready' in answer) {
        slot.ready = true;
        settle(undefined);
        return;
      }
      const task = slot.pending.get(answer.id);
      if (task === undefined) return;
      slot.pending.delete(answer.id);
      if ('error' in answer) task.reject(failure(answer.error));
      else task.resolve(answer.ok);
    });
    worker.on('error', (error) => {
      slot.ending ??= `it failed: ${error.message}`;
    });
    worker.on('exit', (code) => {
      const why = slot.ending ?? `it exited with code ${code}`;
      settle(why);
      exit();
      this.died(i, slot, why);
    });
    return started;
  }

  /** A worker ended: its tasks fail (503), and unless the pool is closing, another takes its place. */
  private died(i: number, slot: Slot, why: string): void {
    const message = this.closing
      ? 'the coordinator is shutting down'
      : `the ingest worker handling it stopped (${why}); retry`;
    if (!this.closing) this.log.error({ tasks: slot.pending.size, reason: why }, 'ingest worker stopped; replacing it');
    for (const task of slot.pending.values()) task.reject(new PetError('unavailable', `message: ${message}`));
    slot.pending.clear();
    if (this.slots[i] !== slot) return;
    this.slots[i] = undefined;
    if (this.closing) return;
    this.replacedCount += 1;
    const replace = () => {
      if (this.closing || this.slots[i] !== undefined) return;
      void this.spawn(i).then((failed) => {
        if (failed !== undefined) this.log.error({ reason: failed }, 'ingest worker could not start');
      });
    };
    if (slot.ready) replace();
    else setTimeout(replace, RESPAWN_DELAY_MS).unref();
  }

  private end(slot: Slot, why: string): void {
    slot.ending ??= why;
    void slot.worker.terminate();
  }

  private endStuckWorkers(): void {
    const now = performance.now();
    for (const slot of this.slots) {
      if (slot === undefined || slot.ending !== undefined) continue;
      for (const task of slot.pending.values()) {
        if (now - task.startedAt > this.taskTimeoutMs) {
          this.end(slot, `a task ran past ${this.taskTimeoutMs} ms`);
          break;
        }
      }
    }
  }
}
