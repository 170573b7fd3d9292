/**
 * The participant's side of a round's privacy promise (docs/privacy.md §3): before it sends
 * anything, a participant recomputes ε from the parameters the round announced (and bound into its
 * seed, ADR 0012) with its own accountant, adds the round to what it has already spent, and sits
 * the round out when the total would exceed its own limit (`options.privacy`). Its ledger is part
 * of its saved state, so the limit holds across restarts.
 */

import {
  type AccountantState,
  accountantEpsilon,
  addAccountantEvent,
  createAccountantState,
  type RoundParameters,
  roundPrivacyMechanism,
  toBase64Url,
} from '@petfl/core';
import type { ParticipantError } from './state.ts';

/** `options.privacy`: the participant's own limit. */
export interface ParticipantPrivacyOptions {
  /** The most ε (at `delta`) the participant's data may spend over all the rounds it sends updates in. */
  readonly maxEpsilon: number;
  /** δ of the (ε, δ) guarantee, e.g. 1e-5. */
  readonly delta: number;
}

/** What the participant has spent: one accountant event per round it sent an update in. */
export interface PrivacyLedger {
  readonly accountant: AccountantState;
  /**
   * The rounds charged, newest last (the last `MAX_LEDGER_ROUNDS`), by their round seed (base64url):
   * the seed commits to the round's key and promise (ADR 0012), so a round is charged once and a
   * coordinator reusing a round id for another round is charged again.
   */
  readonly rounds: readonly string[];
}

/** The key a round is charged under: its seed. */
export function ledgerKey(round: RoundParameters): string {
  return toBase64Url(round.seed);
}

export const MAX_LEDGER_ROUNDS = 1000;

/** ε spent so far at δ (0 for an empty or absent ledger). */
export function spentEpsilon(ledger: PrivacyLedger | undefined, delta: number): number {
  if (ledger === undefined || ledger.accountant.events.length === 0) return 0;
  return accountantEpsilon(ledger.accountant, delta).value;
}

/**
 * Why the participant must not send an update in `round`, or undefined when it may: with a limit,
 * a round that promises no privacy, or whose ε would take the total over the limit, is refused
 * ('privacy-limit'). A round already charged (a restart mid-round) is not charged again.
 */
export function privacyRefusal(
  ledger: PrivacyLedger | undefined,
  round: RoundParameters,
  limit: ParticipantPrivacyOptions | undefined,
): ParticipantError | undefined {
  if (limit === undefined) return undefined;
  const roundId = round.roundId;
  if (round.privacy === undefined) {
    return {
      code: 'privacy-limit',
      message: `round ${roundId} promises no differential privacy and options.privacy asks for ε ≤ ${limit.maxEpsilon}: sitting it out`,
      roundId,
    };
  }
  if (ledger?.rounds.includes(ledgerKey(round))) return undefined;
  const after = addAccountantEvent(ledger?.accountant ?? createAccountantState(), roundPrivacyMechanism(round.privacy));
  const epsilon = accountantEpsilon(after, limit.delta).value;
  if (epsilon <= limit.maxEpsilon) return undefined;
  return {
    code: 'privacy-limit',
    message:
      `round ${roundId} (${round.privacy.mechanism}) would take this participant's ε to ${epsilon.toPrecision(4)} ` +
      `at δ = ${limit.delta} (spent: ${spentEpsilon(ledger, limit.delta).toPrecision(4)}), over options.privacy.maxEpsilon ` +
      `${limit.maxEpsilon}: sitting it out`,
    roundId,
  };
}

/** The ledger with `round` charged (unchanged when the round promises nothing or was charged already). */
export function chargeRound(ledger: PrivacyLedger | undefined, round: RoundParameters): PrivacyLedger | undefined {
  if (round.privacy === undefined) return ledger;
  const key = ledgerKey(round);
  if (ledger?.rounds.includes(key)) return ledger;
  return {
    accountant: addAccountantEvent(ledger?.accountant ?? createAccountantState(), roundPrivacyMechanism(round.privacy)),
    rounds: [...(ledger?.rounds ?? []), key].slice(-MAX_LEDGER_ROUNDS),
  };
}
