/**
 * The conformance suite of the `CoordinatorStore` port (CONVENTIONS §13): one
 * set of tests every implementation runs (memory-store.test.ts,
 * redis-store.test.ts), so the coordinator can swap stores without noticing.
 *
 * The data is real: round keys, sum participants' ephemeral keys and sealed
 * mask seeds come from libsodium, and the aggregate is built with `Masker` and
 * `Aggregation` from fixture models, so a store that garbles a byte fails the
 * unmasking check, not just an equality. `reopen` proves durability: a new
 * store over the same data (memory: the same instance; Redis: a new
 * connection on the same prefix) must see the round in progress unchanged.
 */

import {
  Aggregation,
  deriveMask,
  type EncryptKeyPair,
  initCrypto,
  type MaskConfig,
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
  weightedAverage,
} from '@petfl/core/testing';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AggregateRecord,
  type CoordinatorMeta,
  type CoordinatorStore,
  DEFAULT_META,
  HISTORY_LIMIT,
  type RoundPetSettings,
  type RoundRecord,
  type RoundSummary,
} from './coordinator-store.ts';
import { StoreError } from './store-error.ts';

export interface OpenedCoordinatorStore {
  /** A store over empty data. */
  readonly store: CoordinatorStore;
  /** A new store over the same data (memory: the same instance; Redis: a new connection). */
  reopen(): Promise<CoordinatorStore>;
  /** Closes every store opened and deletes the data. */
  cleanup(): Promise<void>;
}

const LENGTH = 16;

const PET: RoundPetSettings = {
  sum: { probability: 0.5, count: { min: 1, max: 10 }, time: { minMs: 0, maxMs: 60_000 } },
  update: { probability: 0.9, count: { min: 3, max: 100 }, time: { minMs: 1_000, maxMs: 120_000 } },
  sum2: { count: { min: 1, max: 10 }, time: { minMs: 0, maxMs: 30_000 } },
};

const NEXT_PET: RoundPetSettings = {
  sum: { probability: 0.25, count: { min: 2, max: 20 }, time: { minMs: 0, maxMs: 10_000 } },
  update: { probability: 1, count: { min: 5, max: 500 }, time: { minMs: 0, maxMs: 20_000 } },
  sum2: { count: { min: 2, max: 20 }, time: { minMs: 0, maxMs: 10_000 } },
};

const T0 = 1_767_225_600_000; // 2026-01-01, ms

export function coordinatorStoreConformance(name: string, open: () => Promise<OpenedCoordinatorStore>): void {
  describe(`CoordinatorStore conformance: ${name}`, () => {
    let crypto: PetCrypto;
    let opened: OpenedCoordinatorStore;
    let store: CoordinatorStore;

    beforeAll(async () => {
      crypto = await initCrypto();
    });

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });

    afterEach(async () => {
      await opened.cleanup();
    });

    // -- fixtures -------------------------------------------------------------

    function roundRecord(roundId: number, maskConfig: MaskConfig = FIXTURE_CONFIG): RoundRecord {
      const keys = fixtureEncryptKeyPair(crypto, roundId % 64);
      return {
        v: 1,
        roundId,
        phase: 'sum',
        startedAt: T0 + roundId * 1_000,
        phaseStartedAt: T0 + roundId * 1_000 + 5,
        phaseDurationsMs: {},
        roundPublicKey: keys.publicKey,
        roundSecretKey: keys.secretKey,
        seed: fixtureSeed(roundId & 0xff),
        pet: PET,
        maskConfig,
        modelLength: LENGTH,
      };
    }

    function summary(roundId: number, outcome: 'completed' | 'failed' = 'completed'): RoundSummary {
      return {
        roundId,
        outcome,
        ...(outcome === 'failed' ? { failureReason: `update phase timed out: 2 of 3 updates after 60000 ms` } : {}),
        startedAt: T0 + roundId * 1_000,
        endedAt: T0 + roundId * 1_000 + 900,
        phaseDurationsMs:
          outcome === 'failed' ? { sum: 100, update: 60_000 } : { sum: 100, update: 200, sum2: 300, unmask: 7 },
        participants: { sum: 3, update: outcome === 'failed' ? 2 : 3, sum2: outcome === 'failed' ? 0 : 3 },
      };
    }

    interface SumParticipant {
      readonly pk: string;
      readonly ephemeral: EncryptKeyPair;
    }

    function sumParticipant(index: number): SumParticipant {
      return {
        pk: toBase64Url(fixtureSigningKeyPair(crypto, index).publicKey),
        ephemeral: fixtureEncryptKeyPair(crypto, 100 + index),
      };
    }

    interface UpdateMessage {
      readonly pk: string;
      readonly model: Float32Array;
      readonly localSeedDict: Map<string, Uint8Array>;
      /** The aggregate including this update, as the coordinator passes it to addUpdate. */
      readonly aggregate: AggregateRecord;
    }

    /** Masks fixture model `index`, seals its mask seed to each sum participant and adds it to `aggregation`. */
    function updateMessage(
      index: number,
      sums: readonly SumParticipant[],
      aggregation: Aggregation,
      config: MaskConfig = FIXTURE_CONFIG,
    ): UpdateMessage {
      const model = fixtureModel(LENGTH, index);
      const { seed, masked } = new Masker(crypto, config).mask(model, 1, fixtureSeed(0x20 + index));
      const refused = aggregation.validateAggregation(masked);
      if (refused) throw refused;
      aggregation.aggregate(masked);
      return {
        pk: toBase64Url(fixtureSigningKeyPair(crypto, 50 + index).publicKey),
        model,
        localSeedDict: new Map(sums.map((s) => [s.pk, crypto.seal(seed, s.ephemeral.publicKey)])),
        aggregate: { modelCount: aggregation.modelCount, object: aggregation.toMaskObject() },
      };
    }

    /** What a sum participant does in Sum2: opens its seeds and adds up the masks they expand to. */
    function aggregatedMask(seeds: ReadonlyMap<string, Uint8Array>, ephemeral: EncryptKeyPair): MaskObject {
      const masks = new Aggregation(FIXTURE_CONFIG, LENGTH);
      for (const encrypted of seeds.values()) {
        masks.aggregate(deriveMask(crypto, FIXTURE_CONFIG, crypto.openSealed(encrypted, ephemeral), LENGTH));
      }
      return masks.toMaskObject();
    }

    function expectSameObject(actual: MaskObject | undefined, expected: MaskObject): void {
      expect(actual).toBeDefined();
      if (actual === undefined) return;
      expect(actual.config).toEqual(expected.config);
      expect(actual.length).toBe(expected.length);
      expect(actual.vector.constructor).toBe(expected.vector.constructor);
      expect(actual.vector.length).toBe(expected.vector.length);
      for (let i = 0; i < expected.vector.length; i++) expect(actual.vector[i]).toBe(expected.vector[i]);
      expect(Array.from(actual.scalar)).toEqual(Array.from(expected.scalar));
    }

    async function expectNotInRound(op: () => Promise<unknown>): Promise<void> {
      await expect(op()).rejects.toBeInstanceOf(StoreError);
    }

    /** Every method that names a round, called for `roundId`. */
    function perRoundCalls(roundId: number): (() => Promise<unknown>)[] {
      const sum = sumParticipant(0);
      const update = updateMessage(0, [sum], new Aggregation(FIXTURE_CONFIG, LENGTH));
      return [
        () => store.addSumParticipant(roundId, sum.pk, sum.ephemeral.publicKey),
        () => store.sumDict(roundId),
        () => store.addUpdate(roundId, update.pk, update.localSeedDict, update.aggregate),
        () => store.updateParticipants(roundId),
        () => store.updateSeedDict(roundId, sum.pk),
        () => store.loadAggregate(roundId, FIXTURE_CONFIG, LENGTH),
        () => store.addMask(roundId, sum.pk, 'hash', new Uint8Array([1, 2, 3])),
        () => store.maskCounts(roundId),
        () => store.loadMask(roundId, 'hash'),
      ];
    }

    /** Fills round `roundId` with 3 sum participants, 2 updates and 2 Sum2 messages. */
    async function fillRound(target: CoordinatorStore, roundId: number) {
      const sums = [0, 1, 2].map(sumParticipant);
      for (const s of sums) {
        expect(await target.addSumParticipant(roundId, s.pk, s.ephemeral.publicKey)).toBe('added');
      }
      const aggregation = new Aggregation(FIXTURE_CONFIG, LENGTH);
      const updates = [0, 1].map((i) => updateMessage(i, sums, aggregation));
      for (const u of updates) {
        expect(await target.addUpdate(roundId, u.pk, u.localSeedDict, u.aggregate)).toBe('added');
      }
      const masks = [new Uint8Array([1, 1, 1]), new Uint8Array([2, 2])];
      expect(await target.addMask(roundId, sums[0]?.pk ?? '', 'hash-a', masks[0] ?? new Uint8Array())).toBe('added');
      expect(await target.addMask(roundId, sums[1]?.pk ?? '', 'hash-b', masks[1] ?? new Uint8Array())).toBe('added');
      return { sums, updates, aggregation, masks };
    }

    // -- round record ---------------------------------------------------------

    it('starts empty: no round, no history, last round id 0, the default meta', async () => {
      expect(await store.loadRound()).toBeUndefined();
      expect(await store.lastRoundId()).toBe(0);
      expect(await store.history(10)).toEqual([]);
      expect(await store.loadMeta()).toStrictEqual(DEFAULT_META);
    });

    it('startRound then loadRound returns the record with equal byte fields', async () => {
      const record = roundRecord(7);
      await store.startRound(record);
      const loaded = await store.loadRound();
      expect(loaded).toStrictEqual(record);
      expect(loaded?.roundSecretKey).toEqual(fixtureEncryptKeyPair(crypto, 7).secretKey);
      expect(loaded?.roundPublicKey).toEqual(fixtureEncryptKeyPair(crypto, 7).publicKey);
      expect(loaded?.seed).toEqual(fixtureSeed(7));
      expect(await store.lastRoundId()).toBe(7);
    });

    it('saveRound replaces the record of the round in progress', async () => {
      await store.startRound(roundRecord(3));
      const next: RoundRecord = {
        ...roundRecord(3),
        phase: 'update',
        phaseStartedAt: T0 + 9_999,
        phaseDurationsMs: { sum: 1_234 },
      };
      await store.saveRound(next);
      expect(await store.loadRound()).toStrictEqual(next);
      const last: RoundRecord = { ...next, phase: 'sum2', phaseDurationsMs: { sum: 1_234, update: 5_678 } };
      await store.saveRound(last);
      expect(await store.loadRound()).toStrictEqual(last);
    });

    it('rejects every write and read for a round that is not the round in progress, changing nothing', async () => {
      // No round at all.
      for (const call of perRoundCalls(1)) await expectNotInRound(call);
      await expectNotInRound(() => store.saveRound(roundRecord(1)));
      await expectNotInRound(() => store.endRound(summary(1)));

      // Round 5 in progress: 4 (late) and 6 (early) are refused.
      const record = roundRecord(5);
      await store.startRound(record);
      for (const wrong of [4, 6]) {
        for (const call of perRoundCalls(wrong)) await expectNotInRound(call);
        await expectNotInRound(() => store.saveRound({ ...roundRecord(wrong), phase: 'sum2' }));
        await expectNotInRound(() => store.endRound(summary(wrong)));
      }
      expect(await store.loadRound()).toStrictEqual(record);
      expect(await store.sumDict(5)).toEqual(new Map());
      expect(await store.updateParticipants(5)).toEqual(new Set());
      expect(await store.loadAggregate(5, FIXTURE_CONFIG, LENGTH)).toBeUndefined();
      expect(await store.maskCounts(5)).toEqual(new Map());
      expect(await store.history(10)).toEqual([]);
      expect(await store.lastRoundId()).toBe(5);
    });

    // -- sum dictionary -------------------------------------------------------

    it('adds sum participants once; a second Sum is a duplicate and changes nothing', async () => {
      await store.startRound(roundRecord(1));
      const [a, b] = [sumParticipant(0), sumParticipant(1)];
      expect(await store.addSumParticipant(1, a.pk, a.ephemeral.publicKey)).toBe('added');
      expect(await store.addSumParticipant(1, b.pk, b.ephemeral.publicKey)).toBe('added');
      expect(await store.addSumParticipant(1, a.pk, fixtureEncryptKeyPair(crypto, 9).publicKey)).toBe('duplicate');
      expect(await store.sumDict(1)).toEqual(
        new Map([
          [a.pk, a.ephemeral.publicKey],
          [b.pk, b.ephemeral.publicKey],
        ]),
      );
    });

    // -- updates, seed dictionary, aggregate ----------------------------------

    it('files each local seed dictionary under its sum participants: the seed dictionary is their transpose', async () => {
      await store.startRound(roundRecord(2));
      const sums = [0, 1, 2].map(sumParticipant);
      for (const s of sums) await store.addSumParticipant(2, s.pk, s.ephemeral.publicKey);
      const aggregation = new Aggregation(FIXTURE_CONFIG, LENGTH);
      const updates = [0, 1, 2, 3].map((i) => updateMessage(i, sums, aggregation));
      for (const u of updates) {
        expect(await store.addUpdate(2, u.pk, u.localSeedDict, u.aggregate)).toBe('added');
      }
      // One more update that (oddly) only names the first sum participant: only its column grows.
      const partial = updateMessage(4, [sums[0] as SumParticipant], aggregation);
      expect(await store.addUpdate(2, partial.pk, partial.localSeedDict, partial.aggregate)).toBe('added');

      expect(await store.updateParticipants(2)).toEqual(new Set([...updates, partial].map((u) => u.pk)));
      for (const [j, s] of sums.entries()) {
        const expected = new Map(updates.map((u) => [u.pk, u.localSeedDict.get(s.pk) as Uint8Array]));
        if (j === 0) expected.set(partial.pk, partial.localSeedDict.get(s.pk) as Uint8Array);
        expect(await store.updateSeedDict(2, s.pk)).toEqual(expected);
      }
      expect(await store.updateSeedDict(2, sumParticipant(7).pk)).toEqual(new Map());
    });

    it('replaces the aggregate with each update; it loads back equal and unmasks to the average', async () => {
      await store.startRound(roundRecord(4));
      const sums = [sumParticipant(0)];
      await store.addSumParticipant(4, sums[0]?.pk ?? '', sums[0]?.ephemeral.publicKey ?? new Uint8Array());
      expect(await store.loadAggregate(4, FIXTURE_CONFIG, LENGTH)).toBeUndefined();

      const aggregation = new Aggregation(FIXTURE_CONFIG, LENGTH);
      const updates: UpdateMessage[] = [];
      for (const i of [0, 1, 2]) {
        const u = updateMessage(i, sums, aggregation);
        updates.push(u);
        await store.addUpdate(4, u.pk, u.localSeedDict, u.aggregate);
        const loaded = await store.loadAggregate(4, FIXTURE_CONFIG, LENGTH);
        expect(loaded?.modelCount).toBe(i + 1);
        expectSameObject(loaded?.object, aggregation.toMaskObject());
      }

      const stored = await store.loadAggregate(4, FIXTURE_CONFIG, LENGTH);
      if (stored === undefined) throw new Error('no aggregate');
      const sum = sums[0] as SumParticipant;
      const mask = aggregatedMask(await store.updateSeedDict(4, sum.pk), sum.ephemeral);
      const average = Aggregation.restore(stored.object, stored.modelCount).unmask(mask);
      const expected = weightedAverage(
        updates.map((u) => u.model),
        [1, 1, 1],
      );
      for (let i = 0; i < LENGTH; i++)
        expect(Math.abs((average[i] as number) - (expected[i] as number))).toBeLessThan(1e-6);
    });

    it('round-trips a limbs-path aggregate (Uint32Array elements) under its own config', async () => {
      await store.startRound(roundRecord(6, FIXTURE_LIMBS_CONFIG));
      const aggregation = new Aggregation(FIXTURE_LIMBS_CONFIG, LENGTH);
      const u1 = updateMessage(0, [], aggregation, FIXTURE_LIMBS_CONFIG);
      const u2 = updateMessage(1, [], aggregation, FIXTURE_LIMBS_CONFIG);
      await store.addUpdate(6, u1.pk, u1.localSeedDict, u1.aggregate);
      await store.addUpdate(6, u2.pk, u2.localSeedDict, u2.aggregate);
      const loaded = await store.loadAggregate(6, FIXTURE_LIMBS_CONFIG, LENGTH);
      expect(loaded?.modelCount).toBe(2);
      expect(loaded?.object.vector).toBeInstanceOf(Uint32Array);
      expectSameObject(loaded?.object, aggregation.toMaskObject());
      expect((await store.loadRound())?.maskConfig).toEqual(FIXTURE_LIMBS_CONFIG);
    });

    it('refuses to load the aggregate under another config or length', async () => {
      await store.startRound(roundRecord(8));
      const u = updateMessage(0, [], new Aggregation(FIXTURE_CONFIG, LENGTH));
      await store.addUpdate(8, u.pk, u.localSeedDict, u.aggregate);
      await expect(store.loadAggregate(8, FIXTURE_LIMBS_CONFIG, LENGTH)).rejects.toBeInstanceOf(StoreError);
      await expect(store.loadAggregate(8, FIXTURE_CONFIG, LENGTH + 1)).rejects.toBeInstanceOf(StoreError);
      expect((await store.loadAggregate(8, FIXTURE_CONFIG, LENGTH))?.modelCount).toBe(1);
    });

    it('a second update from a participant is a duplicate and changes nothing', async () => {
      await store.startRound(roundRecord(9));
      const sums = [0, 1].map(sumParticipant);
      const aggregation = new Aggregation(FIXTURE_CONFIG, LENGTH);
      const first = updateMessage(0, sums, aggregation);
      expect(await store.addUpdate(9, first.pk, first.localSeedDict, first.aggregate)).toBe('added');
      const before = aggregation.toMaskObject();

      // The same participant again, with other seeds and a bigger aggregate.
      const again = updateMessage(1, sums, aggregation);
      expect(await store.addUpdate(9, first.pk, again.localSeedDict, again.aggregate)).toBe('duplicate');

      expect(await store.updateParticipants(9)).toEqual(new Set([first.pk]));
      for (const s of sums) {
        expect(await store.updateSeedDict(9, s.pk)).toEqual(
          new Map([[first.pk, first.localSeedDict.get(s.pk) as Uint8Array]]),
        );
      }
      const loaded = await store.loadAggregate(9, FIXTURE_CONFIG, LENGTH);
      expect(loaded?.modelCount).toBe(1);
      expectSameObject(loaded?.object, before);
    });

    // -- Sum2 masks -----------------------------------------------------------

    it('counts identical mask hashes across sum participants; loadMask returns the first sender’s bytes', async () => {
      await store.startRound(roundRecord(10));
      const [a, b, c] = [0, 1, 2].map(sumParticipant) as [SumParticipant, SumParticipant, SumParticipant];
      const first = new Uint8Array([10, 20, 30, 40]);
      const second = new Uint8Array([10, 20, 30, 41]);
      const other = new Uint8Array([99]);
      expect(await store.addMask(10, a.pk, 'hash-1', first)).toBe('added');
      expect(await store.addMask(10, b.pk, 'hash-1', second)).toBe('added');
      expect(await store.addMask(10, c.pk, 'hash-2', other)).toBe('added');
      // A second Sum2 from `a`, under another hash: nothing changes.
      expect(await store.addMask(10, a.pk, 'hash-2', new Uint8Array([7]))).toBe('duplicate');

      expect(await store.maskCounts(10)).toEqual(
        new Map([
          ['hash-1', 2],
          ['hash-2', 1],
        ]),
      );
      expect(await store.loadMask(10, 'hash-1')).toEqual(first);
      expect(await store.loadMask(10, 'hash-2')).toEqual(other);
      expect(await store.loadMask(10, 'hash-3')).toBeUndefined();
    });

    // -- round lifecycle ------------------------------------------------------

    it('startRound wipes what is left of the previous round', async () => {
      await store.startRound(roundRecord(1));
      await fillRound(store, 1);

      const second = roundRecord(2);
      await store.startRound(second);
      expect(await store.loadRound()).toStrictEqual(second);
      for (const call of perRoundCalls(1)) await expectNotInRound(call);
      expect(await store.sumDict(2)).toEqual(new Map());
      expect(await store.updateParticipants(2)).toEqual(new Set());
      expect(await store.loadAggregate(2, FIXTURE_CONFIG, LENGTH)).toBeUndefined();
      expect(await store.maskCounts(2)).toEqual(new Map());
      // Starting a round ends nothing: no history.
      expect(await store.history(10)).toEqual([]);

      // Restarting the same round id starts it empty too: the old data is gone, not just hidden.
      const { sums } = await fillRound(store, 2);
      await store.startRound(second);
      expect(await store.sumDict(2)).toEqual(new Map());
      expect(await store.updateParticipants(2)).toEqual(new Set());
      expect(await store.updateSeedDict(2, sums[0]?.pk ?? '')).toEqual(new Map());
      expect(await store.loadAggregate(2, FIXTURE_CONFIG, LENGTH)).toBeUndefined();
      expect(await store.maskCounts(2)).toEqual(new Map());
      expect(await store.loadMask(2, 'hash-a')).toBeUndefined();
    });

    it('endRound deletes the round and appends its summary to the history, newest first', async () => {
      await store.startRound(roundRecord(1));
      const { sums } = await fillRound(store, 1);
      await store.endRound(summary(1));
      expect(await store.loadRound()).toBeUndefined();
      for (const call of perRoundCalls(1)) await expectNotInRound(call);
      await expectNotInRound(() => store.endRound(summary(1)));

      await store.startRound(roundRecord(2));
      await store.endRound(summary(2, 'failed'));
      expect(await store.history(10)).toStrictEqual([summary(2, 'failed'), summary(1)]);
      expect(await store.history(1)).toStrictEqual([summary(2, 'failed')]);
      expect(await store.history(0)).toEqual([]);
      expect(await store.lastRoundId()).toBe(2);

      // The same round id started again begins empty: endRound deleted the data, it did not hide it.
      await store.startRound(roundRecord(1));
      expect(await store.sumDict(1)).toEqual(new Map());
      expect(await store.updateParticipants(1)).toEqual(new Set());
      expect(await store.updateSeedDict(1, sums[0]?.pk ?? '')).toEqual(new Map());
      expect(await store.loadAggregate(1, FIXTURE_CONFIG, LENGTH)).toBeUndefined();
      expect(await store.maskCounts(1)).toEqual(new Map());
      expect(await store.loadMask(1, 'hash-a')).toBeUndefined();
    });

    it(`keeps at most HISTORY_LIMIT (${HISTORY_LIMIT}) finished rounds, newest first`, async () => {
      for (let id = 1; id <= HISTORY_LIMIT + 1; id++) {
        await store.startRound(roundRecord(id));
        await store.endRound(summary(id, id % 2 === 0 ? 'failed' : 'completed'));
      }
      const all = await store.history(HISTORY_LIMIT + 10);
      expect(all).toHaveLength(HISTORY_LIMIT);
      expect(all[0]).toStrictEqual(summary(HISTORY_LIMIT + 1, 'completed'));
      expect(all.at(-1)?.roundId).toBe(2);
      expect(all.map((s) => s.roundId)).toEqual(Array.from({ length: HISTORY_LIMIT }, (_, i) => HISTORY_LIMIT + 1 - i));
      expect(await store.lastRoundId()).toBe(HISTORY_LIMIT + 1);
    });

    it('lastRoundId is the highest round id ever started', async () => {
      await store.startRound(roundRecord(3));
      expect(await store.lastRoundId()).toBe(3);
      await store.endRound(summary(3));
      expect(await store.lastRoundId()).toBe(3);
      await store.startRound(roundRecord(12));
      expect(await store.lastRoundId()).toBe(12);
      await store.startRound(roundRecord(4));
      expect(await store.lastRoundId()).toBe(12);
      expect((await store.loadRound())?.roundId).toBe(4);
    });

    // -- meta -----------------------------------------------------------------

    it('meta round-trips, defaults to DEFAULT_META, and outlives rounds', async () => {
      expect(await store.loadMeta()).toStrictEqual(DEFAULT_META);
      const paused: CoordinatorMeta = { v: 1, paused: true, nextPet: NEXT_PET };
      await store.saveMeta(paused);
      expect(await store.loadMeta()).toStrictEqual(paused);

      await store.startRound(roundRecord(1));
      await store.endRound(summary(1));
      expect(await store.loadMeta()).toStrictEqual(paused);

      await store.saveMeta({ v: 1, paused: false });
      const resumed = await store.loadMeta();
      expect(resumed).toStrictEqual({ v: 1, paused: false });
      expect('nextPet' in resumed).toBe(false);
    });

    // -- copies, not aliases --------------------------------------------------

    it('keeps its own copies: mutating a buffer passed in or handed out changes nothing stored', async () => {
      const record = roundRecord(11);
      await store.startRound(record);
      record.roundSecretKey.fill(0);
      record.roundPublicKey.fill(0);
      record.seed.fill(0);
      const loaded = await store.loadRound();
      expect(loaded).toStrictEqual(roundRecord(11));
      loaded?.roundSecretKey.fill(1);
      expect((await store.loadRound())?.roundSecretKey).toEqual(fixtureEncryptKeyPair(crypto, 11).secretKey);

      const sum = sumParticipant(0);
      const ephemeral = sum.ephemeral.publicKey.slice();
      await store.addSumParticipant(11, sum.pk, ephemeral);
      ephemeral.fill(0);
      (await store.sumDict(11)).get(sum.pk)?.fill(0);
      expect((await store.sumDict(11)).get(sum.pk)).toEqual(sum.ephemeral.publicKey);

      const aggregation = new Aggregation(FIXTURE_CONFIG, LENGTH);
      const u = updateMessage(0, [sum], aggregation);
      const sealed = (u.localSeedDict.get(sum.pk) as Uint8Array).slice();
      await store.addUpdate(11, u.pk, u.localSeedDict, u.aggregate);
      u.localSeedDict.get(sum.pk)?.fill(0);
      // (the aggregate object is handed over — see addUpdate — so it is not mutated here)
      (await store.updateSeedDict(11, sum.pk)).get(u.pk)?.fill(0);
      const handedOut = await store.loadAggregate(11, FIXTURE_CONFIG, LENGTH);
      handedOut?.object.vector.fill(0);
      expect((await store.updateSeedDict(11, sum.pk)).get(u.pk)).toEqual(sealed);
      expectSameObject((await store.loadAggregate(11, FIXTURE_CONFIG, LENGTH))?.object, aggregation.toMaskObject());

      const mask = new Uint8Array([5, 6, 7]);
      await store.addMask(11, sum.pk, 'h', mask);
      mask.fill(0);
      (await store.loadMask(11, 'h'))?.fill(0);
      expect(await store.loadMask(11, 'h')).toEqual(new Uint8Array([5, 6, 7]));
    });

    // -- durability -----------------------------------------------------------

    it('a round in progress survives a reopen: record, dictionaries, aggregate, masks, history, meta', async () => {
      await store.startRound(roundRecord(1));
      await store.endRound(summary(1, 'failed'));
      const meta: CoordinatorMeta = { v: 1, paused: true, nextPet: NEXT_PET };
      await store.saveMeta(meta);
      const record: RoundRecord = { ...roundRecord(2), phase: 'sum2', phaseDurationsMs: { sum: 10, update: 20 } };
      await store.startRound(roundRecord(2));
      const { sums, updates, aggregation, masks } = await fillRound(store, 2);
      await store.saveRound(record);

      const again = await opened.reopen();
      expect(await again.loadRound()).toStrictEqual(record);
      expect(await again.lastRoundId()).toBe(2);
      expect(await again.sumDict(2)).toEqual(new Map(sums.map((s) => [s.pk, s.ephemeral.publicKey])));
      expect(await again.updateParticipants(2)).toEqual(new Set(updates.map((u) => u.pk)));
      for (const s of sums) {
        expect(await again.updateSeedDict(2, s.pk)).toEqual(
          new Map(updates.map((u) => [u.pk, u.localSeedDict.get(s.pk) as Uint8Array])),
        );
      }
      const aggregate = await again.loadAggregate(2, FIXTURE_CONFIG, LENGTH);
      expect(aggregate?.modelCount).toBe(2);
      expectSameObject(aggregate?.object, aggregation.toMaskObject());
      expect(await again.maskCounts(2)).toEqual(
        new Map([
          ['hash-a', 1],
          ['hash-b', 1],
        ]),
      );
      expect(await again.loadMask(2, 'hash-a')).toEqual(masks[0]);
      expect(await again.loadMask(2, 'hash-b')).toEqual(masks[1]);
      expect(await again.history(10)).toStrictEqual([summary(1, 'failed')]);
      expect(await again.loadMeta()).toStrictEqual(meta);

      // The reopened store carries the round on: duplicates are still duplicates, new work lands.
      const first = updates[0] as UpdateMessage;
      expect(await again.addUpdate(2, first.pk, first.localSeedDict, first.aggregate)).toBe('duplicate');
      const third = updateMessage(2, sums, aggregation);
      expect(await again.addUpdate(2, third.pk, third.localSeedDict, third.aggregate)).toBe('added');
      expect((await again.loadAggregate(2, FIXTURE_CONFIG, LENGTH))?.modelCount).toBe(3);
      await again.endRound(summary(2));
      expect(await again.loadRound()).toBeUndefined();
      expect((await again.history(10)).map((s) => s.roundId)).toEqual([2, 1]);
    });
  });
}
