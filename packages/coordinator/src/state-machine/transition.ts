/**
 * The round reducer (ADR 0008): `transition(state, event)` returns the next
 * state and the effects that take the store, the timers and the round's data there (state.ts
 * says which are applied before the state is committed and which after). Pure: time comes in the
 * events, randomness and I/O stay in the shell (coordinator.ts), so every path of the round
 * lifecycle is a table test (transition.test.ts).
 *
 * After every event the state is *settled*: idle asks for the next round; an accepting phase is
 * judged by count and time (phase-timing.ts) — it stays open (and the timer is set for when the
 * verdict can next change), ends (the next phase begins and is judged in turn) or fails the
 * round (back to idle, which asks for the next round).
 */

import { judgePhase } from './phase-timing.ts';
import { failRound } from './phases/failure.ts';
import { found, roundStarted, startNext } from './phases/idle.ts';
import { shutDown } from './phases/shutdown.ts';
import { endSum } from './phases/sum.ts';
import { endSum2, sum2Rules } from './phases/sum2.ts';
import { unmasked } from './phases/unmask.ts';
import { endUpdate } from './phases/update.ts';
import {
  assertNever,
  type CoordinatorEvent,
  type CoordinatorState,
  type Effect,
  isAccepting,
  type Transition,
} from './state.ts';

export function transition(state: CoordinatorState, event: CoordinatorEvent): Transition {
  if (state.kind === 'shutdown') return { state, effects: [] };
  switch (event.type) {
    case 'shutdown':
      return shutDown(state);
    case 'pause':
      return { state: { ...state, paused: true }, effects: [] };
    case 'resume':
      return settle({ state: { ...state, paused: false }, effects: [] }, event.now);
    case 'tick':
      return settle({ state, effects: [] }, event.now);
    case 'accepted':
      if (!isAccepting(state)) return { state, effects: [] };
      return settle({ state: { ...state, round: { ...state.round, counts: event.counts } }, effects: [] }, event.now);
    case 'roundStarted':
      if (state.kind !== 'idle') return { state, effects: [] };
      return settle({ state: roundStarted(state, event.record), effects: [] }, event.now);
    case 'found':
      if (state.kind !== 'idle') return { state, effects: [] };
      return settle(found(state, event.record, event.now), event.now);
    case 'restored':
      if (state.kind !== 'restoring') return { state, effects: [] };
      return settle(
        {
          state: { ...state, kind: state.round.record.phase, round: { ...state.round, counts: event.counts } },
          effects: [],
        },
        event.now,
      );
    case 'restoreFailed':
      if (state.kind !== 'restoring') return { state, effects: [] };
      return settle(failRound(state, event.reason, event.now), event.now);
    case 'unmasked':
      if (state.kind !== 'unmask') return { state, effects: [] };
      return settle(unmasked(state, event.outcome, event.now), event.now);
    default:
      return assertNever(event);
  }
}

/** Judges the state until it waits: for a message or the timer, a task, or the operator (paused). */
export function settle(from: Transition, now: number): Transition {
  let { state } = from;
  const effects: Effect[] = [...from.effects];
  for (;;) {
    switch (state.kind) {
      case 'idle':
        // A fresh round is asked for once, after whatever ended the last one.
        if (!effects.some((e) => e.kind === 'openRound')) effects.push(...startNext(state, now));
        return { state, effects };
      case 'restoring':
        // Waiting for the restoreRound task; a tick after it failed asks again.
        if (!effects.some((e) => e.kind === 'restoreRound')) {
          effects.push({ kind: 'restoreRound', record: state.round.record });
        }
        return { state, effects };
      case 'unmask':
        // Waiting for the unmask task; a tick after it failed (a store error) asks again.
        if (!effects.some((e) => e.kind === 'unmask')) effects.push({ kind: 'unmask' });
        return { state, effects };
      case 'shutdown':
        return { state, effects };
      case 'sum':
      case 'update':
      case 'sum2': {
        const { record, counts } = state.round;
        const rules = state.kind === 'sum2' ? sum2Rules(record.pet.sum2, counts.sum) : record.pet[state.kind];
        const elapsed = now - record.phaseStartedAt;
        const verdict = judgePhase(state.kind, rules, counts[state.kind], elapsed);
        let next: Transition;
        if (verdict.kind === 'open') {
          effects.push({ kind: 'wakeIn', ms: record.phaseStartedAt + verdict.wakeAtMs - now });
          return { state, effects };
        }
        if (verdict.kind === 'fail') next = failRound(state, verdict.reason, now);
        else if (state.kind === 'sum') next = endSum(state, now);
        else if (state.kind === 'update') next = endUpdate(state, now);
        else next = endSum2(state, now);
        state = next.state;
        effects.push(...next.effects);
        break;
      }
      default:
        return assertNever(state);
    }
  }
}
