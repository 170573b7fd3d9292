/**
 * `spawnParticipant` and `spawnAsyncParticipant` in Worker mode (architecture.md §5.4):
 * the same functions, options and handles as the main entry's, with the
 * participant's runtime in a dedicated module Worker (worker-runtime.ts).
 * The extra options say where the Worker script is (create-worker.ts).
 *
 * Differences from direct mode, all about what cannot cross to a Worker:
 * without `store` the state goes to IndexedDB *in the Worker* (encrypted at
 * rest, `idbStateStore()`); a `store`, `fetch` or `logger` the app passes is
 * called on the main thread for the Worker. Errors the app sees keep their
 * classes and codes.
 */

import { type SpawnedAsyncParticipant, spawnAsyncParticipantWith } from '../async-participant.ts';
import type { ParticipantOptions } from '../options.ts';
import type { ParticipantABC } from '../participant-abc.ts';
import { type ParticipantHandle, spawnParticipantWith } from '../spawn-participant.ts';
import type { WorkerSource } from './create-worker.ts';
import { workerRuntimeFactory } from './worker-runtime.ts';

export interface WorkerParticipantOptions extends ParticipantOptions, WorkerSource {}

/** As `spawnParticipant` of `@petfl/sdk`; the protocol runs in a Worker, the app's methods here. */
export function spawnParticipant<TInput, TResult>(
  coordinatorUrl: string,
  participant: ParticipantABC<TInput, TResult>,
  options?: WorkerParticipantOptions,
): Promise<ParticipantHandle> {
  const { source, rest } = split(options);
  return spawnParticipantWith(workerRuntimeFactory(source), coordinatorUrl, participant, rest);
}

/** As `spawnAsyncParticipant` of `@petfl/sdk`; the protocol runs in a Worker, the model cache here. */
export function spawnAsyncParticipant(
  coordinatorUrl: string,
  options?: WorkerParticipantOptions,
): Promise<SpawnedAsyncParticipant> {
  const { source, rest } = split(options);
  return spawnAsyncParticipantWith(workerRuntimeFactory(source), coordinatorUrl, rest);
}

function split(options: WorkerParticipantOptions | undefined): { source: WorkerSource; rest?: ParticipantOptions } {
  if (options === undefined) return { source: {} };
  const { workerUrl, createWorker, ...rest } = options;
  return {
    source: {
      ...(workerUrl === undefined ? {} : { workerUrl }),
      ...(createWorker === undefined ? {} : { createWorker }),
    },
    rest,
  };
}
