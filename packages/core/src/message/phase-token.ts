/**
 * The coordinator's phase token (protocol.md §1.2), `<round id>.<phase>`: what `GET /phase`
 * answers. Within a round the phase moves on sum → update → sum2 (unmasking is part of sum2);
 * `idle` and `shutdown`, and the round id `-` while no round runs, are outside that order.
 */

/** The phases of a round, in the order a round goes through them. */
const ROUND_PHASES = ['sum', 'update', 'sum2'] as const;

/**
 * True when token `after` is a later phase of the same round as token `before` (`7.sum` →
 * `7.update`, `7.update` → `7.sum2`, `7.sum` → `7.sum2`): a move a participant with no task left
 * in that round has no part in. Every other pair is false: the same token, a new round, a jump
 * back (a coordinator restarted afresh), `idle`, `shutdown`, no round (`-`), or a malformed token.
 */
export function movedOnWithinRound(before: string, after: string): boolean {
  const b = before.lastIndexOf('.');
  const a = after.lastIndexOf('.');
  if (b <= 0 || a <= 0) return false;
  const round = before.slice(0, b);
  if (round === '-' || after.slice(0, a) !== round) return false;
  const from = ROUND_PHASES.indexOf(before.slice(b + 1) as (typeof ROUND_PHASES)[number]);
  const to = ROUND_PHASES.indexOf(after.slice(a + 1) as (typeof ROUND_PHASES)[number]);
  return from >= 0 && to > from;
}
