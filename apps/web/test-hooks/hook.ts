/**
 * The participant page's test-only hook, `window.__petfl` (set once the page
 * has joined, with `data-testid="ready"`): what e2e tests read to check the
 * federation end to end without scraping the page.
 *
 * Loaded by src/participant/main.ts (through ./index.ts) only in the dev
 * server and in e2e builds (`vite build --mode e2e`): a production build of
 * the demo contains none of it.
 */

import type { ParticipantHandle, ParticipantSnapshot } from '@petfl/sdk';
import type { BackendSelection } from '@petfl/tfjs';
import { type PageTimings, type PhaseStep, type RoundError, type RoundUpload, SnapshotRecorder } from './records.ts';

export interface SubmittedModel {
  /** The round whose update task this local model was trained for. */
  readonly roundId: number;
  /** The participant's scalar: its number of local examples. */
  readonly scalar: number;
  /**
   * The local model handed to the SDK (the flat weights, `modelToVector` order); in a training
   * run the vector the run's layout asks for (src/participant/run-contribution.ts). A copy, kept
   * as it was sent (no conversion to a number array on the page's main thread); empty when the
   * page was told to keep none (`hookStorage=none`).
   */
  readonly model: Float32Array;
}

export interface GlobalModelSeen {
  /** The round that produced the global model (protocol.md §3.10). */
  readonly roundId: number;
  /** Its accuracy on the held-out test set (1000 digits), 0..1. */
  readonly accuracy: number;
}

export interface PetflPageHook {
  snapshot(): ParticipantSnapshot;
  readonly submitted: SubmittedModel[];
  readonly globalModels: GlobalModelSeen[];
  readonly backend: string;
  /** How the backend was chosen: the training-step timings, the backends not taken and why. */
  readonly backendSelection: BackendSelection;
  /** TensorFlow.js's tensor bookkeeping (`tf.memory()`): a count that grows round after round is a leak. */
  memory(): { readonly numTensors: number; readonly numBytes: number };
  /** Milestones since navigation start (records.ts). */
  readonly timings: PageTimings;
  /** Bytes sent per round and task (records.ts). */
  readonly uploads: readonly RoundUpload[];
  /** Every error the snapshot showed, with its round (records.ts). */
  readonly errors: readonly RoundError[];
  /** Each change of round, phase, task or training, timed (records.ts). */
  readonly steps: readonly PhaseStep[];
}

declare global {
  interface Window {
    __petfl?: PetflPageHook;
  }
}

/**
 * The local models this tab handed to the SDK, for tests (`window.__petfl.submitted`). The last
 * few are kept in sessionStorage: a reload between training and sending (the SDK then resumes
 * sending from IndexedDB) must not lose the record a test compares the global model against.
 * Only models of up to SUBMITTED_SAVED_BYTES: sessionStorage holds a few MB an origin, and
 * encoding a million-weight model for it would be long main-thread work that no test reads.
 */
const SUBMITTED_KEY = 'petfl-submitted';
const SUBMITTED_KEPT = 3;
const SUBMITTED_SAVED_BYTES = 1 << 20;
/**
 * `hookStorage=memory` in the page's URL: keep the record in memory only; `hookStorage=none`: keep
 * the round and scalar of each local model but not the model. The benchmark asks for `none`
 * (e2e/bench.ts), which measures the page's main thread: writing a 100 KB model into sessionStorage
 * in the SDK's callback took up to 425 ms there, and even the in-memory copy of a million-weight
 * model was one of the page's longest tasks — costs the shipped page does not have.
 */
const HOOK_STORAGE = new URLSearchParams(location.search).get('hookStorage');
const PERSIST_SUBMITTED = HOOK_STORAGE !== 'memory' && HOOK_STORAGE !== 'none';
const KEEP_MODELS = HOOK_STORAGE !== 'none';
const submitted: SubmittedModel[] = PERSIST_SUBMITTED ? loadSubmitted() : [];

function loadSubmitted(): SubmittedModel[] {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SUBMITTED_KEY) ?? '[]') as {
      roundId: number;
      scalar: number;
      model: string;
    }[];
    return saved.map(({ roundId, scalar, model }) => {
      const bytes = Uint8Array.from(atob(model), (c) => c.charCodeAt(0));
      return { roundId, scalar, model: new Float32Array(bytes.buffer) };
    });
  } catch {
    return []; // nothing saved, or storage unavailable: start afresh
  }
}

/**
 * Records a local model the page is about to hand to the SDK: keeps a copy of `entry.model` (the
 * page hands the array itself over, so it is empty once the SDK has taken it).
 */
export function rememberSubmitted(entry: SubmittedModel): void {
  const vector = KEEP_MODELS ? entry.model.slice() : new Float32Array(0);
  submitted.push({ roundId: entry.roundId, scalar: entry.scalar, model: vector });
  if (!PERSIST_SUBMITTED || vector.byteLength > SUBMITTED_SAVED_BYTES) return;
  try {
    const saved = JSON.parse(sessionStorage.getItem(SUBMITTED_KEY) ?? '[]') as unknown[];
    const bytes = new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    saved.push({ roundId: entry.roundId, scalar: entry.scalar, model: btoa(binary) });
    sessionStorage.setItem(SUBMITTED_KEY, JSON.stringify(saved.slice(-SUBMITTED_KEPT)));
  } catch {
    // storage full or unavailable: the in-memory record stands
  }
}

/** What the page hands the hook once its participant has joined. */
export interface PageHookSources {
  readonly handle: ParticipantHandle;
  /** The page's own list (it keeps adding to it): the global models it scored. */
  readonly globalModels: GlobalModelSeen[];
  readonly backend: string;
  readonly backendSelection: BackendSelection;
  memory(): { readonly numTensors: number; readonly numBytes: number };
}

/**
 * Starts recording the joined participant's snapshots (records.ts) and sets
 * `window.__petfl`. Call it right after the participant is spawned: the
 * join time is taken here.
 */
export function installPageHook({ handle, globalModels, backend, backendSelection, memory }: PageHookSources): void {
  const recorder = new SnapshotRecorder();
  recorder.joined();
  const record = () => recorder.record(handle.getSnapshot());
  handle.subscribe(record);
  record();
  window.__petfl = {
    snapshot: () => handle.getSnapshot(),
    submitted,
    globalModels,
    backend,
    backendSelection,
    memory,
    timings: recorder.timings,
    uploads: recorder.uploads,
    errors: recorder.errors,
    steps: recorder.steps,
  };
}
