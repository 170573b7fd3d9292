/**
 * Worker thread of `bench/scale.bench.ts`: the participants' work (masking and sealing update
 * messages; opening seeds, deriving masks and sealing sum2 messages) on every core while no
 * clock runs, so that building 10,000 messages takes seconds, not a minute. `participantPool()`
 * starts the workers (through tsx's loader, as the coordinator's bin does) and hands out jobs.
 */

import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import {
  randomModel,
  type Selected,
  type SumParticipant,
  sum2Message,
  updateMessage,
} from '../packages/coordinator/test-support/sim.ts';
import { initCrypto, type RoundParameters } from '../packages/core/src/index.ts';

/** Update messages of `participants`, the i-th masking randomModel(weights, modelSeeds[i]) scaled by scalars[i]. */
export interface UpdatesJob {
  readonly kind: 'updates';
  readonly params: RoundParameters;
  readonly sumDict: ReadonlyMap<string, Uint8Array>;
  readonly participants: readonly Selected[];
  readonly weights: number;
  readonly modelSeeds: readonly number[];
  readonly scalars: readonly number[];
}

/** The sum2 message of one sum participant from its update seed dictionary. */
export interface Sum2Job {
  readonly kind: 'sum2';
  readonly params: RoundParameters;
  readonly participant: SumParticipant;
  readonly seeds: ReadonlyMap<string, Uint8Array>;
}

type Job = UpdatesJob | Sum2Job;

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const crypto = await initCrypto();
  port.on('message', ({ id, job }: { id: number; job: Job }) => {
    try {
      const messages =
        job.kind === 'updates'
          ? job.participants.map(
              (p, i) =>
                updateMessage(
                  crypto,
                  job.params,
                  p,
                  job.sumDict,
                  randomModel(job.weights, job.modelSeeds[i] as number),
                  job.scalars[i] as number,
                )[0] as Uint8Array,
            )
          : [sum2Message(crypto, job.params, job.participant, job.seeds)];
      port.postMessage(
        { id, messages },
        messages.map((m) => m.buffer as ArrayBuffer),
      );
    } catch (error) {
      port.postMessage({ id, error: (error as Error).stack ?? String(error) });
    }
  });
}

export interface ParticipantPool {
  readonly threads: number;
  /** Update messages, built in chunks spread over the threads, in order. */
  updates(job: Omit<UpdatesJob, 'kind'>): Promise<Uint8Array[]>;
  /** One sum2 message. */
  sum2(job: Omit<Sum2Job, 'kind'>): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** `threads` workers (one per core by default). */
export function participantPool(threads = availableParallelism()): ParticipantPool {
  const api = import.meta.resolve('tsx/esm/api');
  const entry = import.meta.url;
  // Node 20 gives a worker no loader of its own: register tsx's first, then load this module.
  const code = `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  const pending = new Map<number, { resolve: (m: Uint8Array[]) => void; reject: (e: Error) => void }>();
  const workers = Array.from({ length: threads }, () => {
    const worker = new Worker(code, { eval: true });
    worker.on('message', (answer: { id: number; messages?: Uint8Array[]; error?: string }) => {
      const waiting = pending.get(answer.id);
      pending.delete(answer.id);
      if (answer.error !== undefined) waiting?.reject(new Error(answer.error));
      else waiting?.resolve(answer.messages ?? []);
    });
    worker.on('error', (error) => {
      for (const w of pending.values()) w.reject(error);
      pending.clear();
    });
    return worker;
  });
  let nextId = 0;
  let nextWorker = 0;
  const queues = workers.map(() => Promise.resolve() as Promise<unknown>);
  /** Runs a job on the next worker, after the jobs already queued there. */
  const run = (job: Job): Promise<Uint8Array[]> => {
    const k = nextWorker++ % workers.length;
    const id = nextId++;
    const result = (queues[k] as Promise<unknown>).then(
      () =>
        new Promise<Uint8Array[]>((resolve, reject) => {
          pending.set(id, { resolve, reject });
          (workers[k] as Worker).postMessage({ id, job });
        }),
    );
    queues[k] = result.catch(() => undefined);
    return result;
  };
  return {
    threads,
    updates: async (job) => {
      const chunk = Math.max(1, Math.ceil(job.participants.length / (threads * 8)));
      const parts: Promise<Uint8Array[]>[] = [];
      for (let at = 0; at < job.participants.length; at += chunk) {
        parts.push(
          run({
            kind: 'updates',
            params: job.params,
            sumDict: job.sumDict,
            participants: job.participants.slice(at, at + chunk),
            weights: job.weights,
            modelSeeds: job.modelSeeds.slice(at, at + chunk),
            scalars: job.scalars.slice(at, at + chunk),
          }),
        );
      }
      return (await Promise.all(parts)).flat();
    },
    sum2: async (job) => (await run({ kind: 'sum2', ...job }))[0] as Uint8Array,
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
