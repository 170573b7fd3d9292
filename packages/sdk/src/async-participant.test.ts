/**
 * AsyncParticipant against a FakeRuntime (the RuntimeFactory port): the
 * local model cache, its validation, the global model and its notifier.
 */

import { describe, expect, it } from 'vitest';
import { FakeRuntime } from '../test-support/fake-runtime.ts';
import { spawnAsyncParticipantWith } from './async-participant.ts';
import {
  GlobalModelUnavailableError,
  LocalModelDataTypeMismatchError,
  LocalModelLengthMismatchError,
  UninitializedParticipantError,
} from './errors.ts';

async function spawned() {
  const runtime = new FakeRuntime();
  const { participant, globalModelNotifier } = await spawnAsyncParticipantWith(runtime.factory, 'http://c.test');
  return { runtime, participant, notifier: globalModelNotifier };
}

describe('spawnAsyncParticipant: the local model', () => {
  it('before the round parameters are known only element types are checked (synchronously)', async () => {
    const { runtime, participant } = await spawned();
    expect(() => participant.setLocalModel([1, Number.NaN])).toThrow(LocalModelDataTypeMismatchError);
    expect(() => participant.setLocalModel([1, Number.NEGATIVE_INFINITY])).toThrow('local model[1]');
    expect(() => participant.setLocalModel(['1', 2] as never)).toThrow(LocalModelDataTypeMismatchError);
    expect(() => participant.setLocalModel({} as never)).toThrow('local model: expected an array of numbers');
    expect(() => participant.setLocalModel([1, 2, 3])).not.toThrow(); // any length
    expect(runtime.wakes).toBe(1);
  });

  it('once they are known the length must be the round’s modelLength', async () => {
    const { runtime, participant } = await spawned();
    runtime.enter(1, 'update', 4);
    expect(() => participant.setLocalModel([1, 2, 3])).toThrow(LocalModelLengthMismatchError);
    expect(() => participant.setLocalModel(new Float32Array(5))).toThrow(
      "local model: expected 4 weights (the round's modelLength), got 5",
    );
    participant.setLocalModel(new Float32Array(4));
  });

  it('latest wins, the cache empties once used, and an empty cache makes the update wait', async () => {
    const { runtime, participant } = await spawned();
    runtime.enter(1, 'update', 3);
    expect(await runtime.callbacks.localModel(1, runtime)).toBeUndefined(); // waits
    const mine = [0.1, 0.2, 0.3];
    participant.setLocalModel(mine);
    participant.setLocalModel([0.4, 0.5, 0.6]);
    mine[0] = 9; // the app may reuse its buffer: the cache holds a copy
    const used = await runtime.callbacks.localModel(1, runtime);
    expect(Array.from(used as Float64Array)).toEqual([0.4, 0.5, 0.6]);
    expect(await runtime.callbacks.localModel(1, runtime)).toBeUndefined();
  });

  it('a model set before the round was known, of the wrong length, is reported and dropped', async () => {
    const { runtime, participant } = await spawned();
    participant.setLocalModel([1, 2]);
    runtime.enter(1, 'update', 3);
    expect(await runtime.callbacks.localModel(1, runtime)).toBeUndefined();
    expect(runtime.reported[0]?.error).toBeInstanceOf(LocalModelLengthMismatchError);
    expect(runtime.reported[0]?.context).toEqual({ roundId: 1 });
    participant.setLocalModel([1, 2, 3]);
    expect(Array.from((await runtime.callbacks.localModel(1, runtime)) as Float64Array)).toEqual([1, 2, 3]);
  });
});

describe('spawnAsyncParticipant: the global model', () => {
  it('getGlobalModel(): null while there is none, else a copy; it clears the notifier', async () => {
    const { runtime, participant, notifier } = await spawned();
    expect(await participant.getGlobalModel()).toBeNull();
    const global = { roundId: 2, model: Float32Array.of(1, 2) };
    runtime.global = global;
    expect(notifier.isSet()).toBe(false);
    runtime.callbacks.onGlobalModel(global, runtime);
    expect(notifier.isSet()).toBe(true);
    const model = await participant.getGlobalModel();
    expect(model).toBeInstanceOf(Float32Array);
    expect(model).toEqual(Float32Array.of(1, 2));
    expect(model).not.toBe(global.model);
    expect(notifier.isSet()).toBe(false);
  });

  it('GlobalModelUnavailableError when it cannot be fetched', async () => {
    const { runtime, participant } = await spawned();
    runtime.global = new GlobalModelUnavailableError('GET /model: network error');
    await expect(participant.getGlobalModel()).rejects.toThrow(GlobalModelUnavailableError);
  });

  it('the notifier: wait() resolves when set, rejects on abort, and on stop', async () => {
    const { runtime, participant, notifier } = await spawned();
    const waited = notifier.wait();
    runtime.callbacks.onGlobalModel({ roundId: 1, model: Float32Array.of(1) }, runtime);
    await expect(waited).resolves.toBeUndefined();
    await expect(notifier.wait()).resolves.toBeUndefined(); // still set
    notifier.clear();
    expect(notifier.isSet()).toBe(false);

    const controller = new AbortController();
    const aborted = notifier.wait(controller.signal);
    controller.abort(new Error('page hidden'));
    await expect(aborted).rejects.toThrow('page hidden');
    await expect(notifier.wait(controller.signal)).rejects.toThrow('page hidden');

    const pending = notifier.wait();
    await participant.stop();
    await expect(pending).rejects.toThrow(UninitializedParticipantError);
    await expect(notifier.wait()).rejects.toThrow(UninitializedParticipantError);
  });

  it('after stop() every call is an UninitializedParticipantError', async () => {
    const { participant } = await spawned();
    await participant.stop();
    expect(() => participant.setLocalModel([1])).toThrow(UninitializedParticipantError);
    await expect(participant.getGlobalModel()).rejects.toThrow(UninitializedParticipantError);
    await expect(participant.stop()).rejects.toThrow(UninitializedParticipantError);
    expect(participant.getSnapshot().participantPk).toHaveLength(43); // observers keep working
  });
});
