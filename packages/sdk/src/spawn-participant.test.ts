/**
 * ParticipantABC's driver against a FakeRuntime (the RuntimeFactory port):
 * when the app's methods are called, with what, and what happens when they
 * throw or return a bad model. The federation test
 * (participants.simulation.test.ts) runs the same code against a real
 * coordinator.
 */

import { describe, expect, it } from 'vitest';
import {
  GlobalModelUnavailableError,
  LocalModelDataTypeMismatchError,
  LocalModelLengthMismatchError,
  ParticipantInitError,
  UninitializedParticipantError,
} from './errors.ts';
import { ParticipantABC } from './participant-abc.ts';
import { spawnParticipantWith } from './spawn-participant.ts';
import { FakeRuntime } from './test-support/fake-runtime.ts';

/** A participant whose every method is a recorded, replaceable function. */
class Recording extends ParticipantABC<number[], number[]> {
  readonly calls: string[] = [];
  readonly inputs: (number[] | null)[] = [];
  readonly newModels: (number[] | null)[] = [];
  participate: () => boolean | Promise<boolean> = () => true;
  train: (input: number[] | null) => number[] | Promise<number[]> = (input) =>
    (input ?? [0, 0, 0, 0]).map((w) => w + 1);
  serialize: (result: number[]) => ArrayLike<number> = (result) => result;
  deserialize: (model: Float32Array | Float64Array) => number[] = (model) => Array.from(model);
  newModel: (model: number[] | null) => void = () => {};
  stopped: () => void = () => {};

  override participateInUpdateTask(): boolean | Promise<boolean> {
    this.calls.push('participateInUpdateTask');
    return this.participate();
  }
  trainRound(input: number[] | null): number[] | Promise<number[]> {
    this.calls.push('trainRound');
    this.inputs.push(input);
    return this.train(input);
  }
  serializeTrainingResult(result: number[]): ArrayLike<number> {
    this.calls.push('serializeTrainingResult');
    return this.serialize(result);
  }
  deserializeTrainingInput(model: Float32Array | Float64Array): number[] {
    this.calls.push('deserializeTrainingInput');
    return this.deserialize(model);
  }
  override onNewGlobalModel(model: number[] | null): void {
    this.calls.push('onNewGlobalModel');
    this.newModels.push(model);
    this.newModel(model);
  }
  override onStop(): void {
    this.calls.push('onStop');
    this.stopped();
  }
}

async function spawned(participant = new Recording()) {
  const runtime = new FakeRuntime();
  const handle = await spawnParticipantWith(runtime.factory, 'http://c.test', participant);
  return { runtime, handle, participant };
}

const codes = (runtime: FakeRuntime) =>
  runtime.reported.map(({ error, context }) => [
    (error as { code?: string }).code ?? (error as Error).message,
    context?.callback,
  ]);

describe('spawnParticipant (ParticipantABC)', () => {
  it('trains only for an update task, once the app agrees, and hands over the checked result once', async () => {
    const { runtime, participant } = await spawned();
    runtime.enter(1, 'sum');
    runtime.enter(1, 'sum2');
    expect(participant.calls).toEqual([]);

    runtime.enter(2, 'update'); // training starts as soon as the task is known
    const model = await runtime.localModelOf(2);
    expect(participant.calls).toEqual(['participateInUpdateTask', 'trainRound', 'serializeTrainingResult']);
    expect(participant.inputs).toEqual([null]); // no global model yet
    expect(model).toBeInstanceOf(Float64Array);
    expect(Array.from(model as Float64Array)).toEqual([1, 1, 1, 1]);
    expect(runtime.trainingFlags).toEqual([true, false]);
    expect(runtime.wakes).toBe(1);
    expect(await runtime.callbacks.localModel(2, runtime)).toBeNull(); // handed over once
    expect(runtime.reported).toEqual([]);
  });

  it('participateInUpdateTask() false sits the round out without training', async () => {
    const participant = new Recording();
    participant.participate = async () => false;
    const { runtime } = await spawned(participant);
    runtime.enter(1, 'update');
    expect(await runtime.localModelOf(1)).toBeNull();
    expect(participant.calls).toEqual(['participateInUpdateTask']);
    expect(runtime.trainingFlags).toEqual([]);
  });

  it('the input is the latest global model, deserialized once; onNewGlobalModel hears of each new one', async () => {
    const { runtime, participant } = await spawned();
    const global = { roundId: 3, model: Float32Array.of(0.5, 1, 1.5, 2) };
    runtime.global = global;
    runtime.callbacks.onGlobalModel(global, runtime);
    expect(participant.newModels).toEqual([[0.5, 1, 1.5, 2]]);
    runtime.enter(4, 'update');
    expect(Array.from((await runtime.localModelOf(4)) as Float64Array)).toEqual([1.5, 2, 2.5, 3]);
    expect(participant.inputs).toEqual([[0.5, 1, 1.5, 2]]);
    expect(participant.calls.filter((c) => c === 'deserializeTrainingInput')).toHaveLength(1);

    // a restored participant was never handed the model: it is fetched and deserialized for training
    const fresh = await spawned();
    fresh.runtime.global = { roundId: 9, model: Float32Array.of(1, 2, 3, 4) };
    fresh.runtime.enter(10, 'update');
    await fresh.runtime.localModelOf(10);
    expect(fresh.participant.inputs).toEqual([[1, 2, 3, 4]]);
    expect(fresh.participant.newModels).toEqual([]);
  });

  it('a result of the wrong length or with non-finite values is reported and not sent', async () => {
    const participant = new Recording();
    const results: ArrayLike<number>[] = [[1, 2, 3], [1, Number.NaN, 3, 4], ['1', 2, 3, 4] as never, [1, 2, 3, 4]];
    participant.serialize = () => results.shift() ?? [];
    const { runtime } = await spawned(participant);
    for (const roundId of [1, 2, 3]) {
      runtime.enter(roundId, 'update');
      expect(await runtime.localModelOf(roundId)).toBeNull();
    }
    expect(runtime.reported.map((r) => r.error)).toEqual([
      expect.any(LocalModelLengthMismatchError),
      expect.any(LocalModelDataTypeMismatchError),
      expect.any(LocalModelDataTypeMismatchError),
    ]);
    expect((runtime.reported[0]?.error as Error | undefined)?.message).toBe(
      "serializeTrainingResult result: expected 4 weights (the round's modelLength), got 3",
    );
    expect((runtime.reported[1]?.error as Error | undefined)?.message).toBe(
      'serializeTrainingResult result[1]: expected a finite number, got number NaN',
    );
    expect(runtime.reported.map((r) => r.context?.roundId)).toEqual([1, 2, 3]);
    runtime.enter(4, 'update'); // and it carries on
    expect(Array.from((await runtime.localModelOf(4)) as Float64Array)).toEqual([1, 2, 3, 4]);
  });

  it('every method that throws is reported with its name and the participant carries on', async () => {
    const participant = new Recording();
    const failOnce = <A extends unknown[], R>(name: string, ok: (...args: A) => R) => {
      let failed = false;
      return (...args: A): R => {
        if (!failed) {
          failed = true;
          throw new Error(`${name} broke`);
        }
        return ok(...args);
      };
    };
    participant.participate = failOnce('participate', () => true);
    participant.train = failOnce('train', (input) => (input ?? [0, 0, 0, 0]).map((w) => w + 1));
    participant.serialize = failOnce('serialize', (result) => result);
    participant.newModel = () => {
      throw new Error('ui broke');
    };
    participant.stopped = () => {
      throw new Error('cleanup broke');
    };
    const { runtime, handle } = await spawned(participant);
    for (const roundId of [1, 2, 3]) {
      runtime.enter(roundId, 'update');
      expect(await runtime.localModelOf(roundId)).toBeNull();
    }
    runtime.enter(4, 'update');
    expect(await runtime.localModelOf(4)).toBeInstanceOf(Float64Array);
    runtime.callbacks.onGlobalModel({ roundId: 4, model: Float32Array.of(1, 2, 3, 4) }, runtime);
    participant.deserialize = () => {
      throw new Error('wrong shape');
    };
    runtime.callbacks.onGlobalModel({ roundId: 5, model: Float32Array.of(1, 2, 3, 4) }, runtime);
    await handle.stop();
    expect(codes(runtime)).toEqual([
      ['participate broke', 'participateInUpdateTask'],
      ['train broke', 'trainRound'],
      ['serialize broke', 'serializeTrainingResult'],
      ['ui broke', 'onNewGlobalModel'],
      ['wrong shape', 'deserializeTrainingInput'],
      ['cleanup broke', 'onStop'],
    ]);
    expect(runtime.trainingFlags).toEqual([true, false, true, false, true, false]);
    expect(participant.calls.at(-1)).toBe('onStop');
  });

  it('an async trainRound that rejects is reported like a throw', async () => {
    const participant = new Recording();
    participant.train = () => Promise.reject(new Error('GPU lost'));
    const { runtime } = await spawned(participant);
    runtime.enter(1, 'update');
    expect(await runtime.localModelOf(1)).toBeNull();
    expect(codes(runtime)).toEqual([['GPU lost', 'trainRound']]);
  });

  it('a global model that cannot be fetched is reported and the round sat out', async () => {
    const { runtime, participant } = await spawned();
    runtime.global = new GlobalModelUnavailableError('GET /model: answered 503');
    runtime.enter(1, 'update');
    expect(await runtime.localModelOf(1)).toBeNull();
    expect(runtime.reported[0]?.error).toBeInstanceOf(GlobalModelUnavailableError);
    expect(participant.calls).toEqual(['participateInUpdateTask']);
  });

  it('a result that comes after its round moved on is dropped', async () => {
    const participant = new Recording();
    let release: () => void = () => {};
    participant.train = () => new Promise((resolve) => (release = () => resolve([1, 2, 3, 4])));
    const { runtime } = await spawned(participant);
    runtime.enter(1, 'update');
    await runtime.localModelOf(1, 3); // still training
    runtime.enter(2, 'awaiting');
    release();
    expect(await runtime.localModelOf(1)).toBeNull();
    expect(runtime.reported).toEqual([]);
  });

  it('onStop is called once on stop; a second stop is UninitializedParticipantError', async () => {
    const { handle, participant } = await spawned();
    await handle.stop();
    expect(participant.calls).toEqual(['onStop']);
    await expect(handle.stop()).rejects.toThrow(UninitializedParticipantError);
  });

  it('refuses something that is not a ParticipantABC', async () => {
    const runtime = new FakeRuntime();
    await expect(spawnParticipantWith(runtime.factory, 'http://c.test', {} as never)).rejects.toThrow(
      ParticipantInitError,
    );
  });
});
