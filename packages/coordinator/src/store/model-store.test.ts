import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGlobalModel, type GlobalModel } from '@petfl/core';
import { fixtureModel } from '@petfl/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { modelStoreConformance } from '../../test-support/model-store.conformance.ts';
import { FsModelStore, LATEST_MODEL_FILE, roundModelFile } from './fs-model-store.ts';
import { MemoryModelStore } from './memory-model-store.ts';
import { StoreError } from './store-error.ts';

modelStoreConformance('MemoryModelStore', async () => {
  const store = new MemoryModelStore();
  return { store, reopen: async () => store, cleanup: async () => undefined };
});

modelStoreConformance('FsModelStore', async () => {
  const root = await mkdtemp(join(tmpdir(), 'petfl-models-'));
  // A directory that does not exist yet: the store creates it on the first save.
  const dir = join(root, 'models');
  return {
    store: new FsModelStore(dir),
    reopen: async () => new FsModelStore(dir),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe('FsModelStore files', () => {
  let root: string;
  let dir: string;
  let store: FsModelStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'petfl-models-'));
    dir = join(root, 'nested', 'models');
    store = new FsModelStore(dir);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const model = (roundId: number): GlobalModel => ({ roundId, model: fixtureModel(32, roundId) });

  it('creates the directory on the first save and writes round-<10 digits>.bin and latest.bin, nothing else', async () => {
    expect(await store.latest()).toBeUndefined();
    for (const id of [42, 7, 43]) await store.save(model(id));
    expect((await readdir(dir)).sort()).toEqual(
      ['latest.bin', 'round-0000000007.bin', 'round-0000000042.bin', 'round-0000000043.bin'].sort(),
    );
    expect(roundModelFile(42)).toBe('round-0000000042.bin');
    // latest.bin is exactly the body GET /model serves (protocol.md §3.10).
    expect(new Uint8Array(await readFile(join(dir, LATEST_MODEL_FILE)))).toEqual(encodeGlobalModel(model(43)));
    expect(new Uint8Array(await readFile(join(dir, roundModelFile(7))))).toEqual(encodeGlobalModel(model(7)));
  });

  it('leaves no temporary file behind, even when a save fails', async () => {
    await store.save(model(1));
    await expect(store.save({ roundId: -1, model: new Float32Array(1) })).rejects.toBeInstanceOf(StoreError);
    await store.save(model(2));
    expect((await readdir(dir)).filter((name) => name.includes('tmp'))).toEqual([]);
  });

  it('a corrupt latest.bin is a StoreError naming the file; the next newer save replaces it', async () => {
    await store.save(model(1));
    const latest = join(dir, LATEST_MODEL_FILE);
    const bytes = await readFile(latest);
    await writeFile(latest, bytes.subarray(0, bytes.length - 1));
    const error = await store.latest().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toContain(latest);
    expect((error as Error).message).toMatch(/corrupt global model: global model\.values: expected \d+ bytes/);
    // A fresh store on the same directory reads the same corruption, not a stale copy.
    await expect(new FsModelStore(dir).latest()).rejects.toBeInstanceOf(StoreError);

    await store.save(model(2));
    expect((await store.latest())?.roundId).toBe(2);
  });

  it('a round file holding another round is a StoreError', async () => {
    await store.save(model(3));
    await writeFile(join(dir, roundModelFile(4)), encodeGlobalModel(model(3)));
    await expect(store.get(4)).rejects.toThrow(/round-0000000004\.bin: holds the model of round 3/);
  });

  it('get() of a round id no file can hold is undefined', async () => {
    await store.save(model(1));
    for (const id of [-1, 1.5, 2 ** 32, Number.NaN]) expect(await store.get(id)).toBeUndefined();
  });
});
