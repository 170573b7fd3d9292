/**
 * Settings from the environment. A variable names a setting
 * by its path, upper-cased and joined with `_`: `api.port` → `PETFL_API_PORT`,
 * `pet.sum.count.min` → `PETFL_PET_SUM_COUNT_MIN`. Its text is read as the
 * type of that setting's default: a number, `true`/`false`, or a
 * comma-separated list. The environment wins over the file.
 */

import { getPath, leafPaths, setPath, type Tree } from './tree.ts';

export const envName = (path: readonly string[]): string => `PETFL_${path.join('_').toUpperCase()}`;

/**
 * Environment text → the type of the default at that path. Text that is no number or boolean
 * stays text, so the setting's problem shows what was given (`got "eighty"`).
 */
function fromEnv(raw: string, example: unknown): unknown {
  if (Array.isArray(example)) {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  if (typeof example === 'number') {
    const n = Number(raw);
    return raw.trim() === '' || Number.isNaN(n) ? raw : n;
  }
  if (typeof example === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  return raw;
}

/**
 * Writes every `PETFL_*` variable that names a setting (a leaf of `defaults`) into `tree`.
 * Returns the problems: the `PETFL_*` variables that name no setting.
 */
export function applyEnv(tree: Tree, defaults: Tree, env: Readonly<Record<string, string | undefined>>): string[] {
  const known = new Set<string>();
  for (const path of leafPaths(defaults)) {
    const name = envName(path);
    known.add(name);
    const raw = env[name];
    if (raw !== undefined) setPath(tree, path, fromEnv(raw, getPath(defaults, path)));
  }
  return Object.keys(env)
    .filter((name) => name.startsWith('PETFL_') && !known.has(name))
    .map((name) => `${name}: not a setting`);
}
