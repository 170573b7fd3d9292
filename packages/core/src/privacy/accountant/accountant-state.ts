/**
 * The accountant's persisted form: a versioned, structured-clonable ledger of events.
 *
 * ```text
 * { v: 1,
 *   orders: [1.1, 1.2, …, 1024],                       the RDP orders α (orders.ts)
 *   events: [{ mechanism: {kind: …, …}, count: 300 },   each: `count` releases of one mechanism
 *            …] }
 * ```
 *
 * The ledger keeps the events, not their summed RDP curve: anyone holding it (a participant, the
 * coordinator, an auditor) recomputes the same ε from the mechanisms' parameters, and a new version
 * of the code re-derives the curve rather than trusting a stored one. Events with the same
 * mechanism are merged (their counts add; RDP composition is a sum, Mironov 2017, Proposition 1),
 * so a run of many identical rounds stays one entry. Nothing in it is secret.
 *
 * `validateAccountantState` is the boundary for a ledger read back from storage or the network: it
 * lists every problem in one `PetError('invalid-field')`, and bounds every size and number first.
 */

import { type Mechanism, mechanismProblems } from './mechanism.ts';
import { orderProblems } from './orders.ts';
import { checkInteger, describeValue, throwProblems } from './parameters.ts';

export const ACCOUNTANT_STATE_VERSION = 1;

/** At most this many distinct mechanisms in one ledger. */
export const MAX_EVENTS = 4096;
/** At most this many releases of one mechanism (counts stay exact integers in float64). */
export const MAX_COUNT = Number.MAX_SAFE_INTEGER;

export interface AccountantEvent {
  readonly mechanism: Mechanism;
  /** How many times the mechanism ran (composed), a positive integer. */
  readonly count: number;
}

export interface AccountantState {
  readonly v: typeof ACCOUNTANT_STATE_VERSION;
  readonly orders: readonly number[];
  readonly events: readonly AccountantEvent[];
}

const STATE_KEYS = ['v', 'orders', 'events'];
const EVENT_KEYS = ['mechanism', 'count'];
/** Stop listing after this many problems: a hostile ledger should not make a huge message. */
const MAX_PROBLEMS = 20;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Everything wrong with a value that should be an AccountantState (at most MAX_PROBLEMS). */
export function accountantStateProblems(value: unknown): string[] {
  if (!isRecord(value)) return [`expected an object, got ${describeValue(value)}`];
  const problems: string[] = [];
  for (const key of Object.keys(value)) {
    if (!STATE_KEYS.includes(key)) problems.push(`${key}: not a field of the accountant state`);
  }
  if (value['v'] !== ACCOUNTANT_STATE_VERSION) {
    problems.push(`v: expected ${ACCOUNTANT_STATE_VERSION}, got ${describeValue(value['v'])}`);
    return problems;
  }
  problems.push(...orderProblems('orders', value['orders']));
  const events = value['events'];
  if (!Array.isArray(events)) {
    problems.push(`events: expected an array, got ${describeValue(events)}`);
  } else if (events.length > MAX_EVENTS) {
    problems.push(`events: expected at most ${MAX_EVENTS} events, got ${events.length}`);
  } else {
    for (const [i, event] of events.entries()) {
      if (problems.length >= MAX_PROBLEMS) break;
      const at = `events[${i}]`;
      if (!isRecord(event)) {
        problems.push(`${at}: expected an object, got ${describeValue(event)}`);
        continue;
      }
      for (const key of Object.keys(event)) {
        if (!EVENT_KEYS.includes(key)) problems.push(`${at}.${key}: not a field of an event`);
      }
      problems.push(...mechanismProblems(`${at}.mechanism`, event['mechanism']));
      const count = checkInteger(`${at}.count`, event['count'], 1, MAX_COUNT);
      if (count !== undefined) problems.push(count);
    }
  }
  return problems.slice(0, MAX_PROBLEMS);
}

/** Returns `value` as an AccountantState, or throws `PetError('invalid-field')` naming every problem. */
export function validateAccountantState(value: unknown): AccountantState {
  throwProblems('accountant state', accountantStateProblems(value));
  return value as AccountantState;
}
