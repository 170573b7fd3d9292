/**
 * Checking finished rounds against what the tabs did: waiting (on the coordinator's
 * round history, never on time) until enough rounds completed, and checking that each
 * completed round's global model is the exact weighted average of the local models its
 * accepted update participants submitted (support/average.ts).
 */

import type { RoundSummary } from '@petfl/coordinator';
import { expect } from '@playwright/test';
import { type AverageCheck, checkWeightedAverage, findAccepted } from './average.ts';
import type { E2ECoordinator } from './coordinator.ts';
import type { ParticipantSnapshot, Submitted, Tab } from './tab.ts';

/**
 * How long a wait on rounds may take before the test gives up: a backstop for a hang, not a
 * schedule. The phase driver (support/phase-driver.ts) ends each phase once the tabs are done
 * with it, so rounds take as long as the tabs need on this machine; a test asks for the
 * rounds it needs and waits on the coordinator for them.
 */
export const ROUNDS_BACKSTOP_MS = 8 * 60_000;

/** Waits until `count` rounds have completed; returns the history then. */
export async function waitForCompletedRounds(
  coordinator: E2ECoordinator,
  count: number,
  timeout = ROUNDS_BACKSTOP_MS,
): Promise<readonly RoundSummary[]> {
  await expect
    .poll(async () => (await coordinator.history()).filter((r) => r.outcome === 'completed').length, {
      message: `${count} completed rounds`,
      timeout,
      intervals: [250],
    })
    .toBeGreaterThanOrEqual(count);
  return coordinator.history();
}

/**
 * A failed round the task selection explains (protocol.md §2, §1.3): the sum or the update
 * phase timed out short of its count.min — nobody was sum-eligible, or so many were (or
 * noticed the round too late to send their Sum, and sat it out) that too few tabs were
 * left to update. Any other failure (a tie in unmask, a bad aggregate, sum2) is a fault.
 */
export function failedBySelection(round: RoundSummary): boolean {
  return /^(sum|update) phase timed out: \d+ messages? accepted, at least \d+ needed/.test(round.failureReason ?? '');
}

/** The rounds before the `count`th completed one: checks their failures and returns the completed ones. */
export function completedRounds(history: readonly RoundSummary[], count: number): RoundSummary[] {
  const completed = history.filter((r) => r.outcome === 'completed').slice(0, count);
  const last = completed.at(-1)?.roundId ?? 0;
  for (const round of history.filter((r) => r.outcome === 'failed' && r.roundId < last)) {
    expect(failedBySelection(round), `round ${round.roundId} failed: ${round.failureReason}`).toBe(true);
  }
  return completed;
}

export interface RoundCheck {
  readonly roundId: number;
  readonly updates: number;
  readonly candidates: number;
  readonly check: AverageCheck | undefined;
  /** The tabs whose submitted models the global model is the average of. */
  readonly acceptedTabs?: readonly string[];
  /** When no subset fits: the check against all candidates, to tell how far off it is. */
  readonly all?: AverageCheck;
}

/** The round's global model against the tabs' submitted models (only as many as the coordinator accepted). */
export async function checkRound(
  coordinator: E2ECoordinator,
  round: RoundSummary,
  tabs: readonly Tab[],
): Promise<RoundCheck> {
  const global = await coordinator.model(round.roundId);
  expect(global, `global model of round ${round.roundId}`).toBeDefined();
  const candidates: (Submitted & { tab: string })[] = [];
  for (const tab of tabs) {
    const mine = (await tab.collect()).find((s) => s.roundId === round.roundId);
    if (mine !== undefined) candidates.push({ ...mine, tab: tab.name });
  }
  const found = findAccepted(global ?? [], candidates, round.participants.update);
  return {
    roundId: round.roundId,
    updates: round.participants.update,
    candidates: candidates.length,
    check: found?.check,
    ...(found === undefined ? {} : { acceptedTabs: found.accepted.map((c) => c.tab) }),
    ...(found === undefined && global !== undefined ? { all: checkWeightedAverage(global, candidates) } : {}),
  };
}

/**
 * Asserts the round's global model is the exact weighted average of the accepted local
 * models, and (softly, so the rest of the test still runs) that no sᵢwᵢ was clamped —
 * else it is not the average the app meant (protocol.md §4.6: keep |sᵢwᵢ| ≤ A).
 */
export async function expectExactRound(coordinator: E2ECoordinator, round: RoundSummary, tabs: readonly Tab[]) {
  const result = await checkRound(coordinator, round, tabs);
  expect(result.check?.ok, `round ${round.roundId}: ${JSON.stringify(result)}`).toBe(true);
  expect
    .soft(result.check?.clamped, `round ${round.roundId}: scalar·weight beyond ±A, clamped by the encoding (§4.6)`)
    .toBe(0);
  return result;
}

export interface UpdatePhase {
  readonly roundId: number;
  /** The tabs' snapshots in that round, in tab order. */
  readonly snapshots: readonly ParticipantSnapshot[];
}

/**
 * Waits for the update phase of a round that `fits` (called with the tabs' snapshots
 * once every tab knows its task in that round); rounds that do not fit run to their end.
 * With `hold`, the coordinator's clock is held once a round fits, while it is still in
 * that update phase (and the phase driver is not ending it already): the phase stays open
 * until the test calls `coordinator.clock.release()`.
 */
export async function waitForUpdatePhase(
  coordinator: E2ECoordinator,
  tabs: readonly Tab[],
  fits: (phase: UpdatePhase) => boolean,
  timeout = ROUNDS_BACKSTOP_MS,
  { hold = false }: { readonly hold?: boolean } = {},
): Promise<UpdatePhase> {
  let found: UpdatePhase | undefined;
  const rejected = new Set<number>();
  await expect
    .poll(
      async () => {
        const { roundId, phase } = coordinator.status();
        if (phase !== 'update' || roundId === null || rejected.has(roundId)) return false;
        const snapshots = await Promise.all(tabs.map((t) => t.snapshot()));
        const known = snapshots.every((s) => s !== null && s.roundId === roundId && s.phase !== 'new-round');
        if (!known || coordinator.status().roundId !== roundId) return false;
        const candidate = { roundId, snapshots: snapshots as ParticipantSnapshot[] };
        if (!fits(candidate)) {
          rejected.add(roundId);
          return false;
        }
        if (hold) {
          coordinator.clock.hold();
          const now = coordinator.status();
          if (now.roundId !== roundId || now.phase !== 'update' || coordinator.clock.ending) {
            // The phase ended (or the driver let it end) between the look and the hold: this round is gone.
            coordinator.clock.release();
            rejected.add(roundId);
            return false;
          }
        }
        found = candidate;
        return true;
      },
      { timeout, intervals: [100], message: 'an update phase that fits' },
    )
    .toBe(true);
  if (found === undefined) throw new Error('unreachable');
  return found;
}
