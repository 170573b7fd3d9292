/**
 * The coordinator's round lifecycle as plain data: where the coordinator is
 * (between rounds, in a phase, unmasking, shut down), the record of the round in progress and
 * how many messages each phase accepted. `transition(state, event)` (transition.ts) is a pure
 * function of this state and one event; it returns the next state and the effects the shell
 * (coordinator.ts) must apply: store writes, the phase timer, the round's opening and its
 * unmasking, metrics. The round's bulky data — dictionaries, the aggregate, the chunk
 * assembler, the round key pair — stays with the shell (round.ts): the reducer needs only the
 * counts to judge a phase (phase-timing.ts).
 *
 * Effects come in two kinds. Writes (`saveRound`, `endRound`) are applied before the new state
 * is committed: if one fails, the state stays as it was and the shell judges again later, so
 * the state never runs ahead of the store. Tasks (`openRound`, `restoreRound`, `unmask`) are
 * long or create the round's data; they run after the commit, so status shows 'unmask' while a
 * large model unmasks, and each reports back with an event (`roundStarted`, `restored`,
 * `unmasked`). A task that fails is simply asked for again by the next `tick`.
 */

import type { LivePhase, RoundRecord, RoundSummary } from '../store/coordinator-store.ts';

export type Phase = 'idle' | LivePhase | 'unmask' | 'shutdown';

export type Counts = Readonly<Record<LivePhase, number>>;

export const NO_COUNTS: Counts = { sum: 0, update: 0, sum2: 0 };

/** The round in progress as the reducer sees it. */
export interface RoundFacts {
  // SECURITY: the record holds the round secret key (the shell wipes it when the round ends, round.ts closeRound).
  readonly record: RoundRecord;
  /** Accepted messages per phase; `sum` is the size of the sum dictionary. */
  readonly counts: Counts;
}

interface Common {
  /** The id of the last round started (the next is one more). */
  readonly lastRoundId: number;
  /** No new round starts while paused (the round in progress runs to its end). */
  readonly paused: boolean;
}

export type CoordinatorState =
  /** Between rounds: the next starts at once unless paused (phases/idle.ts). */
  | (Common & { readonly kind: 'idle' })
  /** A persisted round was found at start-up and its data is being loaded (phases/idle.ts). */
  | (Common & { readonly kind: 'restoring'; readonly round: RoundFacts })
  /** Accepting messages of one phase, judged by count and time (phase-timing.ts). */
  | (Common & { readonly kind: LivePhase; readonly round: RoundFacts })
  /** The sum2 phase has ended; the winning mask is being applied (phases/unmask.ts). */
  | (Common & { readonly kind: 'unmask'; readonly round: RoundFacts; readonly startedAt: number })
  /** Stopped for good: no transitions, the round in progress stays in the store (phases/shutdown.ts). */
  | (Common & { readonly kind: 'shutdown'; readonly round?: RoundFacts });

export type InRoundState = Extract<CoordinatorState, { readonly kind: LivePhase }>;

export type CoordinatorEvent =
  /** The phase timer fired, or the shell wants the state judged again (after a failed write or task). */
  | { readonly type: 'tick'; readonly now: number }
  /** A message was accepted: the round's counts as the shell's mirror now holds them (also after a reload). */
  | { readonly type: 'accepted'; readonly counts: Counts; readonly now: number }
  /** The `openRound` task made the round and stored it. */
  | { readonly type: 'roundStarted'; readonly record: RoundRecord; readonly now: number }
  /** Start-up found this round in the store. */
  | { readonly type: 'found'; readonly record: RoundRecord; readonly now: number }
  /** The `restoreRound` task loaded the found round's data, or could not. */
  | { readonly type: 'restored'; readonly counts: Counts; readonly now: number }
  | { readonly type: 'restoreFailed'; readonly reason: string; readonly now: number }
  /** The `unmask` task ended: the global model is saved, or why the round fails. */
  | { readonly type: 'unmasked'; readonly outcome: UnmaskResult; readonly now: number }
  | { readonly type: 'pause' }
  | { readonly type: 'resume'; readonly now: number }
  | { readonly type: 'shutdown' };

export type UnmaskResult =
  | { readonly kind: 'completed' }
  | { readonly kind: 'failed'; readonly reason: string; readonly offenders?: readonly string[] };

export type Effect =
  // ---- writes: applied before the new state is committed ----
  /** Persist the record of a round whose phase changed. `ended` is the phase that just ended. */
  | { readonly kind: 'saveRound'; readonly record: RoundRecord; readonly ended: LivePhase }
  /** End the round: exclude `offenders` (and their subjects), then record the summary. */
  | { readonly kind: 'endRound'; readonly summary: RoundSummary; readonly offenders?: readonly string[] }
  // ---- tasks: run after the commit, each answered by an event ----
  | { readonly kind: 'openRound'; readonly roundId: number; readonly now: number }
  | { readonly kind: 'restoreRound'; readonly record: RoundRecord }
  | { readonly kind: 'unmask' }
  // ---- notices: timers and metrics, after the commit ----
  /** (Re)arm the phase timer: send a `tick` in `ms`. */
  | { readonly kind: 'wakeIn'; readonly ms: number }
  | { readonly kind: 'cancelTimer' }
  /** Drop incomplete multipart messages: the phase they belong to has ended. */
  | { readonly kind: 'dropChunks' }
  | { readonly kind: 'phaseEnded'; readonly phase: LivePhase | 'unmask'; readonly durationMs: number };

export interface Transition {
  readonly state: CoordinatorState;
  readonly effects: readonly Effect[];
}

export const WRITES: ReadonlySet<Effect['kind']> = new Set(['saveRound', 'endRound']);

/** The phase status and the phase token report (`restoring` reads as the phase being restored). */
export function phaseOf(state: CoordinatorState): Phase {
  return state.kind === 'restoring' ? state.round.record.phase : state.kind;
}

/** Whether the state accepts messages of its phase (and is judged by count and time). */
export function isAccepting(state: CoordinatorState): state is InRoundState {
  return state.kind === 'sum' || state.kind === 'update' || state.kind === 'sum2';
}

/** The round in progress, if any. */
export function roundOf(state: CoordinatorState): RoundFacts | undefined {
  return state.kind === 'idle' ? undefined : state.round;
}

export function assertNever(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}
