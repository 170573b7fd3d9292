/**
 * The participant page's test-only hook, `window.__petfl` (set once the page
 * has joined, with `data-testid="ready"`): what e2e tests read to check the
 * federation end to end without scraping the page.
 */

import type { ParticipantSnapshot } from '@petfl/sdk';

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
}

declare global {
  interface Window {
    __petfl?: PetflPageHook;
  }
}
