/**
 * The conformance suite of the `CoordinatorStore` port (architecture.md §7.7): one
 * set of tests every implementation runs (memory-store.test.ts,
 * redis-store.test.ts), so the coordinator can swap stores without noticing.
 *
 * The data is real: round keys, sum participants' ephemeral keys and sealed
 * mask seeds come from libsodium, and the masked models are built with
 * `Masker` from fixture models, so a store that garbles a byte fails the
 * unmasking check, not just an equality. `reopen` proves durability: a new
 * store over the same data (memory: the same instance; Redis: a new
 * connection on the same prefix) must see the round in progress unchanged.
 *
 * Several coordinator instances may share one store (docs/decisions/0008-many-instances.md):
 * the store decides the round, the phase ('closed'), duplicates and count.max ('full'), and
 * keeps each instance's update log and checkpoint apart; the instances' partials must sum
 * exactly to the aggregate of every accepted update.
 */

import {
  Aggregation,
  decodeMaskObject,
  deriveMask,
  type EncryptKeyPair,
  encodeMaskObject,
  initCrypto,
  type MaskConfig,
  Masker,
  type MaskObject,
  type PetCrypto,
  packedVector,
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
  type LivePhase,
  type PartialAggregate,
  type RoundPetSettings,
  type RoundRecord,
  type RoundSummary,
  type UpdateEntry,
} from '../src/store/coordinator-store.ts';
import { StoreError } from '../src/store/store-error.ts';

export interface OpenedCoordinatorStore {
  /** A store over empty data. */
  readonly store: CoordinatorStore;
  /** A new store over the same data (memory: the same instance; Redis: a new connection). */
  reopen(): Promise<CoordinatorStore>;
  /** Closes every store opened and deletes the data. */
  cleanup(): Promise<void>;
}

const LENGTH = 16;

/** count.max for the tests that are not about it: never reached. */
const MAX = 100;

/** Two coordinator instances sharing the store. */
const INSTANCE = 'coordinator-a';
const OTHER = 'coordinator-b';

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

    /** The record of round `roundId` in `phase` (a round starts in 'sum'). */
    function roundRecord(
      roundId: number,
      maskConfig: MaskConfig = FIXTURE_CONFIG,
      phase: LivePhase = 'sum',
    ): RoundRecord {
      const keys = fixtureEncryptKeyPair(crypto, roundId % 64);
      return {
        v: 1,
        roundId,
        phase,
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

    /** Moves the round in progress to `phase`, as the coordinator does when a phase ends. */
    async function enter(
      target: CoordinatorStore,
      roundId: number,
      phase: LivePhase,
      maskConfig: MaskConfig = FIXTURE_CONFIG,
    ): Promise<void> {
      await target.saveRound(roundRecord(roundId, maskConfig, phase));
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
      readonly masked: MaskObject;
    }

    /**
     * Masks fixture model `index` and seals its mask seed to each sum participant; adds the masked
     * model to `aggregation` when one is given (the aggregate every update of a test sums to).
     */
    function updateMessage(
      index: number,
      sums: readonly SumParticipant[],
      aggregation?: Aggregation,
      config: MaskConfig = FIXTURE_CONFIG,
    ): UpdateMessage {
      const model = fixtureModel(LENGTH, index);
      const { seed, masked } = new Masker(crypto, config).mask(model, 1, fixtureSeed(0x20 + index));
      if (aggregation !== undefined) {
        const refused = aggregation.validateAggregation(masked);
        if (refused) throw refused;
        aggregation.aggregate(masked);
      }
      return {
        pk: toBase64Url(fixtureSigningKeyPair(crypto, 50 + index).publicKey),
        model,
        localSeedDict: new Map(sums.map((s) => [s.pk, crypto.seal(seed, s.ephemeral.publicKey)])),
        masked,
      };
    }

    /** What an instance hands to addUpdate: the masked model, handed over (it is never touched again). */
    function entry(update: UpdateMessage, instance = INSTANCE): UpdateEntry {
      return { instance, maskedModel: update.masked };
    }

    /** The aggregate an instance checkpoints after taking `updates`. */
    function aggregateOf(updates: readonly UpdateMessage[], config: MaskConfig = FIXTURE_CONFIG): AggregateRecord {
      const aggregation = new Aggregation(config, LENGTH);
      for (const u of updates) aggregation.aggregate(u.masked);
      return { modelCount: aggregation.modelCount, object: aggregation.toMaskObject() };
    }

    /** Adds updates from `instance`, each expected to be taken. */
    async function addUpdates(
      target: CoordinatorStore,
      roundId: number,
      updates: readonly UpdateMessage[],
      instance = INSTANCE,
    ): Promise<void> {
      for (const u of updates) {
        expect(await target.addUpdate(roundId, u.pk, u.localSeedDict, entry(u, instance), MAX)).toBe('added');
      }
    }

    /** The round's partials, sorted by instance (the port names no order). */
    async function partialsOf(
      target: CoordinatorStore,
      roundId: number,
      config: MaskConfig = FIXTURE_CONFIG,
    ): Promise<PartialAggregate[]> {
      const partials = await target.partials(roundId, config, LENGTH);
      return [...partials].sort((a, b) => (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0));
    }

    /** `partial` is `instance`'s: a checkpoint of exactly `checkpointed` (or none), then `tail` in order. */
    function expectPartial(
      partial: PartialAggregate | undefined,
      instance: string,
      checkpointed: readonly UpdateMessage[] | undefined,
      tail: readonly UpdateMessage[],
      config: MaskConfig = FIXTURE_CONFIG,
    ): void {
      expect(partial?.instance).toBe(instance);
      if (partial === undefined) return;
      if (checkpointed === undefined) {
        expect(partial.checkpoint).toBeUndefined();
      } else {
        const expected = aggregateOf(checkpointed, config);
        expect(partial.checkpoint?.modelCount).toBe(expected.modelCount);
        expectSameObject(partial.checkpoint?.object, expected.object);
      }
      expect(partial.tail).toHaveLength(tail.length);
      for (const [i, u] of tail.entries()) expectSameObject(partial.tail[i], u.masked);
    }

    /**
     * The sum of every instance's checkpoint and tail, as whoever unmasks combines them
     * (state-machine/round.ts `combinePartials`), built here from `Aggregation` alone.
     */
    function sumPartials(partials: readonly PartialAggregate[], config: MaskConfig = FIXTURE_CONFIG): Aggregation {
      const total = new Aggregation(config, LENGTH);
      for (const { checkpoint, tail } of partials) {
        if (checkpoint !== undefined) total.merge(Aggregation.restore(checkpoint.object, checkpoint.modelCount));
        for (const masked of tail) total.aggregate(masked);
      }
      return total;
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
      const update = updateMessage(0, [sum]);
      return [
        () => store.addSumParticipant(roundId, sum.pk, sum.ephemeral.publicKey, MAX),
        () => store.sumDict(roundId),
        () => store.addUpdate(roundId, update.pk, update.localSeedDict, entry(update), MAX),
        () => store.checkpoint(roundId, INSTANCE, aggregateOf([])),
        () => store.partials(roundId, FIXTURE_CONFIG, LENGTH),
        () => store.updateParticipants(roundId),
        () => store.updateSeedDict(roundId, sum.pk),
        () => store.addMask(roundId, sum.pk, 'hash', new Uint8Array([1, 2, 3]), MAX),
        () => store.counts(roundId),
        () => store.maskCounts(roundId),
        () => store.sum2Senders(roundId),
        () => store.loadMask(roundId, 'hash'),
      ];
    }

    /** Round `roundId` holds nothing: no message of any phase, no partial. */
    async function expectEmptyRound(target: CoordinatorStore, roundId: number, sumPk?: string): Promise<void> {
      expect(await target.sumDict(roundId)).toEqual(new Map());
      expect(await target.updateParticipants(roundId)).toEqual(new Set());
      if (sumPk !== undefined) expect(await target.updateSeedDict(roundId, sumPk)).toEqual(new Map());
      expect(await target.partials(roundId, FIXTURE_CONFIG, LENGTH)).toEqual([]);
      expect(await target.counts(roundId)).toEqual({ sum: 0, update: 0, sum2: 0 });
      expect(await target.maskCounts(roundId)).toEqual(new Map());
      expect(await target.sum2Senders(roundId)).toEqual(new Set());
      expect(await target.loadMask(roundId, 'hash-a')).toBeUndefined();
    }

    /**
     * Runs round `roundId` (started, in its sum phase) up to its sum2 phase: 3 sum participants,
     * 2 updates from INSTANCE (checkpointed after the first) and 2 Sum2 messages.
     */
    async function fillRound(target: CoordinatorStore, roundId: number) {
      const sums = [0, 1, 2].map(sumParticipant);
      for (const s of sums) {
        expect(await target.addSumParticipant(roundId, s.pk, s.ephemeral.publicKey, MAX)).toBe('added');
      }
      await enter(target, roundId, 'update');
      const aggregation = new Aggregation(FIXTURE_CONFIG, LENGTH);
      const updates = [0, 1].map((i) => updateMessage(i, sums, aggregation)) as [UpdateMessage, UpdateMessage];
      await addUpdates(target, roundId, [updates[0]]);
      expect(await target.checkpoint(roundId, INSTANCE, aggregateOf([updates[0]]))).toBe('saved');
      await addUpdates(target, roundId, [updates[1]]);
      await enter(target, roundId, 'sum2');
      const masks = [new Uint8Array([1, 1, 1]), new Uint8Array([2, 2])] as const;
      const [a, b] = sums as [SumParticipant, SumParticipant, SumParticipant];
      expect(await target.addMask(roundId, a.pk, 'hash-a', masks[0], MAX)).toBe('added');
      expect(await target.addMask(roundId, b.pk, 'hash-b', masks[1], MAX)).toBe('added');
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

      // Round 5 in progress: 4 (late) and 6 (early) are refused — a throw, not 'closed', though the
      // record's phase (sum) is not an update's or a Sum2's either: the round is checked first.
      const record = roundRecord(5);
      await store.startRound(record);
      for (const wrong of [4, 6]) {
        for (const call of perRoundCalls(wrong)) await expectNotInRound(call);
        await expectNotInRound(() => store.saveRound(roundRecord(wrong, FIXTURE_CONFIG, 'sum2')));
        await expectNotInRound(() => store.endRound(summary(wrong)));
      }
      expect(await store.loadRound()).toStrictEqual(record);
      await expectEmptyRound(store, 5, sumParticipant(0).pk);
      expect(await store.history(10)).toEqual([]);
      expect(await store.lastRoundId()).toBe(5);
    });

    // -- sum dictionary -------------------------------------------------------

    it('adds sum participants once; a second Sum is a duplicate and changes nothing', async () => {
      await store.startRound(roundRecord(1));
      const [a, b] = [sumParticipant(0), sumParticipant(1)];
      expect(await store.addSumParticipant(1, a.pk, a.ephemeral.publicKey, MAX)).toBe('added');
      expect(await store.addSumParticipant(1, b.pk, b.ephemeral.publicKey, MAX)).toBe('added');
      expect(await store.addSumParticipant(1, a.pk, fixtureEncryptKeyPair(crypto, 9).publicKey, MAX)).toBe('duplicate');
      expect(await store.sumDict(1)).toEqual(
        new Map([
          [a.pk, a.ephemeral.publicKey],
          [b.pk, b.ephemeral.publicKey],
        ]),
      );
      expect(await store.counts(1)).toEqual({ sum: 2, update: 0, sum2: 0 });
    });

    // -- the phase and count.max (several instances share the store) ---------

    it("answers 'closed' to a message whose phase is not the record's, changing nothing", async () => {
      await store.startRound(roundRecord(12));
      const [a, b] = [0, 1].map(sumParticipant) as [SumParticipant, SumParticipant];
      const [u0, u1] = [0, 1].map((i) => updateMessage(i, [a])) as [UpdateMessage, UpdateMessage];

      // Sum phase (startRound): updates and Sum2 messages are closed.
      expect(await store.addSumParticipant(12, a.pk, a.ephemeral.publicKey, MAX)).toBe('added');
      expect(await store.addUpdate(12, u0.pk, u0.localSeedDict, entry(u0), MAX)).toBe('closed');
      expect(await store.addMask(12, a.pk, 'hash-a', new Uint8Array([1]), MAX)).toBe('closed');
      expect(await store.counts(12)).toEqual({ sum: 1, update: 0, sum2: 0 });
      expect(await store.updateParticipants(12)).toEqual(new Set());
      expect(await store.updateSeedDict(12, a.pk)).toEqual(new Map());
      expect(await store.partials(12, FIXTURE_CONFIG, LENGTH)).toEqual([]);
      expect(await store.maskCounts(12)).toEqual(new Map());
      expect(await store.sum2Senders(12)).toEqual(new Set());
      expect(await store.loadMask(12, 'hash-a')).toBeUndefined();

      // Update phase (saveRound moved it): a Sum is closed, from a new participant and from one
      // already in alike (the phase is checked before duplicates), and so is a Sum2.
      await enter(store, 12, 'update');
      expect(await store.addSumParticipant(12, b.pk, b.ephemeral.publicKey, MAX)).toBe('closed');
      expect(await store.addSumParticipant(12, a.pk, a.ephemeral.publicKey, MAX)).toBe('closed');
      expect(await store.addMask(12, a.pk, 'hash-a', new Uint8Array([1]), MAX)).toBe('closed');
      expect(await store.addUpdate(12, u0.pk, u0.localSeedDict, entry(u0), MAX)).toBe('added');
      expect(await store.sumDict(12)).toEqual(new Map([[a.pk, a.ephemeral.publicKey]]));
      expect(await store.maskCounts(12)).toEqual(new Map());

      // Sum2 phase: Sums and updates are closed — a participant's second update too, and a message
      // at a count.max of 0: the phase is checked before duplicates and before count.max.
      await enter(store, 12, 'sum2');
      expect(await store.addSumParticipant(12, b.pk, b.ephemeral.publicKey, MAX)).toBe('closed');
      expect(await store.addSumParticipant(12, b.pk, b.ephemeral.publicKey, 0)).toBe('closed');
      expect(await store.addUpdate(12, u1.pk, u1.localSeedDict, entry(u1, OTHER), MAX)).toBe('closed');
      expect(await store.addUpdate(12, u0.pk, u0.localSeedDict, entry(u0), MAX)).toBe('closed');
      expect(await store.addUpdate(12, u1.pk, u1.localSeedDict, entry(u1), 0)).toBe('closed');
      expect(await store.addMask(12, a.pk, 'hash-a', new Uint8Array([1]), MAX)).toBe('added');

      expect(await store.counts(12)).toEqual({ sum: 1, update: 1, sum2: 1 });
      expect(await store.sumDict(12)).toEqual(new Map([[a.pk, a.ephemeral.publicKey]]));
      expect(await store.updateParticipants(12)).toEqual(new Set([u0.pk]));
      expect(await store.updateSeedDict(12, a.pk)).toEqual(new Map([[u0.pk, u0.localSeedDict.get(a.pk)]]));
      const partials = await partialsOf(store, 12);
      expect(partials).toHaveLength(1);
      expectPartial(partials[0], INSTANCE, undefined, [u0]);
      expect(await store.maskCounts(12)).toEqual(new Map([['hash-a', 1]]));
    });

    it("answers 'full' once count.max messages of a phase are in, across instances; one already in is a 'duplicate' first", async () => {
      await store.startRound(roundRecord(13));
      const [a, b, c, d] = [0, 1, 2, 3].map(sumParticipant) as [
        SumParticipant,
        SumParticipant,
        SumParticipant,
        SumParticipant,
      ];

      // Sum: max 2.
      expect(await store.addSumParticipant(13, a.pk, a.ephemeral.publicKey, 2)).toBe('added');
      expect(await store.addSumParticipant(13, b.pk, b.ephemeral.publicKey, 2)).toBe('added');
      expect(await store.addSumParticipant(13, c.pk, c.ephemeral.publicKey, 2)).toBe('full');
      expect(await store.addSumParticipant(13, a.pk, d.ephemeral.publicKey, 2)).toBe('duplicate');
      expect(await store.addSumParticipant(13, a.pk, d.ephemeral.publicKey, 1)).toBe('duplicate');
      expect(await store.sumDict(13)).toEqual(
        new Map([
          [a.pk, a.ephemeral.publicKey],
          [b.pk, b.ephemeral.publicKey],
        ]),
      );
      // count.max is the caller's: a higher one takes one more; 0 takes none.
      expect(await store.addSumParticipant(13, c.pk, c.ephemeral.publicKey, 3)).toBe('added');
      expect(await store.addSumParticipant(13, d.pk, d.ephemeral.publicKey, 0)).toBe('full');
      expect(await store.counts(13)).toEqual({ sum: 3, update: 0, sum2: 0 });

      // Update: max 2, shared by the instances — the third update is full whichever instance takes it.
      await enter(store, 13, 'update');
      const [u0, u1, u2] = [0, 1, 2].map((i) => updateMessage(i, [a, b, c])) as [
        UpdateMessage,
        UpdateMessage,
        UpdateMessage,
      ];
      expect(await store.addUpdate(13, u0.pk, u0.localSeedDict, entry(u0, INSTANCE), 2)).toBe('added');
      expect(await store.addUpdate(13, u1.pk, u1.localSeedDict, entry(u1, OTHER), 2)).toBe('added');
      expect(await store.addUpdate(13, u2.pk, u2.localSeedDict, entry(u2, INSTANCE), 2)).toBe('full');
      expect(await store.addUpdate(13, u2.pk, u2.localSeedDict, entry(u2, OTHER), 2)).toBe('full');
      expect(await store.addUpdate(13, u2.pk, u2.localSeedDict, entry(u2, 'coordinator-c'), 2)).toBe('full');
      expect(await store.addUpdate(13, u0.pk, u2.localSeedDict, entry(u2, OTHER), 2)).toBe('duplicate');
      expect(await store.addUpdate(13, u1.pk, u1.localSeedDict, entry(u1, OTHER), 1)).toBe('duplicate');
      expect(await store.updateParticipants(13)).toEqual(new Set([u0.pk, u1.pk]));
      for (const s of [a, b, c]) {
        expect(await store.updateSeedDict(13, s.pk)).toEqual(
          new Map([
            [u0.pk, u0.localSeedDict.get(s.pk)],
            [u1.pk, u1.localSeedDict.get(s.pk)],
          ]),
        );
      }
      // Neither the full nor the duplicate updates were logged, nor an instance named for them.
      const partials = await partialsOf(store, 13);
      expect(partials.map((p) => p.instance)).toEqual([INSTANCE, OTHER]);
      expectPartial(partials[0], INSTANCE, undefined, [u0]);
      expectPartial(partials[1], OTHER, undefined, [u1]);

      // Sum2: max 2.
      await enter(store, 13, 'sum2');
      expect(await store.addMask(13, a.pk, 'hash-1', new Uint8Array([1]), 2)).toBe('added');
      expect(await store.addMask(13, b.pk, 'hash-2', new Uint8Array([2]), 2)).toBe('added');
      expect(await store.addMask(13, c.pk, 'hash-3', new Uint8Array([3]), 2)).toBe('full');
      expect(await store.addMask(13, c.pk, 'hash-1', new Uint8Array([3]), 2)).toBe('full');
      expect(await store.addMask(13, a.pk, 'hash-3', new Uint8Array([4]), 2)).toBe('duplicate');
      expect(await store.addMask(13, b.pk, 'hash-2', new Uint8Array([2]), 0)).toBe('duplicate');
      expect(await store.maskCounts(13)).toEqual(
        new Map([
          ['hash-1', 1],
          ['hash-2', 1],
        ]),
      );
      expect(await store.sum2Senders(13)).toEqual(new Set([a.pk, b.pk]));
      expect(await store.loadMask(13, 'hash-3')).toBeUndefined();
      expect(await store.loadMask(13, 'hash-1')).toEqual(new Uint8Array([1]));
      expect(await store.counts(13)).toEqual({ sum: 3, update: 2, sum2: 2 });
    });

    it('takes exactly count.max of many messages sent at once', async () => {
      await store.startRound(roundRecord(16));
      const sums = Array.from({ length: 8 }, (_, i) => sumParticipant(i));
      const sumAnswers = await Promise.all(
        sums.map((s) => store.addSumParticipant(16, s.pk, s.ephemeral.publicKey, 5)),
      );
      expect(sumAnswers.filter((a) => a === 'added')).toHaveLength(5);
      expect(sumAnswers.filter((a) => a === 'full')).toHaveLength(3);
      expect((await store.sumDict(16)).size).toBe(5);

      await enter(store, 16, 'update');
      const updates = Array.from({ length: 8 }, (_, i) => updateMessage(i, []));
      const updateAnswers = await Promise.all(
        updates.map((u, i) => store.addUpdate(16, u.pk, u.localSeedDict, entry(u, i % 2 ? OTHER : INSTANCE), 3)),
      );
      expect(updateAnswers.filter((a) => a === 'added')).toHaveLength(3);
      expect(updateAnswers.filter((a) => a === 'full')).toHaveLength(5);
      const taken = updates.filter((_, i) => updateAnswers[i] === 'added');
      expect(await store.updateParticipants(16)).toEqual(new Set(taken.map((u) => u.pk)));
      const logged = sumPartials(await store.partials(16, FIXTURE_CONFIG, LENGTH));
      expect(logged.modelCount).toBe(3);
      expectSameObject(logged.toMaskObject(), aggregateOf(taken).object);
      expect(await store.counts(16)).toEqual({ sum: 5, update: 3, sum2: 0 });
    });

    // -- updates, seed dictionary, partial aggregates -------------------------

    it('files each local seed dictionary under its sum participants: the seed dictionary is their transpose', async () => {
      await store.startRound(roundRecord(2));
      const sums = [0, 1, 2].map(sumParticipant);
      for (const s of sums) await store.addSumParticipant(2, s.pk, s.ephemeral.publicKey, MAX);
      await enter(store, 2, 'update');
      const updates = [0, 1, 2, 3].map((i) => updateMessage(i, sums));
      await addUpdates(store, 2, updates.slice(0, 2), INSTANCE);
      await addUpdates(store, 2, updates.slice(2), OTHER);
      // One more update that (oddly) only names the first sum participant: only its column grows.
      const partial = updateMessage(4, [sums[0] as SumParticipant]);
      await addUpdates(store, 2, [partial]);

      expect(await store.updateParticipants(2)).toEqual(new Set([...updates, partial].map((u) => u.pk)));
      for (const [j, s] of sums.entries()) {
        const expected = new Map(updates.map((u) => [u.pk, u.localSeedDict.get(s.pk) as Uint8Array]));
        if (j === 0) expected.set(partial.pk, partial.localSeedDict.get(s.pk) as Uint8Array);
        expect(await store.updateSeedDict(2, s.pk)).toEqual(expected);
      }
      expect(await store.updateSeedDict(2, sumParticipant(7).pk)).toEqual(new Map());
    });

    it('a seed dictionary read while the update phase runs holds the updates so far and only grows (ADR 0017)', async () => {
      await store.startRound(roundRecord(3));
      const sums = [0, 1].map(sumParticipant);
      for (const s of sums) await store.addSumParticipant(3, s.pk, s.ephemeral.publicKey, MAX);
      await enter(store, 3, 'update');
      const [s0] = sums as [SumParticipant];
      expect(await store.updateSeedDict(3, s0.pk)).toEqual(new Map());
      const updates = [0, 1, 2].map((i) => updateMessage(i, sums));
      const seen = new Map<string, Uint8Array>();
      for (const [i, u] of updates.entries()) {
        await addUpdates(store, 3, [u], i % 2 === 0 ? INSTANCE : OTHER);
        seen.set(u.pk, u.localSeedDict.get(s0.pk) as Uint8Array);
        // every earlier entry unchanged, the new one added
        expect(await store.updateSeedDict(3, s0.pk)).toEqual(seen);
      }
      await enter(store, 3, 'sum2');
      expect(await store.updateSeedDict(3, s0.pk)).toEqual(seen);
    });

    it('partials of a round with no update is empty', async () => {
      await store.startRound(roundRecord(17));
      expect(await store.partials(17, FIXTURE_CONFIG, LENGTH)).toEqual([]);
      const a = sumParticipant(0);
      await store.addSumParticipant(17, a.pk, a.ephemeral.publicKey, MAX);
      await enter(store, 17, 'update');
      expect(await store.partials(17, FIXTURE_CONFIG, LENGTH)).toEqual([]);
      // Nor does a refused update leave anything behind.
      const u = updateMessage(0, [a]);
      await addUpdates(store, 17, [u]);
      expect(await store.addUpdate(17, u.pk, u.localSeedDict, entry(u, OTHER), MAX)).toBe('duplicate');
      expect((await partialsOf(store, 17)).map((p) => p.instance)).toEqual([INSTANCE]);
    });

    it('logs each update under its instance, oldest first; the partials load back equal and unmask to the average', async () => {
      await store.startRound(roundRecord(4));
      const sum = sumParticipant(0);
      await store.addSumParticipant(4, sum.pk, sum.ephemeral.publicKey, MAX);
      await enter(store, 4, 'update');

      const aggregation = new Aggregation(FIXTURE_CONFIG, LENGTH);
      const updates = [0, 1, 2].map((i) => updateMessage(i, [sum], aggregation));
      for (const [i, u] of updates.entries()) {
        await addUpdates(store, 4, [u]);
        const partials = await partialsOf(store, 4);
        expect(partials).toHaveLength(1);
        expectPartial(partials[0], INSTANCE, undefined, updates.slice(0, i + 1));
      }

      const total = sumPartials(await store.partials(4, FIXTURE_CONFIG, LENGTH));
      expect(total.modelCount).toBe(3);
      expectSameObject(total.toMaskObject(), aggregation.toMaskObject());
      const average = total.unmask(aggregatedMask(await store.updateSeedDict(4, sum.pk), sum.ephemeral));
      const expected = weightedAverage(
        updates.map((u) => u.model),
        [1, 1, 1],
      );
      for (let i = 0; i < LENGTH; i++) {
        expect(Math.abs((average[i] as number) - (expected[i] as number))).toBeLessThan(1e-6);
      }
    });

    it('logs a masked model kept packed (ADR 0018) and loads it back the same, not as a view of the bytes it came in', async () => {
      await store.startRound(roundRecord(6));
      const sum = sumParticipant(0);
      await store.addSumParticipant(6, sum.pk, sum.ephemeral.publicKey, MAX);
      await enter(store, 6, 'update');
      const aggregation = new Aggregation(FIXTURE_CONFIG, LENGTH);
      const [plain, kept] = [0, 1].map((i) => updateMessage(i, [sum], aggregation)) as [UpdateMessage, UpdateMessage];
      // As the coordinator decodes an update whose bytes it owns: a view into them, checked.
      const wire = encodeMaskObject(kept.masked);
      const packedModel = decodeMaskObject(wire, { config: FIXTURE_CONFIG, length: LENGTH, packed: true });
      expect(packedVector(packedModel)).toBeDefined();
      await addUpdates(store, 6, [plain]);
      expect(
        await store.addUpdate(6, kept.pk, kept.localSeedDict, { instance: INSTANCE, maskedModel: packedModel }, MAX),
      ).toBe('added');
      const [partial] = await partialsOf(store, 6);
      expectPartial(partial, INSTANCE, undefined, [plain, kept]);
      expect(packedVector(partial?.tail[1] as MaskObject)?.buffer ?? null).not.toBe(wire.buffer);
      expectSameObject(sumPartials(await partialsOf(store, 6)).toMaskObject(), aggregation.toMaskObject());
    });

    it('two instances log and checkpoint independently; their partials sum exactly to the aggregate of every update', async () => {
      await store.startRound(roundRecord(14));
      const sum = sumParticipant(0);
      await store.addSumParticipant(14, sum.pk, sum.ephemeral.publicKey, MAX);
      await enter(store, 14, 'update');
      const all = new Aggregation(FIXTURE_CONFIG, LENGTH);
      const updates = [0, 1, 2, 3, 4, 5].map((i) => updateMessage(i, [sum], all));
      const [u0, u1, u2, u3, u4, u5] = updates as [
        UpdateMessage,
        UpdateMessage,
        UpdateMessage,
        UpdateMessage,
        UpdateMessage,
        UpdateMessage,
      ];

      // Interleaved: each log keeps its own instance's updates in order.
      await addUpdates(store, 14, [u0, u1], INSTANCE);
      await addUpdates(store, 14, [u2], OTHER);
      await addUpdates(store, 14, [u3], INSTANCE);
      let partials = await partialsOf(store, 14);
      expect(partials).toHaveLength(2);
      expectPartial(partials[0], INSTANCE, undefined, [u0, u1, u3]);
      expectPartial(partials[1], OTHER, undefined, [u2]);

      // INSTANCE checkpoints: its log empties, OTHER's is untouched.
      expect(await store.checkpoint(14, INSTANCE, aggregateOf([u0, u1, u3]))).toBe('saved');
      partials = await partialsOf(store, 14);
      expectPartial(partials[0], INSTANCE, [u0, u1, u3], []);
      expectPartial(partials[1], OTHER, undefined, [u2]);

      // Both take more; OTHER checkpoints, INSTANCE's checkpoint and new tail stay as they are.
      await addUpdates(store, 14, [u4], OTHER);
      await addUpdates(store, 14, [u5], INSTANCE);
      partials = await partialsOf(store, 14);
      expectPartial(partials[0], INSTANCE, [u0, u1, u3], [u5]);
      expectPartial(partials[1], OTHER, undefined, [u2, u4]);
      expect(await store.checkpoint(14, OTHER, aggregateOf([u2, u4]))).toBe('saved');
      partials = await partialsOf(store, 14);
      expectPartial(partials[0], INSTANCE, [u0, u1, u3], [u5]);
      expectPartial(partials[1], OTHER, [u2, u4], []);

      // Whoever unmasks combines them: exactly the aggregate of all six, and the average of all six.
      const total = sumPartials(partials);
      expect(total.modelCount).toBe(6);
      expectSameObject(total.toMaskObject(), all.toMaskObject());
      const average = total.unmask(aggregatedMask(await store.updateSeedDict(14, sum.pk), sum.ephemeral));
      const expected = weightedAverage(
        updates.map((u) => u.model),
        [1, 1, 1, 1, 1, 1],
      );
      for (let i = 0; i < LENGTH; i++) {
        expect(Math.abs((average[i] as number) - (expected[i] as number))).toBeLessThan(1e-6);
      }
      expect(await store.counts(14)).toEqual({ sum: 1, update: 6, sum2: 0 });
    });

    it("a checkpoint behind the store's log is 'behind' and one ahead of it an error; neither changes anything", async () => {
      await store.startRound(roundRecord(15));
      await enter(store, 15, 'update');
      const [u0, u1, u2, u3] = [0, 1, 2, 3].map((i) => updateMessage(i, [])) as [
        UpdateMessage,
        UpdateMessage,
        UpdateMessage,
        UpdateMessage,
      ];
      await addUpdates(store, 15, [u0, u1, u2]);
      await addUpdates(store, 15, [u3], OTHER);

      // The caller's partial lacks u2 (say its write failed for the caller but landed): behind.
      expect(await store.checkpoint(15, INSTANCE, aggregateOf([u0, u1]))).toBe('behind');
      expect(await store.checkpoint(15, INSTANCE, aggregateOf([]))).toBe('behind');
      // More than this instance logged (OTHER's u3 is not INSTANCE's): an error.
      await expect(store.checkpoint(15, INSTANCE, aggregateOf([u0, u1, u2, u3]))).rejects.toBeInstanceOf(StoreError);
      let partials = await partialsOf(store, 15);
      expect(partials.map((p) => p.instance)).toEqual([INSTANCE, OTHER]);
      expectPartial(partials[0], INSTANCE, undefined, [u0, u1, u2]);
      expectPartial(partials[1], OTHER, undefined, [u3]);

      expect(await store.checkpoint(15, INSTANCE, aggregateOf([u0, u1, u2]))).toBe('saved');
      // The count is the checkpoint's plus the log's: after one more, the old count is behind.
      const u4 = updateMessage(4, []);
      await addUpdates(store, 15, [u4]);
      expect(await store.checkpoint(15, INSTANCE, aggregateOf([u0, u1, u2]))).toBe('behind');
      await expect(store.checkpoint(15, INSTANCE, aggregateOf([u0, u1, u2, u4, u3]))).rejects.toBeInstanceOf(
        StoreError,
      );
      partials = await partialsOf(store, 15);
      expectPartial(partials[0], INSTANCE, [u0, u1, u2], [u4]);
      expectPartial(partials[1], OTHER, undefined, [u3]);

      expect(await store.checkpoint(15, INSTANCE, aggregateOf([u0, u1, u2, u4]))).toBe('saved');
      // The same checkpoint again (nothing logged since) is in step: saved, the tail still empty.
      expect(await store.checkpoint(15, INSTANCE, aggregateOf([u0, u1, u2, u4]))).toBe('saved');
      partials = await partialsOf(store, 15);
      expectPartial(partials[0], INSTANCE, [u0, u1, u2, u4], []);
      expectPartial(partials[1], OTHER, undefined, [u3]);
      expect(await store.counts(15)).toEqual({ sum: 0, update: 5, sum2: 0 });

      // An instance that logged nothing has nothing to checkpoint but an empty aggregate.
      await expect(store.checkpoint(15, 'coordinator-c', aggregateOf([u0]))).rejects.toBeInstanceOf(StoreError);
      expect((await partialsOf(store, 15)).map((p) => p.instance)).toEqual([INSTANCE, OTHER]);
    });

    it('round-trips a limbs-path log and checkpoint (Uint32Array elements) under its own config', async () => {
      await store.startRound(roundRecord(6, FIXTURE_LIMBS_CONFIG));
      await enter(store, 6, 'update', FIXTURE_LIMBS_CONFIG);
      const [u1, u2, u3] = [0, 1, 2].map((i) => updateMessage(i, [], undefined, FIXTURE_LIMBS_CONFIG)) as [
        UpdateMessage,
        UpdateMessage,
        UpdateMessage,
      ];
      await addUpdates(store, 6, [u1, u2]);
      expect(await store.checkpoint(6, INSTANCE, aggregateOf([u1, u2], FIXTURE_LIMBS_CONFIG))).toBe('saved');
      await addUpdates(store, 6, [u3]);
      const partials = await partialsOf(store, 6, FIXTURE_LIMBS_CONFIG);
      expect(partials).toHaveLength(1);
      expectPartial(partials[0], INSTANCE, [u1, u2], [u3], FIXTURE_LIMBS_CONFIG);
      expect(partials[0]?.checkpoint?.object.vector).toBeInstanceOf(Uint32Array);
      expect(partials[0]?.tail[0]?.vector).toBeInstanceOf(Uint32Array);
      expect((await store.loadRound())?.maskConfig).toEqual(FIXTURE_LIMBS_CONFIG);
    });

    it('refuses to load the partials under another config or length', async () => {
      await store.startRound(roundRecord(8));
      await enter(store, 8, 'update');
      const [u0, u1] = [0, 1].map((i) => updateMessage(i, [])) as [UpdateMessage, UpdateMessage];
      // A logged masked model…
      await addUpdates(store, 8, [u0]);
      await expect(store.partials(8, FIXTURE_LIMBS_CONFIG, LENGTH)).rejects.toBeInstanceOf(StoreError);
      await expect(store.partials(8, FIXTURE_CONFIG, LENGTH + 1)).rejects.toBeInstanceOf(StoreError);
      // …and a checkpoint alike.
      expect(await store.checkpoint(8, INSTANCE, aggregateOf([u0]))).toBe('saved');
      await expect(store.partials(8, FIXTURE_LIMBS_CONFIG, LENGTH)).rejects.toBeInstanceOf(StoreError);
      await expect(store.partials(8, FIXTURE_CONFIG, LENGTH + 1)).rejects.toBeInstanceOf(StoreError);
      await addUpdates(store, 8, [u1], OTHER);
      const partials = await partialsOf(store, 8);
      expectPartial(partials[0], INSTANCE, [u0], []);
      expectPartial(partials[1], OTHER, undefined, [u1]);
    });

    it('a second update from a participant is a duplicate and changes nothing, from any instance', async () => {
      await store.startRound(roundRecord(9));
      const sums = [0, 1].map(sumParticipant);
      await enter(store, 9, 'update');
      const first = updateMessage(0, sums);
      await addUpdates(store, 9, [first]);

      // The same participant again, with other seeds and another masked model, from either instance.
      const again = updateMessage(1, sums);
      for (const instance of [INSTANCE, OTHER]) {
        expect(await store.addUpdate(9, first.pk, again.localSeedDict, entry(again, instance), MAX)).toBe('duplicate');
      }

      expect(await store.updateParticipants(9)).toEqual(new Set([first.pk]));
      for (const s of sums) {
        expect(await store.updateSeedDict(9, s.pk)).toEqual(
          new Map([[first.pk, first.localSeedDict.get(s.pk) as Uint8Array]]),
        );
      }
      const partials = await partialsOf(store, 9);
      expect(partials).toHaveLength(1);
      expectPartial(partials[0], INSTANCE, undefined, [first]);
      expect(await store.counts(9)).toEqual({ sum: 0, update: 1, sum2: 0 });
    });

    // -- Sum2 masks -----------------------------------------------------------

    it('counts identical mask hashes across sum participants; loadMask returns the first sender’s bytes', async () => {
      await store.startRound(roundRecord(10));
      await enter(store, 10, 'sum2');
      const [a, b, c] = [0, 1, 2].map(sumParticipant) as [SumParticipant, SumParticipant, SumParticipant];
      const first = new Uint8Array([10, 20, 30, 40]);
      const second = new Uint8Array([10, 20, 30, 41]);
      const other = new Uint8Array([99]);
      expect(await store.addMask(10, a.pk, 'hash-1', first, MAX)).toBe('added');
      expect(await store.addMask(10, b.pk, 'hash-1', second, MAX)).toBe('added');
      expect(await store.addMask(10, c.pk, 'hash-2', other, MAX)).toBe('added');
      // A second Sum2 from `a`, under another hash: nothing changes.
      expect(await store.addMask(10, a.pk, 'hash-2', new Uint8Array([7]), MAX)).toBe('duplicate');

      expect(await store.maskCounts(10)).toEqual(
        new Map([
          ['hash-1', 2],
          ['hash-2', 1],
        ]),
      );
      expect(await store.sum2Senders(10)).toEqual(new Set([a.pk, b.pk, c.pk]));
      expect(await store.loadMask(10, 'hash-1')).toEqual(first);
      expect(await store.loadMask(10, 'hash-2')).toEqual(other);
      expect(await store.loadMask(10, 'hash-3')).toBeUndefined();
      expect(await store.counts(10)).toEqual({ sum: 0, update: 0, sum2: 3 });
    });

    // -- counts ---------------------------------------------------------------

    it('counts the messages each phase took; duplicate, full and closed ones do not count', async () => {
      await store.startRound(roundRecord(18));
      expect(await store.counts(18)).toEqual({ sum: 0, update: 0, sum2: 0 });
      const { sums, updates } = await fillRound(store, 18);
      expect(await store.counts(18)).toEqual({ sum: 3, update: 2, sum2: 2 });
      const [a, b, c] = sums as [SumParticipant, SumParticipant, SumParticipant];
      const first = updates[0];
      expect(await store.addMask(18, a.pk, 'hash-b', new Uint8Array([1]), MAX)).toBe('duplicate');
      expect(await store.addMask(18, c.pk, 'hash-b', new Uint8Array([1]), 2)).toBe('full');
      expect(await store.addSumParticipant(18, sumParticipant(5).pk, b.ephemeral.publicKey, MAX)).toBe('closed');
      expect(await store.addUpdate(18, first.pk, first.localSeedDict, entry(first), MAX)).toBe('closed');
      expect(await store.counts(18)).toEqual({ sum: 3, update: 2, sum2: 2 });
      // A checkpoint is not a message.
      await enter(store, 18, 'update');
      expect(await store.checkpoint(18, INSTANCE, aggregateOf(updates))).toBe('saved');
      expect(await store.counts(18)).toEqual({ sum: 3, update: 2, sum2: 2 });
      expect(await store.addMask(18, c.pk, 'hash-b', new Uint8Array([1]), MAX)).toBe('closed');
      await enter(store, 18, 'sum2');
      expect(await store.addMask(18, c.pk, 'hash-b', new Uint8Array([1]), MAX)).toBe('added');
      expect(await store.counts(18)).toEqual({ sum: 3, update: 2, sum2: 3 });
    });

    // -- round lifecycle ------------------------------------------------------

    it('startRound wipes what is left of the previous round', async () => {
      await store.startRound(roundRecord(1));
      await fillRound(store, 1);

      const second = roundRecord(2);
      await store.startRound(second);
      expect(await store.loadRound()).toStrictEqual(second);
      for (const call of perRoundCalls(1)) await expectNotInRound(call);
      await expectEmptyRound(store, 2);
      // Starting a round ends nothing: no history.
      expect(await store.history(10)).toEqual([]);

      // Restarting the same round id starts it empty, in its sum phase: the old data is gone, not
      // just hidden, and the old phase with it.
      const { sums, updates } = await fillRound(store, 2);
      await store.startRound(second);
      await expectEmptyRound(store, 2, sums[0]?.pk);
      const first = updates[0];
      expect(await store.addUpdate(2, first.pk, first.localSeedDict, entry(first), MAX)).toBe('closed');
      expect(await store.addMask(2, sums[0]?.pk ?? '', 'hash-a', new Uint8Array([1]), MAX)).toBe('closed');
      expect(await store.addSumParticipant(2, sums[0]?.pk ?? '', new Uint8Array(32), MAX)).toBe('added');
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
      await expectEmptyRound(store, 1, sums[0]?.pk);
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
      await store.addSumParticipant(11, sum.pk, ephemeral, MAX);
      ephemeral.fill(0);
      (await store.sumDict(11)).get(sum.pk)?.fill(0);
      expect((await store.sumDict(11)).get(sum.pk)).toEqual(sum.ephemeral.publicKey);

      await enter(store, 11, 'update');
      const [u0, u1] = [0, 1].map((i) => updateMessage(i, [sum])) as [UpdateMessage, UpdateMessage];
      const sealed = (u0.localSeedDict.get(sum.pk) as Uint8Array).slice();
      await addUpdates(store, 11, [u0]);
      u0.localSeedDict.get(sum.pk)?.fill(0);
      (await store.updateSeedDict(11, sum.pk)).get(u0.pk)?.fill(0);
      expect((await store.updateSeedDict(11, sum.pk)).get(u0.pk)).toEqual(sealed);
      // (masked models and checkpoints are handed over — see UpdateEntry and checkpoint — so they
      // are not mutated here; what partials hands out is the caller's own.)
      expect(await store.checkpoint(11, INSTANCE, aggregateOf([u0]))).toBe('saved');
      await addUpdates(store, 11, [u1]);
      for (const { checkpoint, tail } of await store.partials(11, FIXTURE_CONFIG, LENGTH)) {
        checkpoint?.object.vector.fill(0);
        checkpoint?.object.scalar.fill(0);
        for (const masked of tail) {
          masked.vector.fill(0);
          masked.scalar.fill(0);
        }
      }
      const partials = await partialsOf(store, 11);
      expect(partials).toHaveLength(1);
      expectPartial(partials[0], INSTANCE, [u0], [u1]);

      await enter(store, 11, 'sum2');
      const mask = new Uint8Array([5, 6, 7]);
      await store.addMask(11, sum.pk, 'h', mask, MAX);
      mask.fill(0);
      (await store.loadMask(11, 'h'))?.fill(0);
      expect(await store.loadMask(11, 'h')).toEqual(new Uint8Array([5, 6, 7]));
    });

    // -- durability -----------------------------------------------------------

    it('a round in progress survives a reopen: record, dictionaries, partials, masks, counts, history, meta', async () => {
      await store.startRound(roundRecord(1));
      await store.endRound(summary(1, 'failed'));
      const meta: CoordinatorMeta = { v: 1, paused: true, nextPet: NEXT_PET };
      await store.saveMeta(meta);
      const record: RoundRecord = {
        ...roundRecord(2, FIXTURE_CONFIG, 'sum2'),
        phaseDurationsMs: { sum: 10, update: 20 },
      };
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
      const partials = await partialsOf(again, 2);
      expect(partials).toHaveLength(1);
      expectPartial(partials[0], INSTANCE, [updates[0]], [updates[1]]);
      expectSameObject(sumPartials(partials).toMaskObject(), aggregation.toMaskObject());
      expect(await again.counts(2)).toEqual({ sum: 3, update: 2, sum2: 2 });
      expect(await again.maskCounts(2)).toEqual(
        new Map([
          ['hash-a', 1],
          ['hash-b', 1],
        ]),
      );
      expect(await again.sum2Senders(2)).toEqual(new Set([sums[0]?.pk, sums[1]?.pk]));
      expect(await again.loadMask(2, 'hash-a')).toEqual(masks[0]);
      expect(await again.loadMask(2, 'hash-b')).toEqual(masks[1]);
      expect(await again.history(10)).toStrictEqual([summary(1, 'failed')]);
      expect(await again.loadMeta()).toStrictEqual(meta);

      // The reopened store carries the round on in its phase: duplicates are still duplicates, new
      // Sum2 messages land, updates are closed.
      const [a, , c] = sums as [SumParticipant, SumParticipant, SumParticipant];
      expect(await again.addMask(2, a.pk, 'hash-b', new Uint8Array([9]), MAX)).toBe('duplicate');
      expect(await again.addMask(2, c.pk, 'hash-a', new Uint8Array([9]), MAX)).toBe('added');
      expect(await again.maskCounts(2)).toEqual(
        new Map([
          ['hash-a', 2],
          ['hash-b', 1],
        ]),
      );
      const third = updateMessage(2, sums);
      expect(await again.addUpdate(2, third.pk, third.localSeedDict, entry(third), MAX)).toBe('closed');
      await again.endRound(summary(2));
      expect(await again.loadRound()).toBeUndefined();
      expect((await again.history(10)).map((s) => s.roundId)).toEqual([2, 1]);
    });

    it("an update phase carries on across a reopen: duplicates, new updates, and each instance's log and checkpoint", async () => {
      await store.startRound(roundRecord(3));
      const sum = sumParticipant(0);
      await store.addSumParticipant(3, sum.pk, sum.ephemeral.publicKey, MAX);
      await enter(store, 3, 'update');
      const all = new Aggregation(FIXTURE_CONFIG, LENGTH);
      const [u0, u1, u2, u3] = [0, 1, 2, 3].map((i) => updateMessage(i, [sum], all)) as [
        UpdateMessage,
        UpdateMessage,
        UpdateMessage,
        UpdateMessage,
      ];
      await addUpdates(store, 3, [u0, u1]);
      expect(await store.checkpoint(3, INSTANCE, aggregateOf([u0, u1]))).toBe('saved');
      await addUpdates(store, 3, [u2]);

      const again = await opened.reopen();
      expect(await again.addUpdate(3, u0.pk, u0.localSeedDict, entry(u0, OTHER), MAX)).toBe('duplicate');
      expect(await again.addUpdate(3, u3.pk, u3.localSeedDict, entry(u3, OTHER), MAX)).toBe('added');
      // The checkpoint and log written before the reopen still count.
      expect(await again.checkpoint(3, INSTANCE, aggregateOf([u0, u1]))).toBe('behind');
      expect(await again.checkpoint(3, INSTANCE, aggregateOf([u0, u1, u2]))).toBe('saved');
      const partials = await partialsOf(again, 3);
      expectPartial(partials[0], INSTANCE, [u0, u1, u2], []);
      expectPartial(partials[1], OTHER, undefined, [u3]);
      const total = sumPartials(partials);
      expect(total.modelCount).toBe(4);
      expectSameObject(total.toMaskObject(), all.toMaskObject());
      expect(await again.counts(3)).toEqual({ sum: 1, update: 4, sum2: 0 });
    });
  });
}
