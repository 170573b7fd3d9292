/**
 * The Redis store against a real Redis (REDIS_URL, default 127.0.0.1:6379):
 * the shared conformance suite, then what only Redis can get wrong — the key
 * layout, raw bytes, corrupt values and an unreachable server. Each store
 * opened here gets its own key prefix (`petfl-test-<uuid>`), deleted after;
 * before that, every key it wrote is checked to be in one Redis Cluster hash
 * slot (redis/keys.ts), conformance tests included.
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
  type MaskObject,
  type PetCrypto,
  toBase64Url,
} from '@petfl/core';
import {
  FIXTURE_CONFIG,
  FIXTURE_LIMBS_CONFIG,
  fixtureEncryptKeyPair,
  fixtureModel,
  fixtureSeed,
  fixtureSigningKeyPair,
} from '@petfl/core/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  coordinatorStoreConformance,
  type OpenedCoordinatorStore,
} from '../../test-support/coordinator-store.conformance.ts';
import { clusterSlot, keysMatching, probeRedisFor, REDIS_REQUIRED, REDIS_URL } from '../../test-support/redis.ts';
import type { AggregateRecord, LivePhase, RoundRecord, RoundSummary, UpdateEntry } from './coordinator-store.ts';
import { roundKeys } from './redis/keys.ts';
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

/** Every key of the store on `prefix`, sorted. */
const keysUnder = (client: Redis, prefix: string): Promise<string[]> =>
  keysMatching(client, redisStoreKeys(prefix).pattern);

/**
 * Every key with `prefix` anywhere in its name (test prefixes hold no glob characters), so a key
 * written outside the layout would be found too: each must be the store's, in its one Redis
 * Cluster slot, the slot of the prefix's hash tag.
 */
async function expectOneSlot(client: Redis, prefix: string): Promise<string[]> {
  const found = await keysMatching(client, `*${prefix}*`);
  expect(found).toEqual(await keysUnder(client, prefix));
  const slot = clusterSlot(`{${prefix}}`);
  expect(found.filter((key) => clusterSlot(key) !== slot)).toEqual([]);
  return found;
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
        try {
          // After every conformance test: whatever the store wrote is in one Redis Cluster slot.
          await expectOneSlot(admin, prefix);
        } finally {
          await deleteUnder(admin, prefix);
        }
      },
    };
  }

  coordinatorStoreConformance('RedisCoordinatorStore', openRedis);

  describe('Redis specifics', () => {
    const LENGTH = 8;
    /** count.max for the writes here: never reached. */
    const MAX = 100;
    /** Two coordinator instances sharing the store (docs/decisions/0008-many-instances.md). */
    const INSTANCE = 'coordinator-a';
    const OTHER = 'coordinator-b';
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

    function roundRecord(roundId: number, phase: LivePhase = 'sum'): RoundRecord {
      const roundKeys = fixtureEncryptKeyPair(crypto, roundId);
      return {
        v: 1,
        roundId,
        phase,
        startedAt: 1_000,
        phaseStartedAt: 2_000,
        phaseDurationsMs: phase === 'sum' ? {} : { sum: 1_000 },
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

    /** Fixture model `index`, masked. */
    const maskedModel = (index: number, config = FIXTURE_CONFIG): MaskObject =>
      new Masker(crypto, config).mask(fixtureModel(LENGTH, index), 1).masked;

    function aggregateOf(objects: readonly MaskObject[]): AggregateRecord {
      const aggregation = new Aggregation(FIXTURE_CONFIG, LENGTH);
      for (const object of objects) aggregation.aggregate(object);
      return { modelCount: aggregation.modelCount, object: aggregation.toMaskObject() };
    }

    const entry = (maskedModel: MaskObject, instance = INSTANCE): UpdateEntry => ({ instance, maskedModel });

    /**
     * Round `roundId` (started, in its sum phase) run to its sum2 phase with one of everything:
     * a sum participant; two updates from INSTANCE, checkpointed after the first (so it has a
     * partial and a log) and one from OTHER (a log only); a Sum2 message. Returns what it stored.
     */
    async function fill(roundId: number) {
      const ephemeralPk = fixtureEncryptKeyPair(crypto, 40).publicKey;
      const seed = new Uint8Array(80).fill(0xa5);
      const seeds = new Map([[pk(0), seed]]);
      const masked = [0, 1, 2].map((i) => maskedModel(i)) as [MaskObject, MaskObject, MaskObject];
      const checkpoint = aggregateOf([masked[0]]);
      const mask = new Uint8Array([0, 1, 2, 254, 255]);
      expect(await store.addSumParticipant(roundId, pk(0), ephemeralPk, MAX)).toBe('added');
      // Token admission across instances: the key's subject binding and the subject's count.
      expect(await store.bindSubject(roundId, pk(0), 'subject-a', 1)).toBe('bound');
      await store.saveRound(roundRecord(roundId, 'update'));
      expect(await store.addUpdate(roundId, pk(1), seeds, entry(masked[0]), MAX)).toBe('added');
      expect(await store.checkpoint(roundId, INSTANCE, checkpoint)).toBe('saved');
      expect(await store.addUpdate(roundId, pk(2), seeds, entry(masked[1]), MAX)).toBe('added');
      expect(await store.addUpdate(roundId, pk(3), seeds, entry(masked[2], OTHER), MAX)).toBe('added');
      await store.saveRound(roundRecord(roundId, 'sum2'));
      expect(await store.addMask(roundId, pk(0), 'mask-hash', mask, MAX)).toBe('added');
      return { ephemeralPk, seed, masked, checkpoint, mask };
    }

    it('keeps the documented key layout, binary values as raw bytes', async () => {
      await store.startRound(roundRecord(1));
      expect(await admin.get(keys.phase)).toBe('1:sum');
      const { ephemeralPk, seed, masked, checkpoint, mask } = await fill(1);
      expect(await keysUnder(admin, opened.prefix)).toEqual(
        [
          keys.current,
          keys.phase,
          keys.lastRoundId,
          keys.round(1),
          keys.sums(1),
          keys.updates(1),
          keys.seedIndex(1),
          keys.seeds(1, pk(0)),
          keys.instances(1),
          keys.subjects(1),
          keys.identityCounts(1),
          keys.partial(1, INSTANCE),
          keys.log(1, INSTANCE),
          keys.log(1, OTHER),
          keys.sum2(1),
          keys.maskCounts(1),
          keys.masks(1),
        ].sort(),
      );
      expect(await admin.get(keys.current)).toBe('1');
      expect(await admin.get(keys.phase)).toBe('1:sum2');
      expect(new Uint8Array((await admin.hgetBuffer(keys.sums(1), pk(0))) ?? [])).toEqual(ephemeralPk);
      expect(new Uint8Array((await admin.hgetBuffer(keys.seeds(1, pk(0)), pk(1))) ?? [])).toEqual(seed);
      expect((await admin.smembers(keys.instances(1))).sort()).toEqual([INSTANCE, OTHER]);
      expect(new Uint8Array((await admin.hgetBuffer(keys.partial(1, INSTANCE), 'mask')) ?? [])).toEqual(
        encodeMaskObject(checkpoint.object),
      );
      expect(await admin.hget(keys.partial(1, INSTANCE), 'models')).toBe('1');
      const logOf = async (instance: string) =>
        (await admin.lrangeBuffer(keys.log(1, instance), 0, -1)).map((b) => new Uint8Array(b));
      expect(await logOf(INSTANCE)).toEqual([encodeMaskObject(masked[1])]);
      expect(await logOf(OTHER)).toEqual([encodeMaskObject(masked[2])]);
      expect(new Uint8Array((await admin.hgetBuffer(keys.masks(1), 'mask-hash')) ?? [])).toEqual(mask);
      expect(await admin.hget(keys.maskCounts(1), 'mask-hash')).toBe('1');

      const json = JSON.parse((await admin.get(keys.round(1))) ?? 'null') as Record<string, unknown>;
      expect(json['v']).toBe(1);
      expect(json['phase']).toBe('sum2');
      expect(json['roundSecretKey']).toBe(toBase64Url(fixtureEncryptKeyPair(crypto, 1).secretKey));
      expect(json['seed']).toBe(toBase64Url(fixtureSeed(1)));
    });

    it('keeps every key it writes during rounds in one Redis Cluster slot', async () => {
      const seen = new Set<string>();
      const step = async (body: () => Promise<unknown>) => {
        await body();
        for (const key of await expectOneSlot(admin, opened.prefix)) seen.add(key);
      };
      await step(() => store.saveMeta({ v: 1, paused: false, banned: { participants: [pk(9)], subjects: ['s'] } }));
      await step(() => store.startRound(roundRecord(1)));
      await step(() => store.addSumParticipant(1, pk(0), fixtureEncryptKeyPair(crypto, 40).publicKey, MAX));
      await step(() => store.addSumParticipant(1, pk(2), fixtureEncryptKeyPair(crypto, 42).publicKey, MAX));
      await step(() => store.bindSubject(1, pk(2), 'subject-b', 1));
      await step(() => store.saveRound(roundRecord(1, 'update')));
      const seeds = new Map([
        [pk(0), new Uint8Array(80).fill(1)],
        [pk(2), new Uint8Array(80).fill(2)],
      ]);
      const masked = [0, 1, 2].map((i) => maskedModel(i));
      // Each instance logs an update (its log), then checkpoints it (its partial; the log goes).
      await step(() => store.addUpdate(1, pk(1), seeds, entry(masked[0] as MaskObject, INSTANCE), MAX));
      await step(() => store.addUpdate(1, pk(3), seeds, entry(masked[1] as MaskObject, OTHER), MAX));
      await step(() => store.checkpoint(1, INSTANCE, aggregateOf([masked[0] as MaskObject])));
      await step(() => store.checkpoint(1, OTHER, aggregateOf([masked[1] as MaskObject])));
      await step(() => store.addUpdate(1, pk(4), seeds, entry(masked[2] as MaskObject, INSTANCE), MAX));
      await step(() => store.saveRound(roundRecord(1, 'sum2')));
      await step(() => store.addMask(1, pk(0), 'mask-hash', new Uint8Array([1, 2, 3]), MAX));
      await step(() => store.addMask(1, pk(2), 'mask-hash', new Uint8Array([1, 2, 3]), MAX));
      await step(() => store.endRound(summary(1)));
      await step(() => store.startRound(roundRecord(2)));
      await step(() => fill(2));
      await step(() => store.startRound(roundRecord(3)));

      expect([...seen].sort()).toEqual(
        [
          keys.meta,
          keys.current,
          keys.phase,
          keys.lastRoundId,
          keys.history,
          ...roundKeys(keys, 1, [pk(0), pk(2)], [INSTANCE, OTHER]),
          ...roundKeys(keys, 2, [pk(0)], [INSTANCE, OTHER]).filter((key) => key !== keys.partial(2, OTHER)),
          keys.round(3),
        ].sort(),
      );
      expect(new Set([...seen].map(clusterSlot))).toEqual(new Set([clusterSlot(`{${opened.prefix}}`)]));
    });

    it('endRound leaves only the history and the last round id; startRound deletes the previous round', async () => {
      await store.startRound(roundRecord(1));
      await fill(1);
      const round1 = roundKeys(keys, 1, [pk(0)], [INSTANCE, OTHER]);
      await store.startRound(roundRecord(2));
      expect(await admin.exists(...round1)).toBe(0);
      expect(await keysUnder(admin, opened.prefix)).toEqual(
        [keys.current, keys.phase, keys.lastRoundId, keys.round(2)].sort(),
      );
      expect(await admin.get(keys.phase)).toBe('2:sum');
      await fill(2);
      // OTHER checkpoints too: both instances now have a partial and INSTANCE a log besides.
      expect(await store.checkpoint(2, OTHER, aggregateOf([maskedModel(2)]))).toBe('saved');
      expect(await admin.exists(...roundKeys(keys, 2, [pk(0)], [INSTANCE, OTHER]))).toBe(
        roundKeys(keys, 2, [pk(0)], [INSTANCE, OTHER]).length - 1, // all but OTHER's emptied log
      );
      await store.endRound(summary(2));
      expect(await keysUnder(admin, opened.prefix)).toEqual([keys.history, keys.lastRoundId].sort());
      expect(JSON.parse((await admin.lindex(keys.history, 0)) ?? 'null')).toEqual({ v: 1, ...summary(2) });
    });

    it('bindSubject binds a key to one subject and counts a subject’s keys up to max', async () => {
      await store.startRound(roundRecord(1));
      expect(await store.bindSubject(1, pk(0), 'alice', 2)).toBe('bound');
      expect(await store.bindSubject(1, pk(0), 'alice', 2)).toBe('bound'); // again: the same binding
      expect(await store.bindSubject(1, pk(0), 'mallory', 2)).toBe('other-subject');
      expect(await store.bindSubject(1, pk(1), 'alice', 2)).toBe('bound');
      expect(await store.bindSubject(1, pk(2), 'alice', 2)).toBe('too-many');
      expect(await admin.hgetall(keys.identityCounts(1))).toEqual({ alice: '2' });
      await expect(store.bindSubject(2, pk(3), 'bob', 1)).rejects.toThrow(/not the round in progress/);
    });

    it('a write for a round not in progress writes no key at all', async () => {
      await store.startRound(roundRecord(3, 'update'));
      const before = await keysUnder(admin, opened.prefix);
      await expect(
        store.addUpdate(4, pk(1), new Map([[pk(0), new Uint8Array(80)]]), entry(maskedModel(0)), MAX),
      ).rejects.toThrow(/round 4 is not the round in progress/);
      await expect(store.addSumParticipant(4, pk(0), new Uint8Array(32), MAX)).rejects.toBeInstanceOf(StoreError);
      await expect(store.addMask(4, pk(0), 'h', new Uint8Array(3), MAX)).rejects.toBeInstanceOf(StoreError);
      await expect(store.checkpoint(4, INSTANCE, aggregateOf([]))).rejects.toThrow(
        /round 4 is not the round in progress/,
      );
      await expect(store.saveRound(roundRecord(4))).rejects.toBeInstanceOf(StoreError);
      expect(await keysUnder(admin, opened.prefix)).toEqual(before);
    });

    it('a refused write (closed, full, duplicate, a checkpoint behind or ahead) writes no key at all', async () => {
      await store.startRound(roundRecord(3));
      const seeds = new Map([[pk(0), new Uint8Array(80)]]);
      const [m0, m1] = [maskedModel(0), maskedModel(1)];
      // Closed: no update log, instance index, seed dictionary or Sum2 key appears.
      let before = await keysUnder(admin, opened.prefix);
      expect(await store.addUpdate(3, pk(1), seeds, entry(m0), MAX)).toBe('closed');
      expect(await store.addMask(3, pk(0), 'h', new Uint8Array(3), MAX)).toBe('closed');
      // Full at a count.max of 0: no sums hash.
      expect(await store.addSumParticipant(3, pk(0), new Uint8Array(32), 0)).toBe('full');
      expect(await keysUnder(admin, opened.prefix)).toEqual(before);

      await store.saveRound(roundRecord(3, 'update'));
      expect(await store.addUpdate(3, pk(1), seeds, entry(m0), 1)).toBe('added');
      expect(await store.addUpdate(3, pk(2), seeds, entry(m1, OTHER), 1)).toBe('full');
      expect(await store.addUpdate(3, pk(1), seeds, entry(m1, OTHER), MAX)).toBe('duplicate');
      expect(await admin.smembers(keys.instances(3))).toEqual([INSTANCE]);
      before = await keysUnder(admin, opened.prefix);
      const log = await admin.lrangeBuffer(keys.log(3, INSTANCE), 0, -1);
      expect(await store.checkpoint(3, INSTANCE, aggregateOf([]))).toBe('behind');
      await expect(store.checkpoint(3, INSTANCE, aggregateOf([m0, m1]))).rejects.toThrow(
        /checkpoint: coordinator-a logged fewer than 2 updates in round 3/,
      );
      await expect(store.checkpoint(3, OTHER, aggregateOf([m1]))).rejects.toBeInstanceOf(StoreError);
      expect(await keysUnder(admin, opened.prefix)).toEqual(before);
      expect(await admin.lrangeBuffer(keys.log(3, INSTANCE), 0, -1)).toEqual(log);
      expect(await admin.smembers(keys.instances(3))).toEqual([INSTANCE]);
    });

    it('several stores on one prefix (instances) never take more than count.max between them', async () => {
      const others = Array.from(
        { length: 3 },
        () => new RedisCoordinatorStore({ url: REDIS_URL, keyPrefix: opened.prefix }),
      );
      try {
        const instances = [store, ...others];
        await store.startRound(roundRecord(5, 'update'));
        const masked = maskedModel(0);
        const answers = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (instances[i % 4] as RedisCoordinatorStore).addUpdate(
              5,
              pk(10 + i),
              new Map(),
              entry(masked, `coordinator-${i % 4}`),
              7,
            ),
          ),
        );
        expect(answers.filter((a) => a === 'added')).toHaveLength(7);
        expect(answers.filter((a) => a === 'full')).toHaveLength(13);
        expect(await admin.scard(keys.updates(5))).toBe(7);
        const partials = await store.partials(5, FIXTURE_CONFIG, LENGTH);
        expect(partials.reduce((n, p) => n + p.tail.length, 0)).toBe(7);
        expect(await store.counts(5)).toEqual({ sum: 0, update: 7, sum2: 0 });
      } finally {
        for (const other of others) await other.close();
      }
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

    /** Encoded masked models that do not decode under the round's config and length, and why. */
    function corruptEncodings(valid: Uint8Array): [Buffer, RegExp][] {
      // Elements are packed at elementBits (protocol.md §3.6): under power2 every packed value is
      // in range, so the defect is a set padding bit above the scalar, in the encoding's last byte.
      const padding = Buffer.from(valid);
      padding[padding.length - 1] = (padding[padding.length - 1] as number) | 0x80;
      return [
        [Buffer.from(valid.subarray(0, valid.length - 1)), /corrupt masked model: mask object\.scalar: expected/],
        [Buffer.concat([Buffer.from(valid), Buffer.from([0])]), /corrupt masked model: .*expected end of input/],
        [padding, /corrupt masked model: mask object\.scalar: expected the \d padding bits after element 0 to be zero/],
        [Buffer.from(valid.subarray(0, 6)), /corrupt masked model: mask object\.count: expected 4 bytes/],
        [Buffer.from(encodeMaskObject(maskedModel(0, FIXTURE_LIMBS_CONFIG))), /corrupt masked model: /],
        [Buffer.alloc(0), /corrupt masked model: /],
      ];
    }

    async function partialsError(roundId: number): Promise<string> {
      const error = await store.partials(roundId, FIXTURE_CONFIG, LENGTH).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      return messageOf(error);
    }

    it('a corrupt or truncated checkpoint is a StoreError from partials naming its key, not a half-decoded partial', async () => {
      await store.startRound(roundRecord(6));
      const { checkpoint } = await fill(6);
      const key = keys.partial(6, INSTANCE);
      const corrupt: [Record<string, Buffer | string>, RegExp][] = [
        ...corruptEncodings(encodeMaskObject(checkpoint.object)).map(
          ([mask, reason]): [Record<string, Buffer | string>, RegExp] => [{ mask }, reason],
        ),
        [{ mask: Buffer.from(encodeMaskObject(checkpoint.object)), models: 'many' }, /models: corrupt value/],
        [{ mask: Buffer.from(encodeMaskObject(checkpoint.object)), models: '-1' }, /models: corrupt value/],
      ];
      for (const [fields, reason] of corrupt) {
        await admin.del(key);
        await admin.hset(key, { models: '1', ...fields });
        const message = await partialsError(6);
        expect(message).toContain(key);
        expect(message).toMatch(reason);
      }
      await admin.hdel(key, 'models');
      expect(await partialsError(6)).toMatch(/expected fields mask and models/);
      await admin.del(key);
      await admin.hset(key, { models: '1' });
      expect(await partialsError(6)).toMatch(/expected fields mask and models/);

      // Put back, it loads again.
      await admin.hset(key, { mask: Buffer.from(encodeMaskObject(checkpoint.object)) });
      expect((await store.partials(6, FIXTURE_CONFIG, LENGTH)).map((p) => p.checkpoint?.modelCount).sort()).toEqual([
        1,
        undefined,
      ]);
    });

    it('a corrupt or truncated log entry is a StoreError from partials naming its key and index', async () => {
      await store.startRound(roundRecord(7));
      const { masked } = await fill(7);
      const key = keys.log(7, OTHER);
      // OTHER's log holds one entry; a second, valid one before it puts the corrupt one at [1].
      await admin.lpush(key, Buffer.from(encodeMaskObject(maskedModel(5))));
      for (const [bytes, reason] of corruptEncodings(encodeMaskObject(masked[2]))) {
        await admin.lset(key, 1, bytes);
        const message = await partialsError(7);
        expect(message).toContain(`${key}[1]`);
        expect(message).toMatch(reason);
      }
      await admin.lset(key, 1, Buffer.from(encodeMaskObject(masked[2])));
      const other = (await store.partials(7, FIXTURE_CONFIG, LENGTH)).find((p) => p.instance === OTHER);
      expect(other?.tail).toHaveLength(2);
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
        () => store.addSumParticipant(1, 'pk', new Uint8Array(32), 10),
        () => store.partials(1, FIXTURE_CONFIG, 8),
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

  it('refuses a key prefix that makes no hash tag before it opens a connection', async () => {
    expect(() => new RedisCoordinatorStore({ url: DEAD_URL, keyPrefix: 'a}b' })).toThrow(/keyPrefix: expected/);
    await expect(RedisCoordinatorStore.connect({ url: DEAD_URL, keyPrefix: '' })).rejects.toBeInstanceOf(StoreError);
  });

  it('connect() rejects within a few seconds', async () => {
    const started = performance.now();
    await expect(RedisCoordinatorStore.connect({ url: DEAD_URL })).rejects.toBeInstanceOf(StoreError);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
