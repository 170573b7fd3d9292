/**
 * What the participant page records for tests and benchmarks from its
 * participant's snapshots: when it first joined, saw a round, had a task and
 * sent bytes (ms since navigation start, `performance.now()`), and each
 * request it sent: the SDK refreshes the snapshot after every POST, so each
 * growth of `bytesSent` is one message (or chunk), credited to that
 * snapshot's round and task, numbered within them (`seq`: for a sum task, 0
 * is the sum message and later ones the sum2 message), and each change of
 * its round, phase, task or training flag (`steps`).
 */

import type { ParticipantSnapshot } from '@petfl/sdk';

export interface PageTimings {
  /** The participant was spawned (its loop running). */
  joinedMs: number | null;
  /** The first snapshot with a round id: the participant knows the round. */
  firstRoundMs: number | null;
  /** The first snapshot with a task (sum or update) in a round. */
  firstTaskMs: number | null;
  /** The first snapshot with bytes sent: its first message went out. */
  firstSentMs: number | null;
}

export interface RoundUpload {
  readonly roundId: number;
  readonly task: ParticipantSnapshot['task'];
  /** 0 for the first request of this round and task, then 1, 2 … */
  readonly seq: number;
  readonly bytes: number;
  /** When the snapshot showed it sent (ms since navigation start). */
  readonly atMs: number;
}

/** A change of the snapshot's round, phase, task or training flag (ms since navigation start). */
export interface PhaseStep {
  readonly atMs: number;
  readonly roundId: number | null;
  readonly phase: ParticipantSnapshot['phase'];
  readonly task: ParticipantSnapshot['task'];
  readonly training: boolean;
}

/** An error the snapshot showed (each new `lastError`), with the round it concerns. */
export interface RoundError {
  readonly roundId: number | null;
  readonly code: string;
  readonly message: string;
  /** The snapshot's round and task when it showed. */
  readonly inRound: number | null;
  readonly task: ParticipantSnapshot['task'];
}

export class SnapshotRecorder {
  readonly timings: PageTimings = { joinedMs: null, firstRoundMs: null, firstTaskMs: null, firstSentMs: null };
  readonly uploads: RoundUpload[] = [];
  readonly errors: RoundError[] = [];
  /** Each change of round, phase, task or training, for timing a round from the page's side. */
  readonly steps: PhaseStep[] = [];
  #bytesSent = 0;
  #lastError: ParticipantSnapshot['lastError'] = null;

  joined(): void {
    this.timings.joinedMs ??= performance.now();
  }

  record(s: ParticipantSnapshot): void {
    const now = performance.now();
    if (s.roundId !== null) this.timings.firstRoundMs ??= now;
    if (s.roundId !== null && s.task !== 'none') this.timings.firstTaskMs ??= now;
    if (s.bytesSent > 0) this.timings.firstSentMs ??= now;
    if (s.lastError !== null && s.lastError !== this.#lastError) {
      const { roundId, code, message } = s.lastError;
      this.errors.push({ roundId, code, message, inRound: s.roundId, task: s.task });
    }
    this.#lastError = s.lastError;
    const last = this.steps[this.steps.length - 1];
    if (
      last === undefined ||
      last.roundId !== s.roundId ||
      last.phase !== s.phase ||
      last.task !== s.task ||
      last.training !== s.training
    ) {
      this.steps.push({ atMs: now, roundId: s.roundId, phase: s.phase, task: s.task, training: s.training });
    }
    const sent = s.bytesSent - this.#bytesSent;
    this.#bytesSent = s.bytesSent;
    if (sent <= 0 || s.roundId === null) return;
    const seq = this.uploads.filter((u) => u.roundId === s.roundId && u.task === s.task).length;
    this.uploads.push({ roundId: s.roundId, task: s.task, seq, bytes: sent, atMs: now });
  }
}
