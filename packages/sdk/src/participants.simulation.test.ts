/**
 * The public participant API against a real coordinator in process: 20
 * AsyncParticipants and 5 ParticipantABC participants, round after round.
 * Each global model must be the exact weighted average (within n/E,
 * protocol.md §4.5) of the local models the coordinator accepted — which the
 * test learns from the 202 answers its own fetch wrapper sees (as
 * simulation.test.ts does) and recomputes independently. Also through the
 * public API: restoring, stopping, an unreachable coordinator.
 */

import { maskParams } from '@petfl/core';
import { fixtureModel } from '@petfl/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { startCoordinator, type TestCoordinator, waitFor } from '../test-support/coordinator.ts';
import { type AsyncParticipant, spawnAsyncParticipant } from './async-participant.ts';
import type { FetchLike } from './client/http-client.ts';
import { ParticipantInitError, UninitializedParticipantError } from './errors.ts';
import { ParticipantABC } from './participant-abc.ts';
import { type ParticipantHandle, spawnParticipant } from './spawn-participant.ts';
import { deserializeState } from './state-codec.ts';
import { MemoryStateStore } from './state-machine/memory-state-store.ts';
import { STATE_VERSION } from './state-machine/state.ts';

const MODEL_LENGTH = 1000;

interface Submitted {
  readonly model: ArrayLike<number>;
  readonly scalar: number;
}

/** The fetch of one participant: a 202 for an update means its pending model is in the aggregate. */
function watchingFetch(
  base: FetchLike,
  accepted: Map<number, Submitted[]>,
  take: () => { roundId: number; model: ArrayLike<number> } | undefined,
  scalar: number,
): FetchLike {
  return async (url, init) => {
    const response = await base(url, init);
    if (url.endsWith('/message') && response.status === 202) {
      const body = (await (response as unknown as Response).clone().json()) as { accepted: string };
      const pending = body.accepted === 'update' ? take() : undefined;
      if (pending !== undefined) {
        const list = accepted.get(pending.roundId) ?? [];
        list.push({ model: pending.model, scalar });
        accepted.set(pending.roundId, list);
      }
    }
    return response;
  };
}

class Trainer extends ParticipantABC<Float32Array, Float32Array> {
  pending: { roundId: number; model: Float32Array } | undefined;
  handle: ParticipantHandle | undefined;
  readonly inputs: (Float32Array | null)[] = [];
  readonly newModels: Float32Array[] = [];
  stops = 0;
  private trained = 0;

  private readonly index: number;

  constructor(index: number) {
    super();
    this.index = index;
  }

  trainRound(input: Float32Array | null): Float32Array {
    this.inputs.push(input);
    const model = fixtureModel(MODEL_LENGTH, this.index * 1000 + ++this.trained);
    const roundId = this.handle?.getSnapshot().roundId;
    if (roundId !== null && roundId !== undefined) this.pending = { roundId, model };
    return model;
  }
  serializeTrainingResult(result: Float32Array): ArrayLike<number> {
    return result;
  }
  deserializeTrainingInput(globalModel: Float32Array | Float64Array): Float32Array {
    return Float32Array.from(globalModel);
  }
  override onNewGlobalModel(model: Float32Array | null): void {
    if (model !== null) this.newModels.push(model);
  }
  override onStop(): void {
    this.stops++;
  }
}

const running: TestCoordinator[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.close();
});

describe('20 AsyncParticipants + 5 ParticipantABC participants × a real coordinator', () => {
  it('3 rounds; every global model is the exact weighted average of the models accepted', async () => {
    const c = await startCoordinator({
      sum: { probability: 0.2, min: 1, max: 3, minMs: 100, maxMs: 3000 },
      update: { min: 3, max: 25, minMs: 400, maxMs: 10_000 },
      sum2: { min: 1, max: 3, minMs: 100, maxMs: 5000 },
      modelLength: MODEL_LENGTH,
    });
    running.push(c);
    const accepted = new Map<number, Submitted[]>();
    const scalarOf = (i: number): number => 0.5 + (i % 7) * 0.75;
    const common = { pollMs: 10, maxPollMs: 50, logLevel: 'silent', store: new MemoryStateStore() } as const;

    const asyncs: { participant: AsyncParticipant; received: Float32Array[]; done: Promise<void> }[] = [];
    for (let i = 0; i < 20; i++) {
      let pending: { roundId: number; model: Float32Array } | undefined;
      const take = () => {
        const p = pending;
        pending = undefined;
        return p;
      };
      const fetch = watchingFetch(c.fetch, accepted, take, scalarOf(i));
      const { participant, globalModelNotifier } = await spawnAsyncParticipant(c.url, {
        ...common,
        storeKey: `async-${i}`,
        scalar: scalarOf(i),
        fetch,
      });
      // the app: a fresh local model for each round it updates in
      let lastSet: number | null = null;
      const onSnapshot = () => {
        const { phase, roundId } = participant.getSnapshot();
        if (phase === 'update' && roundId !== lastSet) {
          lastSet = roundId;
          const model = fixtureModel(MODEL_LENGTH, i * 1000 + (roundId ?? 0));
          participant.setLocalModel(model);
          pending = { roundId: roundId as number, model };
        }
      };
      participant.subscribe(onSnapshot);
      onSnapshot();
      // …and it fetches every new global model it is told about
      const received: Float32Array[] = [];
      const done = (async () => {
        for (;;) {
          try {
            await globalModelNotifier.wait();
          } catch {
            return; // stopped
          }
          const model = await participant.getGlobalModel().catch(() => null);
          if (model instanceof Float32Array) received.push(model);
        }
      })();
      asyncs.push({ participant, received, done });
    }

    const trainers: Trainer[] = [];
    const handles: ParticipantHandle[] = [];
    for (let i = 20; i < 25; i++) {
      const trainer = new Trainer(i);
      const take = () => {
        const p = trainer.pending;
        trainer.pending = undefined;
        return p;
      };
      const fetch = watchingFetch(c.fetch, accepted, take, scalarOf(i));
      trainer.handle = await spawnParticipant(c.url, trainer, {
        ...common,
        storeKey: `abc-${i}`,
        scalar: scalarOf(i),
        fetch,
      });
      trainers.push(trainer);
      handles.push(trainer.handle);
    }

    await waitFor(async () => (await c.completedRounds()).length >= 3, 45_000);
    const states = await Promise.all([...asyncs.map((a) => a.participant.stop()), ...handles.map((h) => h.stop())]);
    await Promise.all(asyncs.map((a) => a.done));

    const rounds = await c.completedRounds();
    const history = await c.created.coordinator.history(100);
    const served = new Map<number, Float32Array>();
    const tolerance = (n: number) => n / Number(maskParams(c.settings.mask).expShift);
    for (const roundId of rounds) {
      const submitted = accepted.get(roundId) ?? [];
      const summary = history.find((r) => r.roundId === roundId);
      expect(submitted).toHaveLength(summary?.participants.update ?? -1);
      expect(submitted.length).toBeGreaterThanOrEqual(3);
      const global = (await c.models.get(roundId))?.model ?? new Float64Array(0);
      expect(global).toHaveLength(MODEL_LENGTH);
      let total = 0;
      const reference = new Float64Array(MODEL_LENGTH);
      for (const { model, scalar } of submitted) {
        total += scalar;
        for (let k = 0; k < MODEL_LENGTH; k++) reference[k] = (reference[k] as number) + scalar * (model[k] as number);
      }
      let worst = 0;
      for (let k = 0; k < MODEL_LENGTH; k++) {
        worst = Math.max(worst, Math.abs((global[k] as number) - (reference[k] as number) / total));
      }
      expect(worst).toBeLessThanOrEqual(tolerance(submitted.length));
      served.set(roundId, Float32Array.from(global)); // participants download the config's f32
    }
    // both kinds of participant had updates in the aggregates
    const all = [...accepted.values()].flat();
    expect(all.length).toBeGreaterThan(3 * 3);

    const roundOf = (model: Float32Array): number | undefined =>
      [...served].find(([, m]) => m.length === model.length && m.every((w, k) => w === model[k]))?.[0];
    for (const trainer of trainers) {
      // trainRound's input: null before the first global model, then the latest one
      for (const input of trainer.inputs) if (input !== null) expect(roundOf(input)).toBeDefined();
      // onNewGlobalModel: once per new global model, in order
      const seen = trainer.newModels.map(roundOf);
      expect(seen.every((r) => r !== undefined)).toBe(true);
      expect([...seen].sort((a, b) => (a as number) - (b as number))).toEqual(seen);
      expect(new Set(seen).size).toBe(seen.length);
      expect(trainer.stops).toBe(1);
    }
    expect(trainers.some((t) => t.inputs.some((input) => input !== null))).toBe(true);
    for (const { received } of asyncs) for (const model of received) expect(roundOf(model)).toBeDefined();
    expect(asyncs.some(({ received }) => received.length > 0)).toBe(true);

    // every state can be restored, and nothing works after stop()
    for (const bytes of states) expect(deserializeState(bytes).v).toBe(STATE_VERSION);
    const first = asyncs[0]?.participant as AsyncParticipant;
    expect(() => first.setLocalModel(new Float32Array(MODEL_LENGTH))).toThrow(UninitializedParticipantError);
    await expect(first.getGlobalModel()).rejects.toThrow(UninitializedParticipantError);
    await expect(handles[0]?.stop()).rejects.toThrow(UninitializedParticipantError);
  }, 60_000);
});

describe('the public API: restore and start-up errors', () => {
  it('spawnAsyncParticipant with the state from stop(): the same participant, round and phase', async () => {
    const c = await startCoordinator(); // nobody is selected for sum: round 1 stays in its sum phase
    running.push(c);
    const options = { fetch: c.fetch, pollMs: 10, logLevel: 'silent', store: new MemoryStateStore() } as const;
    const { participant } = await spawnAsyncParticipant(c.url, options);
    await waitFor(() => participant.getSnapshot().phase === 'update');
    const before = participant.getSnapshot();
    const state = await participant.stop();

    const again = await spawnAsyncParticipant(c.url, { ...options, state });
    expect(again.participant.getSnapshot()).toMatchObject({
      participantPk: before.participantPk,
      roundId: before.roundId,
      phase: before.phase,
    });
    // a ParticipantABC can take the same state over
    const trainer = new Trainer(0);
    const handle = await spawnParticipant(c.url, trainer, { ...options, state: await again.participant.stop() });
    expect(handle.getSnapshot()).toMatchObject({ participantPk: before.participantPk, roundId: 1, phase: 'update' });
    await handle.stop();
  });

  it('an unreachable coordinator URL is a ParticipantInitError', async () => {
    const options = { logLevel: 'silent', store: new MemoryStateStore() } as const;
    await expect(spawnParticipant('http://127.0.0.1:9', new Trainer(0), options)).rejects.toThrow(ParticipantInitError);
    await expect(spawnAsyncParticipant('not a url', options)).rejects.toThrow(ParticipantInitError);
  });
});
