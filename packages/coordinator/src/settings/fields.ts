/**
 * The building blocks of the settings schemas (Valibot): one setting, a table
 * of settings, and a rule across settings. Each setting is one check with one
 * problem, "expected <what>, got <value>"; a table names every
 * key that is not a setting; a rule is checked only when the settings it reads
 * are valid, so a bad setting is reported once, as itself.
 */

import * as v from 'valibot';
import { isTree, type Tree } from './tree.ts';

/** A value as a problem shows it: JSON text (numbers as written), cut after 80 characters. */
export function show(value: unknown): string {
  let text: string;
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined) text = String(value);
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

const expected = (what: string) => (issue: { readonly input: unknown }) => `expected ${what}, got ${show(issue.input)}`;

/** One setting: a value `ok` accepts, else the problem "expected <what>, got <value>". */
export function setting<T>(what: string, ok: (value: unknown) => boolean) {
  return v.custom<T>(ok, expected(what));
}

export const isInteger =
  (min: number, max: number) =>
  (value: unknown): value is number =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;

export const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  setting<number>(`an integer in ${min}..${max}`, isInteger(min, max));

/** A finite number that `ok` accepts. */
export const num = (what: string, ok: (n: number) => boolean) =>
  setting<number>(what, (value) => typeof value === 'number' && Number.isFinite(value) && ok(value));

export const flag = setting<boolean>('true or false', (value) => typeof value === 'boolean');

/** Text, possibly empty ("" for none). */
export const text = setting<string>('a string', (value) => typeof value === 'string');

export const nonEmptyText = setting<string>('a non-empty string', (value) => typeof value === 'string' && value !== '');

export const textList = setting<readonly string[]>(
  'a list of non-empty strings',
  (value) => Array.isArray(value) && value.every((item) => typeof item === 'string' && item !== ''),
);

/** One of `options`; `what` says them as the problem does (`"memory" or "redis"`). */
export const oneOf = <const T extends readonly string[]>(options: T, what = `one of ${options.join(', ')}`) =>
  v.picklist(options, expected(what));

/**
 * A table of settings: an object holding each of `entries` and nothing else. Every other key
 * is a problem of its own, "not a setting" (v.strictObject would name only the first).
 */
export function table<E extends v.ObjectEntries>(entries: E) {
  return v.pipe(
    v.custom<Tree>(isTree, expected('an object')),
    v.objectWithRest(entries, v.never('not a setting'), 'missing'),
    // The rest accepts nothing, so a valid table holds just `entries`, as its type now says.
    v.transform((table): Readonly<v.InferOutput<v.ObjectSchema<E, undefined>>> => table),
  );
}

type Path = readonly string[];

const keysOf = (issue: v.BaseIssue<unknown>): string[] => (issue.path ?? []).map((item) => String(item.key));

/** Whether one path lies within the other (a problem at `pet.sum` concerns `pet.sum.count.max`). */
function overlaps(a: Path, b: Path): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The issue path of the setting `at` inside `root`, as Valibot records paths. */
function pathTo(root: unknown, at: Path): v.ObjectPathItem[] {
  const items: v.ObjectPathItem[] = [];
  let input = root;
  for (const key of at) {
    const node = isTree(input) ? input : {};
    const value = node[key];
    items.push({ type: 'object', origin: 'value', input: node, key, value });
    input = value;
  }
  return items;
}

/**
 * A rule across the settings of a table, as the pipe step after it. It is checked once every
 * setting it `reads` is valid on its own; the problem `problem` returns, if any, is reported at
 * the setting `at` (the table itself when omitted). Its own problems do not hold back other
 * rules: `min 5 exceeds max 2` and a rule on `max` are both listed.
 */
export function rule<T>(
  reads: readonly Path[],
  problem: (table: T) => string | undefined,
  at: Path = [],
): v.RawCheckAction<T> {
  return v.rawCheck<T>(({ dataset, addIssue }) => {
    const invalid = (dataset.issues ?? []).some(
      (issue) => issue.kind === 'schema' && reads.some((path) => overlaps(path, keysOf(issue))),
    );
    if (invalid) return;
    // Every setting read is valid, so this part of the value has its type even when others don't.
    const message = problem(dataset.value as T);
    if (message === undefined) return;
    const [first, ...rest] = pathTo(dataset.value, at);
    addIssue(first === undefined ? { message } : { message, path: [first, ...rest] });
  });
}
