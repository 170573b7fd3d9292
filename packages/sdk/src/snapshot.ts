/**
 * What a participant shows the app (architecture.md §5.2, §7.4): an
 * `Observable` with `subscribe(listener) → unsubscribe` and `getSnapshot()`,
 * the shape React's `useSyncExternalStore` reads. A snapshot is immutable and
 * stable: `getSnapshot()` returns the same object until a field changes, so
 * a UI re-renders only when something it shows changed.
 *
 * Snapshots carry no secrets: the identity appears only as its public key.
 */

import { toBase64Url } from '@petfl/core';
import type { ParticipantState } from './state-machine/state.ts';

export interface ParticipantSnapshot {
  /** The identity public key, base64url (protocol.md §3.1). */
  readonly participantPk: string;
  readonly phase: 'new-round' | 'awaiting' | 'sum' | 'update' | 'sum2' | 'sending' | 'stopped';
  /** This round's task (protocol.md §2); 'none' before one is selected or when there is none. */
  readonly task: 'sum' | 'update' | 'none';
  readonly roundId: number | null;
  /** True while the app trains (ParticipantABC.trainRound runs). */
  readonly training: boolean;
  /** Request body bytes sent to the coordinator so far (by this run; not restored). */
  readonly bytesSent: number;
  /** The latest error: a round error, a callback that threw, a rejected model; null before any. */
  readonly lastError: {
    readonly code: string;
    readonly message: string;
    readonly roundId: number | null;
  } | null;
}

export type SnapshotError = NonNullable<ParticipantSnapshot['lastError']>;

export interface Observable {
  /** Calls `listener` after every snapshot change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
  getSnapshot(): ParticipantSnapshot;
}

/** The task a phase belongs to; 'awaiting' keeps the task it came from within the same round. */
export function taskOf(
  state: ParticipantState,
  previous: Pick<ParticipantSnapshot, 'task' | 'roundId'> | undefined,
): ParticipantSnapshot['task'] {
  const { phase } = state;
  switch (phase.kind) {
    case 'sum':
    case 'sum2':
      return 'sum';
    case 'update':
      return 'update';
    case 'sending':
      return phase.tag === 'update' ? 'update' : 'sum';
    case 'awaiting':
      return previous !== undefined && previous.roundId === (state.round?.roundId ?? null) ? previous.task : 'none';
    default:
      return 'none';
  }
}

export function participantPkOf(state: ParticipantState): string {
  return toBase64Url(state.identity.publicKey);
}

/** Field-by-field equality: the test for handing out the previous snapshot object again. */
export function sameSnapshot(a: ParticipantSnapshot, b: ParticipantSnapshot): boolean {
  return (
    a.participantPk === b.participantPk &&
    a.phase === b.phase &&
    a.task === b.task &&
    a.roundId === b.roundId &&
    a.training === b.training &&
    a.bytesSent === b.bytesSent &&
    sameError(a.lastError, b.lastError)
  );
}

/** Field-by-field equality of two snapshot errors (either may be null). */
export function sameError(a: SnapshotError | null, b: SnapshotError | null): boolean {
  return (
    a === b || (a !== null && b !== null && a.code === b.code && a.message === b.message && a.roundId === b.roundId)
  );
}
