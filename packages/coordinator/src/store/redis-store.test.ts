/**
 * The Redis store against a real Redis (REDIS_URL, default 127.0.0.1:6379):
 * the shared conformance suite, then what only Redis can get wrong — the key
 * layout, raw bytes, corrupt values and an unreachable server. Each store
 * opened here gets its own key prefix (`petfl-test-<uuid>`), deleted after.
 *
 * Without Redis the suite is skipped with a warning, unless CI or
 * REDIS_REQUIRED is set: then the availability check fails the run.
 */

import { randomUUID } from 'node:crypto';
import {
  Aggregation,
  encodeMaskObject,
  initCrypto,
  Masker,
  maskParams,
  type PetCrypto,
  toBase64Url,
} from '@petfl/core';
import {
  FIXTURE_CONFIG,
  fixtureEncryptKeyPair,
  fixtureModel,
  fixtureSeed,
  fixtureSigningKeyPair,
} from '@petfl/core/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { probeRedisFor, REDIS_REQUIRED, REDIS_URL } from '../test-support/redis.ts';
import { coordinatorStoreConformance, type OpenedCoordinatorStore } from './coordinator-store.conformance.ts';
import type { AggregateRecord, RoundRecord, RoundSummary } from './coordinator-store.ts';
import { RedisCoordinatorStore, redisStoreKeys } from './redis-store.ts';
import { StoreError } from './store-error.ts';

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const unreachable = await probeRedisFor('Redis store tests');

describe('Redis availability', () => {
  it.skipIf(unreachable !== undefined && !REDIS_REQUIRED)(`Redis answers at ${REDIS_URL}`, () => {
    expect(unreachable, 'Redis is required here (CI or REDIS_REQUIRED is set)').toBeUndefined();
  });
});

/** Every key under a prefix, sorted. */
async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found.sort();
}

async function deleteUnder(client: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(client, prefix);
  if (keys.length > 0) await client.del(...keys);
}

describe.skipIf(unreachable !== undefined)('RedisCoordinatorStore', () => {
  let admin: Redis;

  beforeAll(() => {
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  });

  afterAll(async () => {
    await admin.quit();
  });

  /** A store on a fresh prefix; `reopen` closes the stores before it and connects anew. */
  async function openRedis(): Promise<OpenedCoordinatorStore & { readonly prefix: string }> {
    const prefix = `petfl-test-${randomUUID()}`;
    const stores: RedisCoordinatorStore[] = [];
    const connect = () => {
      const store = new RedisCoordinatorStore({ url: REDIS_URL, keyPrefix: prefix });
      stores.push(store);
      return store;
    };
    const closeAll = async () => {
      for (const store of stores.splice(0)) await store.close();
    };
    return {
      prefix,
      store: connect(),
      reopen: async () => {
        await closeAll();
        return connect();
      },
      cleanup: async () => {
        await closeAll();
        await deleteUnder(admin, prefix);
      },
    };
  }

  coordinatorStoreConformance('RedisCoordinatorStore', openRedis);

  describe('Redis specifics', () => {
    const LENGTH = 8;
    let crypto: PetCrypto;
    let opened: Awaited<ReturnType<typeof openRedis>>;
    let store: RedisCoordinatorStore;
    let keys: ReturnType<typeof redisStoreKeys>;

    beforeAll(async () => {
      crypto = await initCrypto();
    });

    beforeEach(async () => {
      opened = await openRedis();
      store = opened.store as RedisCoordinatorStore;
      keys = redisStoreKeys(opened.prefix);
    });

    afterEach(async () => {
      await opened.cleanup();
    });

    function roundRecord(roundId: number): RoundRecord {
      const roundKeys = fixtureEncryptKeyPair(crypto, roundId);
      return {
        v: 1,
        roundId,
        phase: 'update',
        startedAt: 1_000,
        phaseStartedAt: 2_000,
        phaseDurationsMs: { sum: 1_000 },
        roundPublicKey: roundKeys.publicKey,
        roundSecretKey: roundKeys.secretKey,
        seed: fixtureSeed(roundId),
        pet: {
          sum: { probability: 0.5, count: { min: 1, max: 10 }, time: { minMs: 0, maxMs: 1_000 } },
          update: { probability: 0.9, count: { min: 1, max: 10 }, time: { minMs: 0, maxMs: 1_000 } },
          sum2: { count: { min: 1, max: 10 }, time: { minMs: 0, maxMs: 1_000 } },
        },
        maskConfig: FIXTURE_CONFIG,
        modelLength: LENGTH,
      };
    }

    const summary = (roundId: number): RoundSummary => ({
      roundId,
      outcome: 'completed',
      startedAt: 1_000,
      endedAt: 9_000,
      phaseDurationsMs: { sum: 1, update: 2, sum2: 3, unmask: 4 },
      participants: { sum: 1, update: 1, sum2: 1 },
    });

    const pk = (i: number) => toBase64Url(fixtureSigningKeyPair(crypto, i).publicKey);

    function aggregateOf(count: number): AggregateRecord {
      const aggregation = new Aggregation(FIXTURE_CONFIG, LENGTH);
      const masker = new Masker(crypto, FIXTURE_CONFIG);
      for (let i = 0; i < count; i++) aggregation.aggregate(masker.mask(fixtureModel(LENGTH, i), 1).masked);
      return { modelCount: aggregation.modelCount, object: aggregation.toMaskObject() };
    }

    /** Round `roundId` with one of everything; returns what it stored. */
    async function fill(roundId: number) {
      const ephemeralPk = fixtureEncryptKeyPair(crypto, 40).publicKey;
      const seed = new Uint8Array(80).fill(0xa5);
      const aggregate = aggregateOf(1);
      const mask = new Uint8Array([0, 1, 2, 254, 255]);
      await store.addSumParticipant(roundId, pk(0), ephemeralPk);
      await store.addUpdate(roundId, pk(1), new Map([[pk(0), seed]]), aggregate);
      await store.addMask(roundId, pk(0), 'mask-hash', mask);
      return { ephemeralPk, seed, aggregate, mask };
    }

    it('keeps the documented key layout, binary values as raw bytes', async () => {
      await store.startRound(roundRecord(1));
      const { ephemeralPk, seed, aggregate, mask } = await fill(1);
      expect(await keysUnder(admin, opened.prefix)).toEqual(
        [
          keys.current,
          keys.lastRoundId,
          keys.round(1),
          keys.sums(1),
          keys.updates(1),
          keys.seedIndex(1),
          keys.seeds(1, pk(0)),
          keys.aggregate(1),
          keys.sum2(1),
          keys.maskCounts(1),
          keys.masks(1),
        ].sort(),
      );
      expect(await admin.get(keys.current)).toBe('1');
      expect(new Uint8Array((await admin.hgetBuffer(keys.sums(1), pk(0))) ?? [])).toEqual(ephemeralPk);
      expect(new Uint8Array((await admin.hgetBuffer(keys.seeds(1, pk(0)), pk(1))) ?? [])).toEqual(seed);
      expect(new Uint8Array((await admin.hgetBuffer(keys.aggregate(1), 'mask')) ?? [])).toEqual(
        encodeMaskObject(aggregate.object),
      );
      expect(await admin.hget(keys.aggregate(1), 'models')).toBe('1');
      expect(new Uint8Array((await admin.hgetBuffer(keys.masks(1), 'mask-hash')) ?? [])).toEqual(mask);
      expect(await admin.hget(keys.maskCounts(1), 'mask-hash')).toBe('1');

      const json = JSON.parse((await admin.get(keys.round(1))) ?? 'null') as Record<string, unknown>;
      expect(json['v']).toBe(1);
      expect(json['roundSecretKey']).toBe(toBase64Url(fixtureEncryptKeyPair(crypto, 1).secretKey));
      expect(json['seed']).toBe(toBase64Url(fixtureSeed(1)));
    });

    it('endRound leaves only the history and the last round id; startRound deletes the previous round', async () => {
      await store.startRound(roundRecord(1));
      await fill(1);
      await store.startRound(roundRecord(2));
      expect(await keysUnder(admin, `${opened.prefix}:r:1`)).toEqual([]);
      await fill(2);
      await store.endRound(summary(2));
      expect(await keysUnder(admin, opened.prefix)).toEqual([keys.history, keys.lastRoundId].sort());
      expect(JSON.parse((await admin.lindex(keys.history, 0)) ?? 'null')).toEqual({ v: 1, ...summary(2) });
    });

    it('a write for a round not in progress writes no key at all', async () => {
      await store.startRound(roundRecord(3));
      const before = await keysUnder(admin, opened.prefix);
      await expect(store.addUpdate(4, pk(1), new Map([[pk(0), new Uint8Array(80)]]), aggregateOf(1))).rejects.toThrow(
        /round 4 is not the round in progress/,
      );
      await expect(store.addSumParticipant(4, pk(0), new Uint8Array(32))).rejects.toBeInstanceOf(StoreError);
      await expect(store.addMask(4, pk(0), 'h', new Uint8Array(3))).rejects.toBeInstanceOf(StoreError);
      await expect(store.saveRound(roundRecord(4))).rejects.toBeInstanceOf(StoreError);
      expect(await keysUnder(admin, opened.prefix)).toEqual(before);
    });

    it('a corrupt round record is a StoreError naming the key and the reason, never a half-loaded record', async () => {
      await store.startRound(roundRecord(5));
      const valid = JSON.parse((await admin.get(keys.round(5))) ?? 'null') as Record<string, unknown>;
      const cases: [string, RegExp][] = [
        ['{"v":1, "roundId": 5,', /not JSON/],
        ['[1, 2, 3]', /expected an object/],
        [JSON.stringify({ ...valid, v: 2 }), /round record\.v: expected 1, got 2/],
        [JSON.stringify({ ...valid, roundSecretKey: 'not base64url!' }), /roundSecretKey: invalid base64url/],
        [JSON.stringify({ ...valid, maskConfig: undefined }), /maskConfig: expected an object/],
        [JSON.stringify({ ...valid, phase: 'unmask' }), /phase: expected one of sum, update, sum2/],
        [
          JSON.stringify({ ...valid, pet: { ...(valid['pet'] as object), sum2: null } }),
          /pet\.sum2: expected an object/,
        ],
        [JSON.stringify({ ...valid, roundId: 6 }), /roundId: expected 5, got 6/],
      ];
      for (const [text, reason] of cases) {
        await admin.set(keys.round(5), text);
        const error = await store.loadRound().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect(messageOf(error)).toContain(keys.round(5));
        expect(messageOf(error)).toMatch(reason);
      }
      await admin.del(keys.round(5));
      await expect(store.loadRound()).rejects.toThrow(/has no record/);
      await admin.set(keys.current, 'five');
      await expect(store.loadRound()).rejects.toBeInstanceOf(StoreError);
    });

    it('a corrupt or truncated aggregate is a StoreError from loadAggregate, not a half-decoded aggregate', async () => {
      await store.startRound(roundRecord(6));
      const { aggregate } = await fill(6);
      const bytes = encodeMaskObject(aggregate.object);
      // config (4) and count (4), then the first element: all ones is above the group order.
      const outOfRange = Buffer.from(bytes);
      outOfRange.fill(0xff, 8, 8 + maskParams(FIXTURE_CONFIG).bytesPerNumber);
      const corrupt: [Record<string, Buffer | string>, RegExp][] = [
        [
          { mask: Buffer.from(bytes.subarray(0, bytes.length - 1)) },
          /corrupt aggregate: mask object\.scalar: expected/,
        ],
        [{ mask: Buffer.concat([Buffer.from(bytes), Buffer.from([0])]) }, /corrupt aggregate: .*expected end of input/],
        [
          { mask: outOfRange },
          /corrupt aggregate: mask object\.vector\[0\]: expected an element below the group order/,
        ],
        [{ mask: Buffer.from(bytes.subarray(0, 6)) }, /corrupt aggregate: mask object\.count: expected 4 bytes/],
        [{ mask: Buffer.from(bytes), models: 'many' }, /models: corrupt value/],
        [{ mask: Buffer.from(bytes), models: '-1' }, /models: corrupt value/],
      ];
      for (const [fields, reason] of corrupt) {
        await admin.del(keys.aggregate(6));
        await admin.hset(keys.aggregate(6), { models: '1', ...fields });
        const error = await store.loadAggregate(6, FIXTURE_CONFIG, LENGTH).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect(messageOf(error)).toContain(keys.aggregate(6));
        expect(messageOf(error)).toMatch(reason);
      }
      await admin.hdel(keys.aggregate(6), 'models');
      await expect(store.loadAggregate(6, FIXTURE_CONFIG, LENGTH)).rejects.toThrow(/expected fields mask and models/);
    });

    it('a corrupt history entry, meta or last round id is a StoreError', async () => {
      await admin.lpush(keys.history, '{"v":1,"roundId":"x"}');
      await expect(store.history(10)).rejects.toThrow(/history\[0\]: corrupt value: round summary\.roundId/);
      await admin.set(keys.meta, '{"v":1,"paused":"yes"}');
      await expect(store.loadMeta()).rejects.toThrow(/meta: corrupt value: meta\.paused/);
      await admin.set(keys.lastRoundId, '12abc');
      await expect(store.lastRoundId()).rejects.toBeInstanceOf(StoreError);
    });

    it('refuses to write a record that would not read back', async () => {
      const bad = { ...roundRecord(7), startedAt: Number.NaN };
      await expect(store.startRound(bad)).rejects.toThrow(/startRound: invalid round record: .*startedAt/);
      expect(await keysUnder(admin, opened.prefix)).toEqual([]);
    });

    it('keeps stores on different prefixes apart', async () => {
      const other = await openRedis();
      try {
        await store.startRound(roundRecord(1));
        await fill(1);
        expect(await other.store.loadRound()).toBeUndefined();
        expect(await other.store.lastRoundId()).toBe(0);
        await expect(other.store.sumDict(1)).rejects.toBeInstanceOf(StoreError);
      } finally {
        await other.cleanup();
      }
    });

    it('uses a client passed in, and leaves it open on close', async () => {
      const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
      try {
        const borrowed = new RedisCoordinatorStore({ client, keyPrefix: opened.prefix });
        await borrowed.startRound(roundRecord(2));
        expect((await store.loadRound())?.roundId).toBe(2);
        await borrowed.close();
        expect(await client.ping()).toBe('PONG');
      } finally {
        await client.quit();
      }
    });

    it('connect() checks that Redis answers', async () => {
      const connected = await RedisCoordinatorStore.connect({ url: REDIS_URL, keyPrefix: opened.prefix });
      expect(await connected.lastRoundId()).toBe(0);
      await connected.close();
    });
  });
});

describe('RedisCoordinatorStore without Redis', () => {
  // Port 1 refuses connections: every operation must reject (bounded retries), never hang.
  const DEAD_URL = 'redis://127.0.0.1:1';

  it('rejects every operation within a few seconds with a StoreError', async () => {
    const store = new RedisCoordinatorStore({ url: DEAD_URL, keyPrefix: `petfl-test-${randomUUID()}` });
    try {
      const calls: (() => Promise<unknown>)[] = [
        () => store.loadRound(),
        () => store.sumDict(1),
        () => store.addSumParticipant(1, 'pk', new Uint8Array(32)),
        () =>
          store.endRound({
            roundId: 1,
            outcome: 'failed',
            failureReason: 'no Redis',
            startedAt: 0,
            endedAt: 1,
            phaseDurationsMs: {},
            participants: { sum: 0, update: 0, sum2: 0 },
          }),
      ];
      for (const call of calls) {
        const started = performance.now();
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect(messageOf(error)).toMatch(/^redis \w+: /);
        expect(performance.now() - started).toBeLessThan(5_000);
      }
    } finally {
      await store.close();
    }
  });

  it('connect() rejects within a few seconds', async () => {
    const started = performance.now();
    await expect(RedisCoordinatorStore.connect({ url: DEAD_URL })).rejects.toBeInstanceOf(StoreError);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
