/**
 * The participant page's test-only hook, `window.__petfl` (set once the page
 * has joined, with `data-testid="ready"`): what e2e tests read to check the
 * federation end to end without scraping the page.
 */

import type { ParticipantSnapshot } from '@petfl/sdk';
import type { PageTimings, RoundUpload } from './records.ts';

export interface SubmittedModel {
  /** The round whose update task this local model was trained for. */
  readonly roundId: number;
  /** The participant's scalar: its number of local examples. */
  readonly scalar: number;
  /** The local model handed to the SDK (the flat weights, `modelToVector` order). */
  readonly model: number[];
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
  /** TensorFlow.js's tensor bookkeeping (`tf.memory()`): a count that grows round after round is a leak. */
  memory(): { readonly numTensors: number; readonly numBytes: number };
  /** Milestones since navigation start (records.ts). */
  readonly timings: PageTimings;
  /** Bytes sent per round and task (records.ts). */
  readonly uploads: readonly RoundUpload[];
}

declare global {
  interface Window {
    __petfl?: PetflPageHook;
  }
}
