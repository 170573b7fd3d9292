/**
 * The Redis store's key names (redis-store.ts draws the layout): one function per key, named after
 * what it holds, so the scripts, the transactions and the tests name keys the same way.
 *
 * Every key of one store starts with one hash tag made of the prefix: `{petfl}:current`,
 * `{petfl}:r:7:sums`. Redis Cluster hashes only the text between a key's first `{` and the next
 * `}`, so all of one coordinator's keys live in one hash slot, and the Lua scripts and WATCH/MULTI
 * transactions of redis-store.ts, which touch several keys at once, are legal on a cluster (a
 * cluster refuses a multi-key command across slots with CROSSSLOT). The cost is that one
 * coordinator's data sits on one cluster node; it is one round's worth with one writer, so there
 * is nothing to spread, and coordinators on different prefixes still spread over the cluster.
 *
 * A prefix that already holds a hash tag (`{tenant-7}:petfl`) is used as it is: its keys already
 * share the slot its author chose, and wrapping it again would move them to the slot of
 * `{tenant-7` (so the prefixes `petfl` and `{petfl}` name the same keys). A prefix with a brace
 * that makes no tag (`a}b`, `{}x`) is refused, as is an empty one: where Redis finds the tag would
 * then be an accident of the characters.
 */

import { StoreError } from '../store-error.ts';

/**
 * The hash tag of a key by Redis Cluster's rule: the text between the first `{` and the first `}`
 * after it, when not empty; undefined when the key has none (the whole key is hashed).
 */
export function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open < 0) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/** The start of every key of a store on `prefix`: the prefix as one hash tag. */
export function keyBase(prefix: string): string {
  if (hashTagOf(prefix) !== undefined) return prefix;
  if (prefix === '' || /[{}]/.test(prefix)) {
    throw new StoreError(
      `redis keyPrefix: expected non-empty text without braces, or text with a hash tag such as {petfl}, got ${JSON.stringify(prefix)}`,
    );
  }
  return `{${prefix}}`;
}

/** `text` as a literal in a Redis glob pattern (SCAN/KEYS MATCH): `*`, `?`, `[`, `]`, `\` escaped. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** The key names of one store (the layout is drawn in redis-store.ts); exported for tests and operator tools. */
export function redisStoreKeys(prefix: string) {
  const base = keyBase(prefix);
  const r = (roundId: number) => `${base}:r:${roundId}`;
  return {
    /** A SCAN/KEYS MATCH pattern of every key of this store. */
    pattern: `${globLiteral(base)}:*`,
    current: `${base}:current`,
    /** `<round id>:<phase>` of the round in progress: the scripts check a message's phase on it. */
    phase: `${base}:phase`,
    lastRoundId: `${base}:last-round-id`,
    meta: `${base}:meta`,
    /** The leader's instance name, with the lease's expiry (ADR 0008). */
    leader: `${base}:leader`,
    /** The newest fencing token: one more each time the lease is newly taken; never deleted. */
    leaderToken: `${base}:leader-token`,
    /** The pub/sub channel of store notices (round, counts, meta). */
    notices: `${base}:notices`,
    history: `${base}:history`,
    round: (roundId: number) => `${r(roundId)}:round`,
    sums: (roundId: number) => `${r(roundId)}:sums`,
    updates: (roundId: number) => `${r(roundId)}:updates`,
    seeds: (roundId: number, sumParticipantPk: string) => `${r(roundId)}:seeds:${sumParticipantPk}`,
    seedIndex: (roundId: number) => `${r(roundId)}:seed-index`,
    /** Participant → the admission subject it took part under this round (token admission). */
    subjects: (roundId: number) => `${r(roundId)}:subjects`,
    /** Admission subject → how many participant keys it took part with this round. */
    identityCounts: (roundId: number) => `${r(roundId)}:identity-counts`,
    /** The coordinator instances that logged updates this round (ADR 0008). */
    instances: (roundId: number) => `${r(roundId)}:instances`,
    /** One instance's checkpoint: mask → encodeMaskObject bytes, models → model count. */
    partial: (roundId: number, instance: string) => `${r(roundId)}:partial:${instance}`,
    /** One instance's update log since its checkpoint: a list of encoded masked models. */
    log: (roundId: number, instance: string) => `${r(roundId)}:log:${instance}`,
    /** One participant's incomplete multipart message in one phase: meta fields and chunk data by index. */
    chunks: (roundId: number, phase: string, participantPk: string) => `${r(roundId)}:chunks:${phase}:${participantPk}`,
    /** Bytes held in incomplete multipart messages of one phase (field `total`). */
    chunkBytes: (roundId: number, phase: string) => `${r(roundId)}:chunk-bytes:${phase}`,
    /** The participants with an incomplete multipart message in one phase (to delete them). */
    chunkIndex: (roundId: number, phase: string) => `${r(roundId)}:chunk-index:${phase}`,
    sum2: (roundId: number) => `${r(roundId)}:sum2`,
    maskCounts: (roundId: number) => `${r(roundId)}:mask-counts`,
    masks: (roundId: number) => `${r(roundId)}:masks`,
  };
}

export type RedisStoreKeys = ReturnType<typeof redisStoreKeys>;

/** Every key of one round, given the sum participants in its seed index and the instances in its instance index. */
/** The phases whose incomplete multipart messages live in Redis (several instances: ADR 0008). */
export const CHUNK_PHASES = ['sum', 'update', 'sum2'] as const;

/** Every key of a round's incomplete multipart messages, given each phase's chunk index. */
export function chunkKeys(
  keys: RedisStoreKeys,
  roundId: number,
  holders: Readonly<Record<(typeof CHUNK_PHASES)[number], readonly string[]>>,
): string[] {
  return CHUNK_PHASES.flatMap((phase) => [
    keys.chunkBytes(roundId, phase),
    keys.chunkIndex(roundId, phase),
    ...holders[phase].map((pk) => keys.chunks(roundId, phase, pk)),
  ]);
}

export function roundKeys(
  keys: RedisStoreKeys,
  roundId: number,
  seedSumPks: readonly string[],
  instances: readonly string[],
): string[] {
  return [
    keys.round(roundId),
    keys.sums(roundId),
    keys.updates(roundId),
    keys.seedIndex(roundId),
    keys.instances(roundId),
    keys.subjects(roundId),
    keys.identityCounts(roundId),
    ...instances.flatMap((instance) => [keys.partial(roundId, instance), keys.log(roundId, instance)]),
    keys.sum2(roundId),
    keys.maskCounts(roundId),
    keys.masks(roundId),
    ...seedSumPks.map((pk) => keys.seeds(roundId, pk)),
  ];
}
