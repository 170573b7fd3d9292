/**
 * Saving and loading the participant state (architecture.md §5.3): a sending phase's payload of
 * up to KEPT_PAYLOAD_MAX_BYTES goes to the store once, under its own key, and the saves after each
 * chunk write only a small record; loading mid-send gives back the same state, and a record whose
 * payload is missing or not the one it names is a ParticipantRestoreError. A larger payload is
 * never written (ADR 0022): a restart mid-send finds the send given up.
 */

import { createHash } from 'node:crypto';
import { initCrypto, type PetCrypto } from '@petfl/core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeCoordinator } from '../../test-support/fake-coordinator.ts';
import { ParticipantRestoreError } from '../errors.ts';
import { serializeState } from '../state-codec.ts';
import type { StateStore, StepIo } from './io.ts';
import { MemoryStateStore } from './memory-state-store.ts';
import { createInitialState, type ParticipantState, type SendingPhase } from './state.ts';
import { KEPT_PAYLOAD_MAX_BYTES, payloadKey, StateSaver } from './state-saver.ts';
import { step } from './step.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

const KEY = 'petfl/participant-state';
const MODEL = Array.from({ length: 40 }, (_, i) => (i % 7) / 10 - 0.3);

/** A memory store that logs every write: the key and how many bytes of Uint8Array the value held. */
class LoggingStore implements StateStore {
  readonly memory = new MemoryStateStore();
  readonly log: { key: string; bytes: number }[] = [];
  failSet: ((key: string) => boolean) | undefined;

  get(key: string): Promise<unknown> {
    return this.memory.get(key);
  }

  async set(key: string, value: unknown): Promise<void> {
    if (this.failSet?.(key)) throw new Error('disk full');
    this.log.push({ key, bytes: byteCount(value) });
    await this.memory.set(key, value);
  }

  del(key: string): Promise<void> {
    this.log.push({ key: `${key} (deleted)`, bytes: 0 });
    return this.memory.del(key);
  }
}

function byteCount(value: unknown): number {
  if (value instanceof Uint8Array) return value.length;
  if (typeof value !== 'object' || value === null) return 0;
  return Object.values(value).reduce((n: number, v) => n + byteCount(v), 0);
}

/** The bytes of a saved record's identity (public and secret key) and round (coordinatorPk, seed). */
function identityAndRound(): number {
  return 32 + 64 + (32 + 32);
}

/** An update participant (one sum participant in the sum dictionary) that just entered the sending phase. */
async function updateBeforeSending(
  model: readonly number[] = MODEL,
  maxChunkData = 64,
): Promise<{ coordinator: FakeCoordinator; io: StepIo; state: ParticipantState }> {
  const coordinator = new FakeCoordinator(crypto);
  coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: model.length });
  coordinator.sums = new Map([['A'.repeat(43), crypto.encryptKeyPair().publicKey]]);
  const io: StepIo = { crypto, client: coordinator, localModel: () => model, maxChunkData };
  let state = createInitialState(crypto);
  state = (await step(state, io)).state; // new-round → update
  state = (await step(state, io)).state; // update → sending
  expect(state.phase.kind).toBe('sending');
  return { coordinator, io, state };
}

describe('StateSaver', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('writes the payload once; every save while sending writes only the progress; then deletes it', async () => {
    const { io, state: start } = await updateBeforeSending();
    const store = new LoggingStore();
    const saver = new StateSaver(store, KEY, crypto);
    let state = start;
    await saver.save(state);
    while (state.phase.kind === 'sending') {
      state = (await step(state, io)).state;
      await saver.save(state);
    }
    const signatures = 2 * 64;
    const record = identityAndRound() + signatures;
    expect(store.log).toEqual([
      { key: `${KEY}/payload`, bytes: (start.phase as SendingPhase).payload.length },
      // the record: keys, round, the task signatures… and the payload's SHA-256, not the payload
      ...Array(8).fill({ key: KEY, bytes: record - signatures + 32 }),
      { key: KEY, bytes: identityAndRound() },
      { key: `${KEY}/payload (deleted)`, bytes: 0 },
    ]);
    expect(await store.get(payloadKey(KEY))).toBeUndefined();
  });

  it("names the payload by its SHA-256: WebCrypto's digest where there is one, else the crypto's own", async () => {
    for (const webCrypto of [true, false]) {
      if (!webCrypto) vi.stubGlobal('crypto', undefined);
      const { state } = await updateBeforeSending();
      const store = new LoggingStore();
      const hash = vi.spyOn(crypto, 'hash');
      await new StateSaver(store, KEY, crypto).save(state);
      const payload = (state.phase as SendingPhase).payload;
      const record = (await store.get(KEY)) as { phase: { payload: { length: number; sha256: Uint8Array } } };
      expect(record.phase.payload.length).toBe(payload.length);
      expect(Buffer.from(record.phase.payload.sha256).toString('hex')).toBe(
        createHash('sha256').update(payload).digest('hex'),
      );
      expect(hash.mock.calls.filter(([bytes]) => bytes === payload)).toHaveLength(webCrypto ? 0 : 1);
      hash.mockRestore();
      // Either way a new saver loads it back: the check on load is the crypto's own.
      expect(await new StateSaver(store, KEY, crypto).load()).toStrictEqual(state);
    }
  });

  it('loads a state saved mid-send: equal, and it sends the rest without writing the payload again', async () => {
    const { coordinator, io, state: start } = await updateBeforeSending();
    const store = new LoggingStore();
    let state = start;
    const saver = new StateSaver(store, KEY, crypto);
    for (let i = 0; i < 3; i++) {
      state = (await step(state, io)).state;
      await saver.save(state);
    }
    // The process dies; a new one loads what was saved.
    const reloaded = new StateSaver(store, KEY, crypto);
    const loaded = (await reloaded.load()) as ParticipantState;
    expect(loaded).toStrictEqual(state);
    store.log.length = 0;
    let resumed = loaded;
    while (resumed.phase.kind === 'sending') {
      resumed = (await step(resumed, io)).state;
      await reloaded.save(resumed);
    }
    expect(store.log.filter((w) => w.key === payloadKey(KEY))).toEqual([]);
    expect(coordinator.posts.map((p) => p.chunkIndex)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(coordinator.payloads('update')).toHaveLength(1);
  });

  it('a payload that fails to save is not named by a record, and is written at the next save', async () => {
    const { io, state: start } = await updateBeforeSending();
    const store = new LoggingStore();
    const saver = new StateSaver(store, KEY, crypto);
    await saver.save(createInitialState(crypto));
    store.failSet = (key) => key === payloadKey(KEY);
    await expect(saver.save(start)).rejects.toThrow('disk full');
    expect(((await store.get(KEY)) as ParticipantState).phase.kind).toBe('new-round'); // the record before
    store.failSet = undefined;
    const next = (await step(start, io)).state;
    await saver.save(next);
    expect(await new StateSaver(store, KEY, crypto).load()).toStrictEqual(next);
  });

  it('a missing, altered or foreign payload, or a bad reference, is a ParticipantRestoreError', async () => {
    const { state } = await updateBeforeSending();
    const saved = async (): Promise<LoggingStore> => {
      const store = new LoggingStore();
      await new StateSaver(store, KEY, crypto).save(state);
      return store;
    };
    const load = (store: StateStore) => new StateSaver(store, KEY, crypto).load();

    const missing = await saved();
    await missing.del(payloadKey(KEY));
    await expect(load(missing)).rejects.toThrow(ParticipantRestoreError);
    await expect(load(missing)).rejects.toThrow(`the payload under '${KEY}/payload' is missing`);

    const altered = await saved();
    const bytes = (await altered.get(payloadKey(KEY))) as Uint8Array;
    bytes[100] = (bytes[100] as number) ^ 1;
    await altered.set(payloadKey(KEY), bytes);
    await expect(load(altered)).rejects.toThrow('is not the one the state names');

    const shorter = await saved();
    await shorter.set(payloadKey(KEY), bytes.subarray(1));
    await expect(load(shorter)).rejects.toThrow('is not the one the state names');

    const badRef = await saved();
    const record = (await badRef.get(KEY)) as { phase: { payload: { sha256: Uint8Array } } };
    record.phase.payload.sha256 = new Uint8Array(5);
    await badRef.set(KEY, record);
    await expect(load(badRef)).rejects.toThrow('participant state.phase.payload.sha256: expected 32 bytes');

    const failing: StateStore = {
      get: async (key) => (key === KEY ? (await saved()).get(KEY) : Promise.reject(new Error('disk on fire'))),
      set: async () => {},
      del: async () => {},
    };
    await expect(load(failing)).rejects.toThrow(`store.get('${KEY}/payload') failed: disk on fire`);
  });

  it('never writes a payload over the kept maximum: while it is sent the store holds the send given up', async () => {
    const { coordinator, io, state: start } = await updateBeforeSending();
    const payloadBytes = (start.phase as SendingPhase).payload.length;
    const store = new LoggingStore();
    // An earlier run's payload, which this saver did not write: deleted once a record no longer names it.
    await store.memory.set(payloadKey(KEY), new Uint8Array(10));
    const saver = new StateSaver(store, KEY, crypto, payloadBytes - 1);
    let state = start;
    await saver.save(state);
    const given = { code: 'participant-restore', roundId: start.round?.roundId };
    for (let i = 0; i < 3; i++) {
      state = (await step(state, io)).state;
      await saver.save(state);
    }
    expect(state.phase.kind).toBe('sending');
    expect(state.lastError).toBeUndefined(); // the participant itself is not told: it is sending
    // The process dies mid-send: a new one loads the state with this round's task given up.
    const loaded = (await new StateSaver(store, KEY, crypto).load()) as ParticipantState;
    expect(loaded).toStrictEqual({
      ...state,
      phase: { kind: 'awaiting' },
      lastError: { ...given, message: expect.stringContaining(`a message of ${payloadBytes} bytes`) },
    });
    expect(loaded.lastError?.message).toContain("this round's task was given up");
    while (state.phase.kind === 'sending') {
      state = (await step(state, io)).state;
      await saver.save(state);
    }
    expect(coordinator.payloads('update')).toHaveLength(1);
    const record = identityAndRound();
    expect(store.log).toEqual([
      // no payload, nor the task's signatures: the record of a given-up send, then the stale payload deleted
      { key: KEY, bytes: record },
      { key: `${KEY}/payload (deleted)`, bytes: 0 },
      ...Array(8).fill({ key: KEY, bytes: record }),
    ]);
    expect(await new StateSaver(store, KEY, crypto).load()).toStrictEqual(state);
  });

  it(`keeps a payload of up to ${KEPT_PAYLOAD_MAX_BYTES} bytes by default (an update of 11,000 weights here), not a larger one`, async () => {
    const sizes = [];
    for (const weights of [11_000, 12_000]) {
      const model = Array.from({ length: weights }, (_, i) => (i % 7) / 10 - 0.3);
      const { state } = await updateBeforeSending(model, 1024 * 1024);
      const store = new LoggingStore();
      await new StateSaver(store, KEY, crypto).save(state);
      const payload = (state.phase as SendingPhase).payload.length;
      sizes.push(payload);
      const loaded = (await new StateSaver(store, KEY, crypto).load()) as ParticipantState;
      if (payload <= KEPT_PAYLOAD_MAX_BYTES) {
        expect(store.log.map((w) => w.key)).toEqual([payloadKey(KEY), KEY]);
        expect(loaded).toStrictEqual(state);
      } else {
        // (a new saver deletes whatever payload an earlier run may have left, once it is not named)
        expect(store.log.map((w) => w.key)).toEqual([KEY, `${KEY}/payload (deleted)`]);
        expect(loaded.phase.kind).toBe('awaiting');
      }
    }
    expect(sizes[0]).toBeLessThanOrEqual(KEPT_PAYLOAD_MAX_BYTES);
    expect(sizes[1]).toBeGreaterThan(KEPT_PAYLOAD_MAX_BYTES);
  });

  it('loads serializeState bytes and full states a store holds, and nothing from an empty store', async () => {
    const { state } = await updateBeforeSending();
    const store = new MemoryStateStore();
    expect(await new StateSaver(store, KEY, crypto).load()).toBeUndefined();
    await store.set(KEY, serializeState(state));
    expect(await new StateSaver(store, KEY, crypto).load()).toStrictEqual(state);
    await store.set(KEY, state);
    expect(await new StateSaver(store, KEY, crypto).load()).toStrictEqual(state);
  });
});
