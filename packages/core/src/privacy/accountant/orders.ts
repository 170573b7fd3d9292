/**
 * The orders α at which Rényi differential privacy is tracked (Mironov, "Rényi Differential
 * Privacy", CSF 2017, Definition 4: a mechanism is (α, ε)-RDP when the Rényi divergence of order α
 * between its outputs on neighbouring inputs is at most ε).
 *
 * An accountant keeps one RDP value per order, adds them up under composition (Proposition 1) and
 * converts only at the end, taking the best order. Our default grid is the default of Google's
 * dp_accounting library: 1.1, 1.2, …, 10.9 (99 orders), 11, 12, …, 63, then 128, 256, 512, 1024 —
 * 156 orders, so that our ε for a ledger is the number its RdpAccountant reports for the same
 * events (test-data/dp-accounting.json, scripts/reference/README.md).
 */

import { checkNumber } from './parameters.ts';

/** At most this many orders in a grid, each at most MAX_ORDER: the integer-order sums run α + 1 terms. */
export const MAX_ORDERS = 1024;
export const MAX_ORDER = 10_000;

/** dp_accounting's default orders, computed as it computes them (1 + x/10 rounds the same way). */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10),
  ...Array.from({ length: 53 }, (_, i) => 11 + i),
  128,
  256,
  512,
  1024,
]);

/** What is wrong with an order grid: 1 to MAX_ORDERS strictly increasing orders in (1, MAX_ORDER]. */
export function orderProblems(field: string, orders: unknown): string[] {
  if (!Array.isArray(orders)) return [`${field}: expected an array of orders, got ${typeof orders}`];
  if (orders.length === 0 || orders.length > MAX_ORDERS) {
    return [`${field}: expected 1 to ${MAX_ORDERS} orders, got ${orders.length}`];
  }
  const problems: string[] = [];
  let previous = 1;
  for (const [i, order] of orders.entries()) {
    const problem = checkNumber(`${field}[${i}]`, order, 1, MAX_ORDER);
    if (problem !== undefined) {
      problems.push(problem);
      if (problems.length >= 8) break;
    } else if ((order as number) <= previous && i > 0) {
      problems.push(`${field}[${i}]: expected orders in increasing order, got ${order} after ${previous}`);
      if (problems.length >= 8) break;
    }
    if (typeof order === 'number') previous = order;
  }
  return problems;
}
