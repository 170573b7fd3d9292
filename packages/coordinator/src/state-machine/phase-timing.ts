/**
 * Phase timing (protocol.md §1.3): each of the sum, update and sum2 phases has
 * `{count: {min, max}, time: {min, max}}`. Messages are accepted while fewer
 * than count.max are in; the phase ends as soon as count.max are in, or once
 * time.min has passed with at least count.min in; if count.min is still not
 * reached when time.max has passed, the round fails.
 *
 * This is a pure function of the settings, the count and the elapsed time, so
 * the coordinator can re-judge a phase after every accepted message, on every
 * timer, and after a restart (elapsed time counts from the persisted phase start).
 */

import type { PhaseSettings } from '../settings.ts';

export type PhaseVerdict =
  /** Keep accepting; judge again at `wakeAtMs` (elapsed) at the latest. */
  | { readonly kind: 'open'; readonly wakeAtMs: number }
  | { readonly kind: 'end' }
  | { readonly kind: 'fail'; readonly reason: string };

export function judgePhase(phase: string, settings: PhaseSettings, count: number, elapsedMs: number): PhaseVerdict {
  const { count: c, time: t } = settings;
  if (count >= c.max) return { kind: 'end' };
  if (elapsedMs >= t.minMs && count >= c.min) return { kind: 'end' };
  if (elapsedMs >= t.maxMs) {
    return {
      kind: 'fail',
      reason: `${phase} phase timed out: ${count} message${count === 1 ? '' : 's'} accepted, at least ${c.min} needed within ${t.maxMs} ms`,
    };
  }
  return { kind: 'open', wakeAtMs: elapsedMs < t.minMs ? t.minMs : t.maxMs };
}
