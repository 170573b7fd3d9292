/**
 * The Redis store's key names: one hash tag per prefix, so every key of a store is in one Redis
 * Cluster slot (the slot is computed by test-support/redis.ts, independently of keys.ts).
 */

import { describe, expect, it } from 'vitest';
import { clusterSlot } from '../../../test-support/redis.ts';
import { StoreError } from '../store-error.ts';
import { hashTagOf, keyBase, redisStoreKeys, roundKeys } from './keys.ts';

const PK = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8';

/** Every key name a store on `prefix` can use, round keys of rounds 1 and 2⁵³ − 1 included. */
function everyKey(prefix: string): string[] {
  const keys = redisStoreKeys(prefix);
  return [
    keys.current,
    keys.phase,
    keys.lastRoundId,
    keys.meta,
    keys.history,
    ...roundKeys(keys, 1, [PK, 'other-pk'], ['coordinator-a', 'b{x}']),
    ...roundKeys(keys, Number.MAX_SAFE_INTEGER, [PK], []),
  ];
}

describe('Redis Cluster slots (test support)', () => {
  it('match the vectors of the Redis Cluster specification', () => {
    // CRC16/XMODEM check value; CLUSTER KEYSLOT examples of the Redis documentation.
    expect(clusterSlot('123456789')).toBe(0x31c3);
    expect(clusterSlot('somekey')).toBe(11058);
    expect(clusterSlot('foo{hash_tag}')).toBe(2515);
    expect(clusterSlot('{user1000}.following')).toBe(clusterSlot('{user1000}.followers'));
    // An empty tag does not count: the whole key is hashed, and the later {bar} is not a tag.
    expect(clusterSlot('foo{}{bar}')).not.toBe(clusterSlot('bar'));
    expect(clusterSlot('foo{{bar}}zap')).toBe(clusterSlot('{bar'));
  });
});

describe('redisStoreKeys', () => {
  it('puts the prefix in a hash tag at the start of every key', () => {
    const keys = redisStoreKeys('petfl');
    expect(keys.current).toBe('{petfl}:current');
    expect(keys.lastRoundId).toBe('{petfl}:last-round-id');
    expect(keys.meta).toBe('{petfl}:meta');
    expect(keys.history).toBe('{petfl}:history');
    expect(keys.round(7)).toBe('{petfl}:r:7:round');
    expect(keys.seeds(7, PK)).toBe(`{petfl}:r:7:seeds:${PK}`);
    expect(keys.phase).toBe('{petfl}:phase');
    expect(keys.instances(7)).toBe('{petfl}:r:7:instances');
    expect(keys.partial(7, 'coordinator-a')).toBe('{petfl}:r:7:partial:coordinator-a');
    expect(keys.log(7, 'coordinator-a')).toBe('{petfl}:r:7:log:coordinator-a');
    expect(keys.pattern).toBe('{petfl}:*');
    for (const key of everyKey('petfl')) expect(hashTagOf(key)).toBe('petfl');
  });

  it('keeps every key of one prefix in one slot, and prefixes apart', () => {
    for (const prefix of ['petfl', 'petfl-test-5f0c', 'a:b', 'ünïcödé', '{tenant-7}:petfl', 'app{x}y']) {
      const slots = new Set(everyKey(prefix).map(clusterSlot));
      expect(slots, prefix).toEqual(new Set([clusterSlot(keyBase(prefix))]));
    }
    expect(clusterSlot(redisStoreKeys('coordinator-a').current)).not.toBe(
      clusterSlot(redisStoreKeys('coordinator-b').current),
    );
  });

  it("lists every key of a round: its collections, each sum participant's seeds, each instance's partial and log", () => {
    const keys = redisStoreKeys('petfl');
    const all = roundKeys(keys, 7, [PK, 'other-pk'], ['coordinator-a', 'coordinator-b']);
    expect([...all].sort()).toEqual(
      [
        keys.round(7),
        keys.sums(7),
        keys.updates(7),
        keys.seedIndex(7),
        keys.seeds(7, PK),
        keys.seeds(7, 'other-pk'),
        keys.instances(7),
        keys.subjects(7),
        keys.identityCounts(7),
        keys.partial(7, 'coordinator-a'),
        keys.log(7, 'coordinator-a'),
        keys.partial(7, 'coordinator-b'),
        keys.log(7, 'coordinator-b'),
        keys.sum2(7),
        keys.maskCounts(7),
        keys.masks(7),
      ].sort(),
    );
    expect(new Set(all).size).toBe(all.length);
    // The store-wide keys are not a round's: endRound deletes current and phase itself.
    for (const key of [keys.current, keys.phase, keys.lastRoundId, keys.meta, keys.history]) {
      expect(all).not.toContain(key);
    }
    expect(roundKeys(keys, 7, [], [])).toHaveLength(10);
  });

  it('uses a prefix that holds a hash tag as it is', () => {
    expect(redisStoreKeys('{tenant-7}:petfl').current).toBe('{tenant-7}:petfl:current');
    expect(redisStoreKeys('{petfl}').current).toBe(redisStoreKeys('petfl').current);
    expect(hashTagOf(redisStoreKeys('{tenant-7}:petfl').round(1))).toBe('tenant-7');
  });

  it('refuses an empty prefix and braces that make no hash tag', () => {
    for (const prefix of ['', '}', '}x', 'a}b', '{}x', 'a{b', 'x{}{y}']) {
      expect(() => redisStoreKeys(prefix), JSON.stringify(prefix)).toThrow(StoreError);
    }
    expect(() => redisStoreKeys('a{b')).toThrow(
      'redis keyPrefix: expected non-empty text without braces, or text with a hash tag such as {petfl}, got "a{b"',
    );
  });

  it('escapes glob characters of the prefix in its SCAN pattern', () => {
    expect(redisStoreKeys('p*?[x]\\').pattern).toBe('{p\\*\\?\\[x\\]\\\\}:*');
  });
});
