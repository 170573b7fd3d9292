/**
 * Coordinator settings (CONVENTIONS §11): one typed object, parsed and
 * validated once at the entry point from a TOML file plus `PETFL_*`
 * environment variables, every default in one place, every invalid field
 * listed in one error.
 *
 * Environment variables name a setting by its path, upper-cased and joined
 * with `_`: `api.port` → `PETFL_API_PORT`, `pet.sum.count.min` →
 * `PETFL_PET_SUM_COUNT_MIN`, `store.redis_url` → `PETFL_STORE_REDIS_URL`.
 * Lists are comma-separated. The environment wins over the file.
 */

import { type MaskConfig, maskParams, validateMaskConfig } from '@petfl/core';
import { parse as parseToml } from 'smol-toml';

export interface PhaseCount {
  readonly min: number;
  readonly max: number;
}

export interface PhaseTime {
  readonly minMs: number;
  readonly maxMs: number;
}

export interface PhaseSettings {
  readonly count: PhaseCount;
  readonly time: PhaseTime;
}

export interface Settings {
  readonly api: {
    readonly port: number;
    // SECURITY: the operator token guards /admin; never logged.
    readonly adminToken: string;
    readonly corsOrigins: readonly string[];
    readonly maxBodyBytes: number;
  };
  readonly pet: {
    readonly sum: PhaseSettings & { readonly probability: number };
    readonly update: PhaseSettings & { readonly probability: number };
    readonly sum2: PhaseSettings;
  };
  readonly mask: MaskConfig;
  readonly model: { readonly length: number };
  readonly store: { readonly kind: 'memory' } | { readonly kind: 'redis'; readonly redisUrl: string };
  readonly models: { readonly dir: string };
}

/** Every default, in one place: a local demo works with no file and no environment. */
export const DEFAULT_SETTINGS_TOML = `
[api]
port = 8081
admin_token = "change-me"
cors_origins = ["http://localhost:5173"]
max_body_bytes = 16777216

[pet.sum]
probability = 0.5
count = { min = 1, max = 100 }
time = { min_ms = 0, max_ms = 60000 }

[pet.update]
probability = 0.9
count = { min = 3, max = 1000 }
time = { min_ms = 0, max_ms = 60000 }

[pet.sum2]
count = { min = 1, max = 100 }
time = { min_ms = 0, max_ms = 60000 }

[mask]
group = "power2"
data = "f32"
bound = "b2"
model = "m3"

[model]
length = 10000

[store]
kind = "memory"
redis_url = "redis://127.0.0.1:6379"

[models]
dir = "./data/models"
`;

export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid settings:\n  - ${problems.join('\n  - ')}`);
  }
}

type Tree = { [key: string]: unknown };

const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deep merge: `over` wins; tables merge key by key. */
function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isTree(b) && isTree(v) ? merge(b, v) : v;
  }
  return out;
}

/** Every leaf path of the defaults, e.g. ['pet', 'sum', 'count', 'min']. */
function leafPaths(tree: Tree, prefix: string[] = []): string[][] {
  return Object.entries(tree).flatMap(([k, v]) => (isTree(v) ? leafPaths(v, [...prefix, k]) : [[...prefix, k]]));
}

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (!isTree(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1] as string] = value;
}

function getPath(tree: Tree, path: readonly string[]): unknown {
  let node: unknown = tree;
  for (const key of path) node = isTree(node) ? node[key] : undefined;
  return node;
}

/** Environment value → the type of the default at that path. */
function fromEnv(raw: string, example: unknown): unknown {
  if (Array.isArray(example)) {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  if (typeof example === 'number') return raw.trim() === '' ? Number.NaN : Number(raw);
  if (typeof example === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  return raw;
}

export const envName = (path: readonly string[]): string => `PETFL_${path.join('_').toUpperCase()}`;

/** Field readers over a settings tree that record every problem instead of stopping at the first. */
function fieldReaders(tree: Tree, problems: string[]) {
  const num = (path: string, check: (n: number) => boolean, expected: string): number => {
    const v = getPath(tree, path.split('.'));
    if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) {
      problems.push(`${path}: expected ${expected}, got ${JSON.stringify(v)}`);
      return Number.NaN;
    }
    return v;
  };
  const int = (path: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
    num(path, (n) => Number.isInteger(n) && n >= min && n <= max, `an integer in ${min}..${max}`);
  const str = (path: string, nonEmpty = true): string => {
    const v = getPath(tree, path.split('.'));
    if (typeof v !== 'string' || (nonEmpty && v === '')) {
      problems.push(`${path}: expected a non-empty string, got ${JSON.stringify(v)}`);
      return '';
    }
    return v;
  };
  const probability = (path: string) => num(path, (n) => n > 0 && n <= 1, 'a probability in (0, 1]');
  const phase = (name: string, countMin: number): PhaseSettings => {
    const count = { min: int(`pet.${name}.count.min`, countMin), max: int(`pet.${name}.count.max`, 1) };
    const time = { minMs: int(`pet.${name}.time.min_ms`, 0), maxMs: int(`pet.${name}.time.max_ms`, 1) };
    if (count.min > count.max) problems.push(`pet.${name}.count: min ${count.min} exceeds max ${count.max}`);
    if (time.minMs > time.maxMs) problems.push(`pet.${name}.time: min_ms ${time.minMs} exceeds max_ms ${time.maxMs}`);
    return { count, time };
  };

  return { num, int, str, probability, phase };
}

/** Reads and checks the `pet` table (the per-round settings) of a settings tree. */
function readPet(tree: Tree, problems: string[], mask: MaskConfig | undefined): Settings['pet'] {
  const { probability, phase } = fieldReaders(tree, problems);
  const sum = { probability: probability('pet.sum.probability'), ...phase('sum', 1) };
  const update = { probability: probability('pet.update.probability'), ...phase('update', 3) };
  const sum2 = phase('sum2', 1);
  if (sum2.count.max > sum.count.max) {
    problems.push(`pet.sum2.count.max: ${sum2.count.max} exceeds pet.sum.count.max ${sum.count.max}`);
  }
  if (sum2.count.min > sum.count.max) {
    problems.push(`pet.sum2.count.min: ${sum2.count.min} can never be reached with pet.sum.count.max ${sum.count.max}`);
  }
  if (mask !== undefined) {
    const cap = maskParams(mask).modelCap;
    if (BigInt(Number.isFinite(update.count.max) ? update.count.max : 0) > cap) {
      problems.push(
        `pet.update.count.max: ${update.count.max} exceeds the model cap ${cap} of mask.model = ${mask.model}`,
      );
    }
  }
  return { sum, update, sum2 };
}

/** The `pet` settings in the file's shape (snake_case times), for merging a change over them. */
function petTree(pet: Settings['pet']): Tree {
  const phase = (p: PhaseSettings) => ({
    count: { min: p.count.min, max: p.count.max },
    time: { min_ms: p.time.minMs, max_ms: p.time.maxMs },
  });
  return {
    sum: { probability: pet.sum.probability, ...phase(pet.sum) },
    update: { probability: pet.update.probability, ...phase(pet.update) },
    sum2: phase(pet.sum2),
  };
}

/**
 * Applies a change to the per-round settings (`PUT /admin/settings`): `change` has the file's
 * `pet` shape, any subset of it (`{"sum": {"probability": 0.2}, "update": {"time": {"max_ms": 30000}}}`).
 * The result is validated like the file; unknown keys and every invalid field are listed in one
 * SettingsError.
 */
export function changePetSettings(current: Settings['pet'], change: unknown, mask: MaskConfig): Settings['pet'] {
  if (!isTree(change)) throw new SettingsError([`pet settings: expected an object, got ${JSON.stringify(change)}`]);
  const base = petTree(current);
  const problems: string[] = [];
  const known = new Set(leafPaths(base).map((path) => path.join('.')));
  for (const path of leafPaths(change)) {
    if (!known.has(path.join('.'))) problems.push(`pet.${path.join('.')}: not a setting`);
  }
  const pet = readPet({ pet: merge(base, change) }, problems, mask);
  if (problems.length > 0) throw new SettingsError(problems);
  return pet;
}

/**
 * Parses and validates settings. `toml` is the file's text (or undefined for none);
 * `env` is the process environment (only `PETFL_*` keys are read).
 */
export function parseSettings(toml: string | undefined, env: Readonly<Record<string, string | undefined>>): Settings {
  const problems: string[] = [];
  const defaults = parseToml(DEFAULT_SETTINGS_TOML) as Tree;
  let tree = defaults;
  if (toml !== undefined) {
    try {
      tree = merge(tree, parseToml(toml) as Tree);
    } catch (cause) {
      throw new SettingsError([`settings file: not valid TOML (${(cause as Error).message.split('\n')[0]})`]);
    }
  }
  const known = new Set<string>();
  for (const path of leafPaths(defaults)) {
    const name = envName(path);
    known.add(name);
    const raw = env[name];
    if (raw !== undefined) setPath(tree, path, fromEnv(raw, getPath(defaults, path)));
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('PETFL_') && !known.has(name)) problems.push(`${name}: not a setting`);
  }

  const { int, str } = fieldReaders(tree, problems);
  const corsOrigins = getPath(tree, ['api', 'cors_origins']);
  if (!Array.isArray(corsOrigins) || !corsOrigins.every((o) => typeof o === 'string' && o !== '')) {
    problems.push(`api.cors_origins: expected a list of origins, got ${JSON.stringify(corsOrigins)}`);
  }
  const api = {
    port: int('api.port', 0, 65535),
    adminToken: str('api.admin_token'),
    corsOrigins: Array.isArray(corsOrigins) ? (corsOrigins as string[]) : [],
    maxBodyBytes: int('api.max_body_bytes', 1024, 2 ** 31 - 1),
  };
  const maskTree = getPath(tree, ['mask']);
  let mask: MaskConfig | undefined;
  try {
    validateMaskConfig(maskTree, 'mask');
    mask = { group: maskTree.group, data: maskTree.data, bound: maskTree.bound, model: maskTree.model };
  } catch (error) {
    problems.push((error as Error).message);
  }
  const pet = readPet(tree, problems, mask);

  const model = { length: int('model.length', 1, 2 ** 32 - 1) };
  const kind = getPath(tree, ['store', 'kind']);
  let store: Settings['store'] = { kind: 'memory' };
  if (kind === 'redis') store = { kind: 'redis', redisUrl: str('store.redis_url') };
  else if (kind !== 'memory') problems.push(`store.kind: expected "memory" or "redis", got ${JSON.stringify(kind)}`);
  const models = { dir: str('models.dir') };

  if (problems.length > 0 || mask === undefined) throw new SettingsError(problems);
  return { api, pet, mask, model, store, models };
}
