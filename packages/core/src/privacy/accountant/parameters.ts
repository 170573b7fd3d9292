/**
 * Checks on the numbers that describe a mechanism or a query, shared by every mechanism.
 *
 * Each check returns what is wrong (`field: expected …, got …`) or undefined, so that a validator
 * can list every problem of a persisted ledger at once; `throwProblems` turns a list into one
 * `PetError('invalid-field')`. A participant can hand us any of these numbers (a restored ledger, a
 * run's declared noise), so each gets a range as well as a type: NaN and ±∞ never pass.
 */

import { PetError } from '../../errors.ts';

/** A short description of a value for an error message: numbers as written, strings quoted and cut. */
export function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** A finite number in (min, max], or [min, max] when `closedBelow`. */
export function checkNumber(
  field: string,
  value: unknown,
  min: number,
  max: number,
  closedBelow = false,
): string | undefined {
  const ok =
    typeof value === 'number' && Number.isFinite(value) && (closedBelow ? value >= min : value > min) && value <= max;
  if (ok) return undefined;
  return `${field}: expected a number in ${closedBelow ? '[' : '('}${min}, ${max}], got ${describeValue(value)}`;
}

/** An integer in [min, max]. */
export function checkInteger(field: string, value: unknown, min: number, max: number): string | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return undefined;
  return `${field}: expected an integer in [${min}, ${max}], got ${describeValue(value)}`;
}

/** Throws one `PetError('invalid-field')` naming every problem (after `subject: `, if given), if there are any. */
export function throwProblems(subject: string | undefined, problems: readonly (string | undefined)[]): void {
  const found = problems.filter((p): p is string => p !== undefined);
  if (found.length === 0) return;
  const list = found.join('; ');
  throw new PetError('invalid-field', subject === undefined ? list : `${subject}: ${list}`);
}
