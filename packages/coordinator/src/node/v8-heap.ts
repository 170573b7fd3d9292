/**
 * The old-generation growing factor the `petfl-coordinator` command gives V8 (`api.heap_growing_percent`,
 * docs/operations.md "Full collections of a small heap", ADR 0020).
 *
 * V8 starts a full (mark-compact) collection once the old generation's room left below its limit is
 * smaller than the young generation's capacity. A coordinator's heap is small (about 14 MB live at
 * 10 × 10⁶ weights) and its young generation grows to its maximum under a round's allocations, so
 * with V8's own growing factor (about 1.6 here) the room was always smaller: about ten full
 * collections a round, each freeing about 1 MB. A fixed factor of 3 leaves room for the young
 * generation. The flag is process-wide (ingest workers included); an operator who gives it to Node
 * on its command line keeps theirs (NODE_OPTIONS cannot carry it: Node refuses V8 flags there).
 */

import { setFlagsFromString } from 'node:v8';

/** How the growing factor was settled: set here, left to V8 (0), or given to Node by the operator. */
export type HeapGrowing =
  | { readonly kind: 'set'; readonly percent: number }
  | { readonly kind: 'v8-default' }
  | { readonly kind: 'node-flag'; readonly flag: string };

/** `--heap-growing-percent` (or `--heap_growing_percent`) among Node's own arguments (`process.execArgv`). */
export function givenHeapGrowingFlag(execArgv: readonly string[]): string | undefined {
  return execArgv.find((word) => /^--heap[-_]growing[-_]percent(=|$)/.test(word));
}

/** The decision for `percent` (the setting) given Node's arguments; applies nothing. */
export function heapGrowing(percent: number, execArgv: readonly string[]): HeapGrowing {
  const given = givenHeapGrowingFlag(execArgv);
  if (given !== undefined) return { kind: 'node-flag', flag: given };
  if (percent === 0) return { kind: 'v8-default' };
  return { kind: 'set', percent };
}

/** Settles the growing factor for this process (the CLI, once, before the coordinator starts). */
export function applyHeapGrowing(percent: number): HeapGrowing {
  const decision = heapGrowing(percent, process.execArgv);
  if (decision.kind === 'set') setFlagsFromString(`--heap-growing-percent=${decision.percent}`);
  return decision;
}
