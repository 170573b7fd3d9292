/**
 * The participant's tick loop (architecture.md §5.1): `step` until the signal aborts.
 *
 * After a 'complete' step the state is saved (when a store is given:
 * state-saver.ts, which writes a sending phase's payload once) and
 * reported through `onState`, and the next step follows at once — except a
 * step that only posted one more chunk: its record is written while the next
 * chunk is posted (`isProgress`; architecture.md §5.3). After a
 * 'pending' step the loop waits `pollMs`, doubling the wait up to
 * `maxPollMs` for as long as nothing changes — and where the client can
 * (`waitForPhaseChange`, a long poll), the wait ends early when the
 * coordinator's phase changes, so the participant hears of a new round or
 * phase within a round trip rather than at its next poll. A step that waits
 * for the coordinator's next phase itself (`StepResult.awaits`: a round to
 * start, the sum or seed dictionary, its round's end) waits `maxPollMs` at
 * once there — when the phase token shows the coordinator still before what
 * the step waits for, or a wait has ended on the token it began with and that
 * token does not show the awaited phase: stepping sooner would only read the
 * same answers again (`GET /params`, `/sums`), and the phase's change ends the
 * wait anyway. Where the token shows the awaited phase yet the step found
 * nothing (answers that lag the token), it keeps the short, doubling wait. A
 * participant that has just entered the wait for the sum dictionary or its
 * seeds while the token shows the sum phase waits before it steps at all. A sum participant
 * awaiting its seeds while the update phase runs steps every
 * `SEEDS_SO_FAR_POLL_MS` where it derives them early (ADR 0017), as long as
 * its reads bring new seeds: while they bring none, its wait doubles up to
 * `SEEDS_SO_FAR_MAX_POLL_MS`. Nothing the app injects can stop the loop (architecture.md §7.4): a
 * throwing callback, a failing store or an unexpected error is recorded as
 * `lastError` and the loop carries on. A step
 * that keeps throwing is retried with the same backoff, at most
 * `MAX_STEP_ATTEMPTS` times in a row: the last attempt gives its round up
 * (awaiting the next one), so no step is retried forever.
 * Stopping is the AbortSignal; the loop then resolves to the last state.
 */

import { movedOnWithinRound } from '@petfl/core';
import type { AbortSignalLike, Clock, StateStore, StepIo } from './io.ts';
import { LinkedSignal } from './linked-signal.ts';
import { seedsTakenEarly } from './phases/sum2.ts';
import { type ParticipantState, participantError } from './state.ts';
import { StateSaver } from './state-saver.ts';
import { step } from './step.ts';
import { callbackError } from './step-result.ts';

export const DEFAULT_STORE_KEY = 'petfl/participant-state';
/**
 * How many times in a row a step may throw an error it cannot classify before the round is
 * given up (the last attempt abandons it, step.ts). Transient coordinator failures are
 * 'pending', not throws, and permanent ones give the round up at the first attempt.
 */
export const MAX_STEP_ATTEMPTS = 3;
const DEFAULT_POLL_MS = 250;
const DEFAULT_MAX_POLL_MS = 5000;
/**
 * A long poll asks to be answered this share of its wait before the sleep it races ends, so that
 * it normally answers first: a poll that loses the race is aborted, and an aborted request
 * closes its connection (a new TCP connection for the next one).
 */
const LONG_POLL_LEAD = 0.2;
/**
 * The wait of a sum participant awaiting its seeds while the update phase runs, where the client
 * reads the seeds so far (ADR 0017): every update brings a seed, and each step derives the new
 * ones' masks, so that little is left to derive once the phase ends. After a read that brought a
 * new seed the wait is this short again: the update phase is the time there is to derive.
 */
const SEEDS_SO_FAR_POLL_MS = 250;
/**
 * The longest such wait: each read that brings no new seed doubles it up to this. A quiet update
 * phase (participants training for minutes) then costs a read every 2 s, not four a second, and
 * the seeds of a burst of updates after it are read at most this late; the phase's end still
 * wakes the participant at once (the long poll). A client without long polls does not back off:
 * its next read is what notices the phase's end.
 */
const SEEDS_SO_FAR_MAX_POLL_MS = 2000;
/** The longest wait one `GET /phase` is held for (the coordinator's and the client's cap, protocol.md §1.2). */
const MAX_LONG_POLL_MS = 30_000;

export interface RunParticipantOptions {
  readonly state: ParticipantState;
  readonly io: StepIo;
  /** Where every advanced state is saved (under `storeKey`; state-saver.ts). */
  readonly store?: StateStore;
  /** Default 'petfl/participant-state'. */
  readonly storeKey?: string;
  /**
   * Saves every advanced state instead of a saver of its own on `store` and `storeKey`: the
   * runtime passes the one that loaded the state, which knows the payload the store holds.
   */
  readonly saver?: StateSaver;
  readonly clock: Clock;
  readonly signal: AbortSignalLike;
  /** Called with every advanced state (after it is saved). */
  readonly onState?: (state: ParticipantState) => void;
  /** First wait after a 'pending' step (default 250 ms). */
  readonly pollMs?: number;
  /** Longest wait between steps while nothing changes (default 5000 ms). */
  readonly maxPollMs?: number;
}

/** Runs the participant until `signal` aborts; resolves to the last state. */
export async function runParticipant(options: RunParticipantOptions): Promise<ParticipantState> {
  const { io, store, clock, signal, onState } = options;
  const storeKey = options.storeKey ?? DEFAULT_STORE_KEY;
  const saver = options.saver ?? (store === undefined ? undefined : new StateSaver(store, storeKey, io.crypto));
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const maxPollMs = Math.max(pollMs, options.maxPollMs ?? DEFAULT_MAX_POLL_MS);
  let state = options.state;
  let delay = pollMs;
  let phaseToken = '';
  /** Waits `ms`, or until the phase changes; true when a long poll's answer ended the wait. */
  const wait = async (ms: number): Promise<boolean> => {
    const watch = io.client.waitForPhaseChange?.bind(io.client);
    if (watch === undefined) {
      await clock.sleep(ms, signal);
      return false;
    }
    // The sleep stays in the race: it is what the runtime wakes when the app hands in a model.
    // `racing` ends whichever loses: the sleep (its timer, its listener on `signal`) or the long
    // poll (its request). A token counts only from a poll that won: one that answers after the
    // race may name a phase the next step has not seen, and waiting on it would sleep through it.
    const racing = new LinkedSignal(signal);
    const sleep = clock.sleep(ms, racing);
    // With no task left in its round, only the round's end (or a failure, a restart…) matters:
    // the coordinator is asked not to answer at the round's later phases (protocol.md §1.2).
    const untilRound = awaitsRoundEnd(state);
    const after = phaseToken;
    const pollMs = ms * (1 - LONG_POLL_LEAD);
    const asked = clock.now();
    const changed = Promise.resolve()
      .then(() => watch(after, pollMs, racing, untilRound))
      .then<boolean | undefined, undefined>(
        (token) => {
          if (token === undefined) {
            phaseToken = ''; // no long polls here (any more): a token kept would look current
            return sleep.then(() => undefined);
          }
          if (racing.aborted) return false;
          phaseToken = token;
          // The token it was asked about, answered well before the wait: the poll was not held (a
          // coordinator holding all the polls it may answers so, protocol.md §1.2). The sleep ends
          // this wait, as without long polls, rather than a step and a poll in a tight loop.
          const held = Math.min(pollMs, MAX_LONG_POLL_MS);
          if (token === after && clock.now() - asked < held / 2) return sleep.then(() => false);
          return true;
        },
        // the long poll failed or was ended: just sleep; the next step reports what is wrong
        () => sleep.then(() => undefined),
      );
    try {
      return (await Promise.race([sleep, changed])) === true;
    } finally {
      racing.abort();
    }
  };

  /**
   * A chunk's progress record being written while the next chunk is posted (see `advance`): it
   * settles to the error it failed with, or undefined.
   */
  let writing: Promise<unknown> | undefined;
  const storeFailed = (error: unknown, roundId: number | undefined) => ({
    ...participantError(error, roundId),
    code: 'store-failed',
  });

  const advance = async (next: ParticipantState): Promise<void> => {
    const before = state;
    state = next;
    const roundId = state.round?.roundId;
    // One write at a time, in order: the store's last record is always the newest state.
    const earlier = writing === undefined ? undefined : await writing;
    writing = undefined;
    if (earlier !== undefined) state = { ...state, lastError: storeFailed(earlier, roundId) };
    if (saver !== undefined && earlier === undefined && isProgress(before, next)) {
      // Only the chunk index moved: the next chunk is posted while this record is written. A
      // restart from the record before re-posts one chunk, which the coordinator accepts again
      // and which changes nothing (protocol.md §3.7, sending.ts).
      writing = saver.save(next).then(
        () => undefined,
        (error: unknown) => error ?? new Error('the store failed without a reason'),
      );
    } else if (saver !== undefined) {
      try {
        await saver.save(state);
      } catch (error) {
        const failed = storeFailed(error, roundId);
        // A round charged to the privacy ledger (docs/privacy.md §3) is sent only once the charge
        // is saved: otherwise a restart would forget it and the participant's ε limit could be passed.
        state =
          next.privacyLedger !== before.privacyLedger
            ? {
                ...before,
                phase: { kind: 'awaiting' },
                lastError: {
                  ...failed,
                  message: `the round's privacy charge could not be saved, its update is not sent: ${failed.message}`,
                },
              }
            : { ...state, lastError: failed };
      }
    }
    try {
      onState?.(state);
    } catch (error) {
      state = { ...state, lastError: callbackError('onState', error, roundId) };
    }
  };

  /** Seeds the sum task had taken at the last wait (while deriving them early; -1 otherwise). */
  let seedsTaken = -1;
  /** The next wait while deriving early: `delay` has doubled since the last one. */
  const seedsWait = ({ phase }: ParticipantState): number => {
    const taken = phase.kind === 'sum2' ? seedsTakenEarly(phase) : 0;
    // Backing off only where a long poll ends the wait at the phase's end (a token from one):
    // without it the next step is what notices the end, and it stays SEEDS_SO_FAR_POLL_MS away.
    const backOff = taken === seedsTaken && phaseToken !== '';
    seedsTaken = taken;
    return backOff
      ? Math.min(Math.max(pollMs, SEEDS_SO_FAR_MAX_POLL_MS), delay)
      : Math.max(pollMs, SEEDS_SO_FAR_POLL_MS);
  };

  let failures = 0;
  let advanced = false;
  /** The last step was pending until the coordinator's next phase (StepResult.awaits). */
  let awaitsPhase = false;
  /**
   * A long poll ended the last wait with the phase token the wait began with (or with one the
   * state has no part in, `movedOnWithout`): the coordinator is where the last step saw it.
   */
  let phaseHeld = false;
  /** A long poll ended the last wait on a token of the state's round, in the same or a later phase. */
  let roundHeld = false;
  while (!signal.aborted) {
    // The step before completed: the round it read (or went on with) is current enough for this
    // one (step.ts). So is the state's round when a long poll ended the last wait on a token of
    // that round: the phase is the same, or a later one of the same round.
    const roundJustRead = advanced || roundHeld;
    advanced = false;
    awaitsPhase = false;
    try {
      const lastAttempt = failures + 1 >= MAX_STEP_ATTEMPTS;
      const result = await step(state, io, { lastAttempt, signal, roundJustRead });
      failures = 0;
      if (result.kind === 'complete') {
        await advance(result.state);
        advanced = true;
      } else awaitsPhase = result.awaits === 'phase';
    } catch (error) {
      if (signal.aborted) break;
      // Not a protocol outcome (those are state already): report it and try again later — at
      // most MAX_STEP_ATTEMPTS times in a row; the last attempt gives the round up.
      failures++;
      await advance({ ...state, lastError: participantError(error, state.round?.roundId) });
    }
    if (advanced) {
      delay = pollMs;
      // Straight to the wait where the token says a step could only find nothing yet: the sum
      // dictionary, or the seeds, during the sum phase.
      if (!sumPhaseHolds(state, phaseToken)) continue;
      awaitsPhase = true;
      advanced = false; // the step after this wait reads /params unless the wait says otherwise
    }
    for (;;) {
      const before = phaseToken;
      let ms = delay;
      if (derivesSeedsSoFar(state, io, phaseToken)) ms = delay = seedsWait(state);
      else {
        seedsTaken = -1;
        // Nothing comes before the next phase, and a long poll wakes the loop at it: one long
        // wait rather than steps that read the same answers again (see the module comment).
        const stillBefore = phaseStillBefore(state, phaseToken);
        const held = phaseHeld && !awaitedPhaseShown(state, phaseToken);
        if (awaitsPhase && phaseToken !== '' && (stillBefore || held)) ms = maxPollMs;
      }
      const answered = await wait(ms);
      if (ms === delay) delay = Math.min(maxPollMs, delay * 2);
      const movedOn = movedOnWithout(state, before, phaseToken);
      phaseHeld = answered && (phaseToken === before || movedOn);
      roundHeld =
        answered &&
        tokenOfRound(state, phaseToken) &&
        (phaseToken === before || movedOnWithinRound(before, phaseToken));
      if (signal.aborted || !movedOn) break;
    }
  }
  // The last chunk's progress record, if still being written: the state is saved when this returns.
  const last = writing === undefined ? undefined : await writing;
  if (last !== undefined) state = { ...state, lastError: storeFailed(last, state.round?.roundId) };
  return state;
}

/**
 * True when `next` only moves `before`'s sending phase on by one chunk of the same payload (the
 * payload is in the store already): nothing a restart could not redo.
 */
function isProgress(before: ParticipantState, next: ParticipantState): boolean {
  const a = before.phase;
  const b = next.phase;
  return (
    a.kind === 'sending' &&
    b.kind === 'sending' &&
    a.payload === b.payload &&
    b.next === a.next + 1 &&
    before.round === next.round &&
    before.privacyLedger === next.privacyLedger &&
    before.lastError === next.lastError
  );
}

/**
 * True when the participant is a sum participant awaiting its seeds, its client reads the seeds so
 * far, and the coordinator's phase (as the last long poll told; unknown without them) is its
 * round's update phase.
 */
function derivesSeedsSoFar(state: ParticipantState, io: StepIo, phaseToken: string): boolean {
  if (state.phase.kind !== 'sum2' || io.client.getSeedsSoFar === undefined) return false;
  return phaseToken === '' || phaseToken === `${state.round?.roundId}.update`;
}

/**
 * True when `token` (protocol.md §1.2) shows the coordinator in a phase before the one a step of
 * `state` that awaits the next phase waits for: its round's sum phase while it waits for the sum
 * dictionary (update), its sum or update phase while it waits for its seeds (sum2), any phase of
 * its round while it waits for that round's end (awaiting).
 */
function phaseStillBefore(state: ParticipantState, token: string): boolean {
  const roundId = state.round?.roundId;
  if (roundId === undefined) return false;
  switch (state.phase.kind) {
    case 'update':
      return token === `${roundId}.sum`;
    case 'sum2':
      return token === `${roundId}.sum` || token === `${roundId}.update`;
    case 'awaiting':
      return tokenOfRound(state, token);
    default:
      return false;
  }
}

/**
 * True when `token` shows the phase a step of `state` that awaits the next phase waits for — its
 * round's update phase or later for the sum dictionary, its Sum2 for its seeds, another round for
 * its round's end — although the step found nothing: answers that lag the token, which a long
 * wait would sleep through.
 */
function awaitedPhaseShown(state: ParticipantState, token: string): boolean {
  const roundId = state.round?.roundId;
  if (roundId === undefined) return false;
  switch (state.phase.kind) {
    case 'update':
      return movedOnWithinRound(`${roundId}.sum`, token);
    case 'sum2':
      return token === `${roundId}.sum2`;
    case 'awaiting':
      return !tokenOfRound(state, token);
    default:
      return false;
  }
}

/**
 * True when `token` shows the sum phase of the state's round while the state waits for what only a
 * later phase brings: the sum dictionary (update), the seeds (sum2).
 */
function sumPhaseHolds(state: ParticipantState, token: string): boolean {
  const kind = state.phase.kind;
  return (kind === 'update' || kind === 'sum2') && token === `${state.round?.roundId}.sum`;
}

/** True when phase token `token` names the state's round (protocol.md §1.2). */
function tokenOfRound(state: ParticipantState, token: string): boolean {
  return state.round !== undefined && token.startsWith(`${state.round.roundId}.`);
}

/** True when the participant has no task left in its round and awaits the round's end. */
function awaitsRoundEnd(state: ParticipantState): boolean {
  return state.phase.kind === 'awaiting' && state.round !== undefined;
}

/**
 * True when the coordinator's phase moved from `before` to `after` (phase tokens, protocol.md
 * §1.2) in a way a participant in `state` has no part in: it awaits the end of the round whose
 * id both name, and the phase went on to a later one of that round (sum → update → sum2; core's
 * `movedOnWithinRound`) — which a coordinator that knows `until=round` does not even answer.
 * The step, and its `GET /params`, are skipped: at a thousand participants that is a thousand
 * requests at the start of Sum2, the round's critical path. Any other change — a new round, a
 * failure, `idle`, a jump back (a coordinator restarted afresh) — is stepped on.
 */
function movedOnWithout(state: ParticipantState, before: string, after: string): boolean {
  return awaitsRoundEnd(state) && before.startsWith(`${state.round?.roundId}.`) && movedOnWithinRound(before, after);
}
