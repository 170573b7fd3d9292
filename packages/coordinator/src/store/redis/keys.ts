/**
 * The Redis store's key layout (redis-store.ts draws it): one function per key, named after what
 * it holds, so the scripts, the transactions and the tests name keys the same way.
 */

/** The key names of one store (the layout is drawn in redis-store.ts); exported for tests and operator tools. */
export function redisStoreKeys(prefix: string) {
  const r = (roundId: number) => `${prefix}:r:${roundId}`;
  return {
    current: `${prefix}:current`,
    lastRoundId: `${prefix}:last-round-id`,
    meta: `${prefix}:meta`,
    history: `${prefix}:history`,
    round: (roundId: number) => `${r(roundId)}:round`,
    sums: (roundId: number) => `${r(roundId)}:sums`,
    updates: (roundId: number) => `${r(roundId)}:updates`,
    seeds: (roundId: number, sumParticipantPk: string) => `${r(roundId)}:seeds:${sumParticipantPk}`,
    seedIndex: (roundId: number) => `${r(roundId)}:seed-index`,
    aggregate: (roundId: number) => `${r(roundId)}:aggregate`,
    sum2: (roundId: number) => `${r(roundId)}:sum2`,
    maskCounts: (roundId: number) => `${r(roundId)}:mask-counts`,
    masks: (roundId: number) => `${r(roundId)}:masks`,
  };
}

export type RedisStoreKeys = ReturnType<typeof redisStoreKeys>;

/** Every key of one round, given the sum participants in its seed index. */
export function roundKeys(keys: RedisStoreKeys, roundId: number, seedSumPks: readonly string[]): string[] {
  return [
    keys.round(roundId),
    keys.sums(roundId),
    keys.updates(roundId),
    keys.seedIndex(roundId),
    keys.aggregate(roundId),
    keys.sum2(roundId),
    keys.maskCounts(roundId),
    keys.masks(roundId),
    ...seedSumPks.map((pk) => keys.seeds(roundId, pk)),
  ];
}
