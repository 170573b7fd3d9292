/**
 * The conformance suite of the `ModelStore` port (architecture.md §7.7), run by
 * model-store.test.ts against `FsModelStore` and `MemoryModelStore`. Values
 * are compared bit by bit (NaN payloads aside, which models never carry):
 * the latest global model is what every participant trains from next, so a
 * store may not round it, drop it, or let an older round replace it.
 */

import type { GlobalModel } from '@petfl/core';
import { fixtureModel } from '@petfl/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModelStore } from '../src/store/model-store.ts';

export interface OpenedModelStore {
  /** A store over no models. */
  readonly store: ModelStore;
  /** A new store over the same data (memory: the same instance; files: a new store on the same directory). */
  reopen(): Promise<ModelStore>;
  /** Deletes the data. */
  cleanup(): Promise<void>;
}

/** f32 fixture weights plus values that rounding or a text format would change. */
function f32Model(index: number): Float32Array {
  const model = fixtureModel(64, index);
  model.set([0, -0, 1e-45, -3.4028234663852886e38, 3.4028234663852886e38, 1 / 3], 0);
  return model;
}

function f64Model(index: number): Float64Array {
  const model = Float64Array.from(fixtureModel(64, index), (v) => v / 3);
  model.set([0, -0, Number.MIN_VALUE, -Number.MAX_VALUE, Number.MAX_VALUE, 0.1 + 0.2, Math.PI], 0);
  return model;
}

/** The bits of every value, so -0 ≠ 0 and no two doubles compare equal by accident. */
function bits(model: Float32Array | Float64Array): string[] {
  const view = new DataView(model.buffer, model.byteOffset, model.byteLength);
  const size = model.BYTES_PER_ELEMENT;
  return Array.from({ length: model.length }, (_, i) =>
    size === 8 ? view.getBigUint64(i * 8).toString(16) : view.getUint32(i * 4).toString(16),
  );
}

function expectSameModel(actual: GlobalModel | undefined, expected: GlobalModel): void {
  expect(actual).toBeDefined();
  if (actual === undefined) return;
  expect(actual.roundId).toBe(expected.roundId);
  expect(actual.model.constructor).toBe(expected.model.constructor);
  expect(bits(actual.model)).toEqual(bits(expected.model));
}

export function modelStoreConformance(name: string, open: () => Promise<OpenedModelStore>): void {
  describe(`ModelStore conformance: ${name}`, () => {
    let opened: OpenedModelStore;
    let store: ModelStore;

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });

    afterEach(async () => {
      await opened.cleanup();
    });

    it('has no model before the first save', async () => {
      expect(await store.latest()).toBeUndefined();
      expect(await store.get(0)).toBeUndefined();
      expect(await store.get(1)).toBeUndefined();
    });

    it('round-trips f32 and f64 models bit for bit, as the latest and by round', async () => {
      const first: GlobalModel = { roundId: 1, model: f32Model(1) };
      await store.save(first);
      expectSameModel(await store.latest(), first);
      expectSameModel(await store.get(1), first);

      const second: GlobalModel = { roundId: 2, model: f64Model(2) };
      await store.save(second);
      expectSameModel(await store.latest(), second);
      expectSameModel(await store.get(2), second);
      expectSameModel(await store.get(1), first);
      expect(await store.get(3)).toBeUndefined();
    });

    it('round-trips an empty model and the largest round id', async () => {
      const empty: GlobalModel = { roundId: 0xffff_ffff, model: new Float32Array(0) };
      await store.save(empty);
      expectSameModel(await store.latest(), empty);
      expectSameModel(await store.get(0xffff_ffff), empty);
    });

    it('an older round does not replace the latest; the same round does', async () => {
      const newer: GlobalModel = { roundId: 10, model: f32Model(10) };
      const older: GlobalModel = { roundId: 9, model: f32Model(9) };
      await store.save(newer);
      await store.save(older);
      expectSameModel(await store.latest(), newer);
      expectSameModel(await store.get(9), older);

      const again: GlobalModel = { roundId: 10, model: f64Model(10) };
      await store.save(again);
      expectSameModel(await store.latest(), again);
      expectSameModel(await store.get(10), again);
    });

    it('keeps the latest across concurrent saves in any order', async () => {
      const models = [5, 3, 8, 1, 7].map((roundId): GlobalModel => ({ roundId, model: f32Model(roundId) }));
      await Promise.all(models.map((m) => store.save(m)));
      expect((await store.latest())?.roundId).toBe(8);
      for (const m of models) expectSameModel(await store.get(m.roundId), m);
    });

    it('keeps its own copies of the models it is given and hands out', async () => {
      const model = f32Model(4);
      const expected: GlobalModel = { roundId: 4, model: model.slice() };
      await store.save({ roundId: 4, model });
      model.fill(0);
      (await store.latest())?.model.fill(0);
      (await store.get(4))?.model.fill(0);
      expectSameModel(await store.latest(), expected);
      expectSameModel(await store.get(4), expected);
    });

    it('a reopened store sees the latest model and every round (durability)', async () => {
      const first: GlobalModel = { roundId: 1, model: f32Model(1) };
      const second: GlobalModel = { roundId: 2, model: f64Model(2) };
      await store.save(first);
      await store.save(second);
      const again = await opened.reopen();
      expectSameModel(await again.latest(), second);
      expectSameModel(await again.get(1), first);
      expectSameModel(await again.get(2), second);
      // An older round saved through the reopened store still does not replace the latest.
      await again.save({ roundId: 0, model: f32Model(0) });
      expectSameModel(await again.latest(), second);
    });

    it('keeps checkpoints by round, durably, and lists them in order', async () => {
      expect(await store.checkpoint(1)).toBeUndefined();
      expect(await store.checkpointRounds()).toEqual([]);
      const bytes = (n: number) => Uint8Array.from({ length: 40 + n }, (_, i) => (i * 7 + n) & 0xff);
      await store.saveCheckpoint(12, bytes(12));
      await store.saveCheckpoint(3, bytes(3));
      await store.saveCheckpoint(12, bytes(13));
      expect(await store.checkpoint(12)).toEqual(bytes(13));
      expect(await store.checkpoint(3)).toEqual(bytes(3));
      expect(await store.checkpointRounds()).toEqual([3, 12]);
      const again = await opened.reopen();
      expect(await again.checkpoint(12)).toEqual(bytes(13));
      expect(await again.checkpointRounds()).toEqual([3, 12]);
    });

    it('drops a round’s model and checkpoint, never the latest', async () => {
      for (const roundId of [1, 2, 3]) {
        await store.saveCheckpoint(roundId, Uint8Array.of(roundId));
        await store.save({ roundId, model: f32Model(roundId) });
      }
      await store.drop(1);
      await store.drop(3);
      expect(await store.get(1)).toBeUndefined();
      expect(await store.checkpoint(1)).toBeUndefined();
      expectSameModel(await store.get(3), { roundId: 3, model: f32Model(3) });
      expect(await store.checkpointRounds()).toEqual([2, 3]);
      await store.drop(99);
    });

    it('makes an older round the latest again, and a newer save replaces it', async () => {
      for (const roundId of [1, 2, 3]) await store.save({ roundId, model: f32Model(roundId) });
      expect(await store.makeLatest(7)).toBeUndefined();
      expectSameModel(await store.makeLatest(2), { roundId: 2, model: f32Model(2) });
      expectSameModel(await store.latest(), { roundId: 2, model: f32Model(2) });
      expectSameModel(await (await opened.reopen()).latest(), { roundId: 2, model: f32Model(2) });
      // The newer rounds are still kept.
      expectSameModel(await store.get(3), { roundId: 3, model: f32Model(3) });
      await store.save({ roundId: 4, model: f32Model(4) });
      expectSameModel(await store.latest(), { roundId: 4, model: f32Model(4) });
    });
  });
}
