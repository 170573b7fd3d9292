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

/** The least sum, update and sum2 count.min of a meaningful round (docs/security.md §1). */
export const SAFE_MIN_COUNT = 3;

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

/** Who may take part (docs/security.md §2). */
export type AdmissionSettings =
  /** Anyone: loopback hosts only, unless `openOnPublicHost` is set. */
  | { readonly kind: 'open'; readonly openOnPublicHost: boolean }
  /** A bearer JWT issued by the app's backend, verified against a JWKS URL or a static public key. */
  | {
      readonly kind: 'token';
      readonly jwksUrl: string;
      readonly jwtPublicKey: string;
      readonly jwtIssuer: string;
      readonly jwtAudience: string;
      readonly maxIdentitiesPerSubject: number;
    }
  /** Only the listed participant Ed25519 public keys (base64url). */
  | { readonly kind: 'allowlist'; readonly allowlist: readonly string[] };

export interface Settings {
  readonly api: {
    readonly port: number;
    // SECURITY: the operator token guards /admin; never logged.
    readonly adminToken: string;
    // SECURITY: guards GET /metrics when non-empty; never logged.
    readonly metricsToken: string;
    readonly corsOrigins: readonly string[];
    readonly maxBodyBytes: number;
    /** `POST /message` bodies read or processed at once; beyond it 503 busy with Retry-After. */
    readonly maxBodiesInFlight: number;
    /** Held `GET /phase` long polls; beyond it a poll is answered at once. */
    readonly maxPhaseWaiters: number;
    /** Node's server.headersTimeout: a client must send its headers within it (slow-loris). */
    readonly headersTimeoutMs: number;
    /** Node's server.requestTimeout: a whole request (headers and body) must arrive within it. */
    readonly requestTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    readonly maxConnections: number;
    /** Failed admin authentications per client address per minute before 429. */
    readonly adminFailuresPerMinute: number;
  };
  readonly admission: AdmissionSettings;
  readonly limits: {
    /** Requests to `POST /message` per admitted subject per minute (0: no limit). */
    readonly messagesPerMinutePerSubject: number;
    /** Requests to `POST /message` per client address per minute (0: no limit). */
    readonly messagesPerMinutePerIp: number;
    /** Requests to `GET /phase` per client address per minute (0: no limit). */
    readonly phasePollsPerMinutePerIp: number;
    /** Incomplete multipart data held per participant, bytes (each chunk costs at least 256). */
    readonly chunkBytesPerParticipant: number;
    /** Incomplete multipart data held in total, bytes. */
    readonly chunkBytesTotal: number;
  };
  readonly safety: {
    /** Allows rounds below the safe minimums (update/sum/sum2 count.min < 3): tests and demos only. */
    readonly allowUnsafeSmallRounds: boolean;
    /** The range every participant's scalar must lie in, checked through the unmasked scalar sum. */
    readonly scalarMin: number;
    readonly scalarMax: number;
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
metrics_token = ""
cors_origins = ["http://localhost:5173"]
max_body_bytes = 16777216
max_bodies_in_flight = 8
max_phase_waiters = 2000
headers_timeout_ms = 10000
request_timeout_ms = 120000
keep_alive_timeout_ms = 5000
max_connections = 10000
admin_failures_per_minute = 10

[admission]
kind = "open"
open_on_public_host = false
jwks_url = ""
jwt_public_key = ""
jwt_issuer = ""
jwt_audience = ""
max_identities_per_subject = 1
allowlist = []

[limits]
messages_per_minute_per_subject = 1200
messages_per_minute_per_ip = 12000
phase_polls_per_minute_per_ip = 6000
chunk_bytes_per_participant = 16777216
chunk_bytes_total = 268435456

[safety]
allow_unsafe_small_rounds = false
scalar_min = 0.01
scalar_max = 100

[pet.sum]
probability = 0.5
count = { min = 3, max = 100 }
time = { min_ms = 5000, max_ms = 60000 }

[pet.update]
probability = 0.9
count = { min = 3, max = 1000 }
time = { min_ms = 5000, max_ms = 60000 }

[pet.sum2]
count = { min = 3, max = 100 }
time = { min_ms = 1000, max_ms = 60000 }

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
  const bool = (path: string): boolean => {
    const v = getPath(tree, path.split('.'));
    if (typeof v !== 'boolean') {
      problems.push(`${path}: expected true or false, got ${JSON.stringify(v)}`);
      return false;
    }
    return v;
  };
  const strings = (path: string): string[] => {
    const v = getPath(tree, path.split('.'));
    if (!Array.isArray(v) || !v.every((o) => typeof o === 'string' && o !== '')) {
      problems.push(`${path}: expected a list of non-empty strings, got ${JSON.stringify(v)}`);
      return [];
    }
    return v as string[];
  };
  const probability = (path: string) => num(path, (n) => n > 0 && n <= 1, 'a probability in (0, 1]');
  const phase = (name: string, countMin: number): PhaseSettings => {
    const path = `pet.${name}.count.min`;
    const raw = getPath(tree, path.split('.'));
    const unsafe = typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 && raw < countMin;
    if (unsafe) {
      problems.push(
        `${path}: expected at least ${countMin} (fewer makes a round meaningless: docs/security.md §1), got ${raw}; ` +
          'set safety.allow_unsafe_small_rounds = true for tests and demos',
      );
    }
    const count = { min: unsafe ? Number.NaN : int(path, Math.min(countMin, 1)), max: int(`pet.${name}.count.max`, 1) };
    const time = { minMs: int(`pet.${name}.time.min_ms`, 0), maxMs: int(`pet.${name}.time.max_ms`, 1) };
    if (count.min > count.max) problems.push(`pet.${name}.count: min ${count.min} exceeds max ${count.max}`);
    if (time.minMs > time.maxMs) problems.push(`pet.${name}.time: min_ms ${time.minMs} exceeds max_ms ${time.maxMs}`);
    return { count, time };
  };

  return { num, int, str, bool, strings, probability, phase };
}

/** Reads and checks the `pet` table (the per-round settings) of a settings tree. */
function readPet(tree: Tree, problems: string[], mask: MaskConfig | undefined, allowUnsafe: boolean): Settings['pet'] {
  const { probability, phase } = fieldReaders(tree, problems);
  // Fewer than 3 sum, update or sum2 participants make a round meaningless (one update is the
  // aggregate; one sum participant chooses the mask): refused unless explicitly allowed.
  const least = allowUnsafe ? 1 : SAFE_MIN_COUNT;
  const sum = { probability: probability('pet.sum.probability'), ...phase('sum', least) };
  const update = { probability: probability('pet.update.probability'), ...phase('update', least) };
  const sum2 = phase('sum2', least);
  if (sum2.count.max > sum.count.max) {
    problems.push(`pet.sum2.count.max: ${sum2.count.max} exceeds pet.sum.count.max ${sum.count.max}`);
  } else if (sum2.count.max < Math.floor(sum.count.max / 2) + 1) {
    // Unmask needs a mask backed by a majority of the sum dictionary (protocol.md §1.1).
    problems.push(
      `pet.sum2.count.max: ${sum2.count.max} is below a majority (${Math.floor(sum.count.max / 2) + 1}) of pet.sum.count.max ${sum.count.max}`,
    );
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

const ED25519_KEY_B64URL = /^[A-Za-z0-9_-]{43}$/;

/** Reads the `admission` table: which participants may take part (docs/security.md §2). */
function readAdmission(tree: Tree, problems: string[]): AdmissionSettings {
  const { int, str, bool, strings } = fieldReaders(tree, problems);
  const kind = getPath(tree, ['admission', 'kind']);
  if (kind === 'open') return { kind, openOnPublicHost: bool('admission.open_on_public_host') };
  if (kind === 'allowlist') {
    const allowlist = strings('admission.allowlist');
    for (const key of allowlist) {
      if (!ED25519_KEY_B64URL.test(key)) {
        problems.push(
          `admission.allowlist: expected 32-byte Ed25519 public keys in base64url, got ${JSON.stringify(key)}`,
        );
      }
    }
    if (allowlist.length === 0) problems.push('admission.allowlist: expected at least one key for kind = "allowlist"');
    return { kind, allowlist };
  }
  if (kind === 'token') {
    const token = {
      kind,
      jwksUrl: str('admission.jwks_url', false),
      jwtPublicKey: str('admission.jwt_public_key', false),
      jwtIssuer: str('admission.jwt_issuer', false),
      jwtAudience: str('admission.jwt_audience', false),
      maxIdentitiesPerSubject: int('admission.max_identities_per_subject', 1, 1_000_000),
    } as const;
    if ((token.jwksUrl === '') === (token.jwtPublicKey === '')) {
      problems.push('admission: kind = "token" needs exactly one of jwks_url and jwt_public_key');
    }
    if (token.jwksUrl !== '' && !/^https?:\/\//.test(token.jwksUrl)) {
      problems.push(`admission.jwks_url: expected an http(s) URL, got ${JSON.stringify(token.jwksUrl)}`);
    }
    return token;
  }
  problems.push(`admission.kind: expected "open", "token" or "allowlist", got ${JSON.stringify(kind)}`);
  return { kind: 'open', openOnPublicHost: false };
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
export function changePetSettings(
  current: Settings['pet'],
  change: unknown,
  mask: MaskConfig,
  safety: Settings['safety'],
): Settings['pet'] {
  if (!isTree(change)) throw new SettingsError([`pet settings: expected an object, got ${JSON.stringify(change)}`]);
  const base = petTree(current);
  const problems: string[] = [];
  const known = new Set(leafPaths(base).map((path) => path.join('.')));
  for (const path of leafPaths(change)) {
    if (!known.has(path.join('.'))) problems.push(`pet.${path.join('.')}: not a setting`);
  }
  const pet = readPet({ pet: merge(base, change) }, problems, mask, safety.allowUnsafeSmallRounds);
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

  const { num, int, str, bool, strings } = fieldReaders(tree, problems);
  const ms = (path: string) => int(path, 1, 2 ** 31 - 1);
  const api = {
    port: int('api.port', 0, 65535),
    adminToken: str('api.admin_token'),
    metricsToken: str('api.metrics_token', false),
    corsOrigins: strings('api.cors_origins'),
    maxBodyBytes: int('api.max_body_bytes', 1024, 2 ** 31 - 1),
    maxBodiesInFlight: int('api.max_bodies_in_flight', 1, 10_000),
    maxPhaseWaiters: int('api.max_phase_waiters', 0, 1_000_000),
    headersTimeoutMs: ms('api.headers_timeout_ms'),
    requestTimeoutMs: ms('api.request_timeout_ms'),
    keepAliveTimeoutMs: ms('api.keep_alive_timeout_ms'),
    maxConnections: int('api.max_connections', 1, 1_000_000),
    adminFailuresPerMinute: int('api.admin_failures_per_minute', 1, 1_000_000),
  };
  if (api.headersTimeoutMs > api.requestTimeoutMs) {
    problems.push(
      `api.headers_timeout_ms: ${api.headersTimeoutMs} exceeds api.request_timeout_ms ${api.requestTimeoutMs}`,
    );
  }
  const maskTree = getPath(tree, ['mask']);
  let mask: MaskConfig | undefined;
  try {
    validateMaskConfig(maskTree, 'mask');
    mask = { group: maskTree.group, data: maskTree.data, bound: maskTree.bound, model: maskTree.model };
  } catch (error) {
    problems.push((error as Error).message);
  }

  const admission = readAdmission(tree, problems);
  const limits = {
    messagesPerMinutePerSubject: int('limits.messages_per_minute_per_subject', 0),
    messagesPerMinutePerIp: int('limits.messages_per_minute_per_ip', 0),
    phasePollsPerMinutePerIp: int('limits.phase_polls_per_minute_per_ip', 0),
    chunkBytesPerParticipant: int('limits.chunk_bytes_per_participant', 1024),
    chunkBytesTotal: int('limits.chunk_bytes_total', 1024),
  };
  if (limits.chunkBytesPerParticipant > limits.chunkBytesTotal) {
    problems.push(
      `limits.chunk_bytes_per_participant: ${limits.chunkBytesPerParticipant} exceeds limits.chunk_bytes_total ${limits.chunkBytesTotal}`,
    );
  }
  const safety = {
    allowUnsafeSmallRounds: bool('safety.allow_unsafe_small_rounds'),
    scalarMin: num('safety.scalar_min', (n) => n >= 0, 'a number ≥ 0'),
    scalarMax: num('safety.scalar_max', (n) => n > 0, 'a number > 0'),
  };
  if (safety.scalarMin > safety.scalarMax) {
    problems.push(`safety.scalar_min: ${safety.scalarMin} exceeds safety.scalar_max ${safety.scalarMax}`);
  }
  if (mask !== undefined) {
    // Participants clamp their scalar to the bound A (protocol.md §4.2): a larger maximum means nothing.
    const bound = Number(maskParams(mask).addShift);
    if (safety.scalarMax > bound) {
      problems.push(
        `safety.scalar_max: ${safety.scalarMax} exceeds the bound ${bound} of mask.bound = ${mask.bound} (scalars are clamped to it)`,
      );
    }
  }
  const pet = readPet(tree, problems, mask, safety.allowUnsafeSmallRounds);

  const model = { length: int('model.length', 1, 2 ** 32 - 1) };
  const kind = getPath(tree, ['store', 'kind']);
  let store: Settings['store'] = { kind: 'memory' };
  if (kind === 'redis') store = { kind: 'redis', redisUrl: str('store.redis_url') };
  else if (kind !== 'memory') problems.push(`store.kind: expected "memory" or "redis", got ${JSON.stringify(kind)}`);
  const models = { dir: str('models.dir') };

  if (problems.length > 0 || mask === undefined) throw new SettingsError(problems);
  return { api, admission, limits, safety, pet, mask, model, store, models };
}
