/**
 * ParticipantABC's driver against a FakeRuntime (the RuntimeFactory port):
 * when the app's methods are called, with what, and what happens when they
 * throw or return a bad model. The federation test
 * (participants.simulation.test.ts) runs the same code against a real
 * coordinator.
 */

import { describe, expect, it, vi } from 'vitest';
import { startCoordinator, waitFor } from '../test-support/coordinator.ts';
import { FakeRuntime } from '../test-support/fake-runtime.ts';
import type { FetchLike } from './client/http-client.ts';
import {
  GlobalModelUnavailableError,
  LocalModelDataTypeMismatchError,
  LocalModelLengthMismatchError,
  ParticipantInitError,
  UninitializedParticipantError,
} from './errors.ts';
import { ParticipantABC } from './participant-abc.ts';
import { type ParticipantHandle, spawnParticipant, spawnParticipantWith } from './spawn-participant.ts';
import { MemoryStateStore } from './state-machine/memory-state-store.ts';

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
  override onUpdateAccepted(roundId: number): void {
    this.calls.push(`onUpdateAccepted ${roundId}`);
    this.accepted(roundId);
  }
  accepted: (roundId: number) => void = () => {};
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

  it('onUpdateAccepted once for an update whose sending ends without a new error of its round; never for a refused one', async () => {
    const { runtime, participant } = await spawned();
    const accepted = () => participant.calls.filter((c) => c.startsWith('onUpdateAccepted'));
    // round 2: sent (two chunks: two 'sending' snapshots), then awaiting: accepted
    runtime.enter(2, 'update');
    await runtime.localModelOf(2);
    runtime.enter(2, 'sending', 4, 'update');
    runtime.enter(2, 'sending', 4, 'update');
    expect(accepted()).toEqual([]);
    runtime.enter(2, 'awaiting', 4, 'update');
    runtime.enter(2, 'awaiting', 4, 'update');
    expect(accepted()).toEqual(['onUpdateAccepted 2']);

    // round 3: refused after its phase closed — the refusal is recorded, then awaiting
    runtime.enter(3, 'update');
    runtime.enter(3, 'sending', 4, 'update');
    runtime.recordError({ code: 'wrong-phase', message: 'the update phase has ended', roundId: 3 });
    runtime.enter(3, 'awaiting', 4, 'update');
    // round 4: the round moved on while sending; round 5: a sum task's Sum2 sent
    runtime.enter(4, 'update');
    runtime.enter(4, 'sending', 4, 'update');
    runtime.enter(5, 'new-round');
    runtime.enter(5, 'sending', 4, 'sum');
    runtime.enter(5, 'awaiting', 4, 'sum');
    expect(accepted()).toEqual(['onUpdateAccepted 2']);

    // round 6: an error of round 5 still shown does not make round 6's update refused
    runtime.enter(6, 'update');
    runtime.enter(6, 'sending', 4, 'update');
    runtime.recordError({ code: 'callback-failed', message: 'late', roundId: 5 });
    runtime.enter(6, 'awaiting', 4, 'update');
    expect(accepted()).toEqual(['onUpdateAccepted 2', 'onUpdateAccepted 6']);

    // a throwing onUpdateAccepted is reported, and the participant carries on
    participant.accepted = () => {
      throw new Error('boom');
    };
    runtime.enter(7, 'update');
    runtime.enter(7, 'sending', 4, 'update');
    runtime.enter(7, 'awaiting', 4, 'update');
    expect(codes(runtime).at(-1)).toEqual(['boom', 'onUpdateAccepted']);
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

/**
 * A coordinator that never starts a round: GET /params 204, no long poll (404). It records each
 * request's path and Authorization header; `status(path)` may answer otherwise.
 */
function idleCoordinator(status: (path: string, authorization: string | undefined) => number = () => 204) {
  const requests: { path: string; authorization: string | undefined }[] = [];
  const fetch: FetchLike = async (url, init) => {
    const path = new URL(url).pathname;
    const authorization = (init?.headers as Record<string, string> | undefined)?.['authorization'];
    requests.push({ path, authorization });
    const code = path === '/phase' ? 404 : status(path, authorization);
    const body = code === 401 ? JSON.stringify({ code: 'not-admitted', message: 'who are you' }) : '';
    return {
      status: code,
      text: async () => body,
      arrayBuffer: async () => new TextEncoder().encode(body).buffer as ArrayBuffer,
    };
  };
  return { fetch, requests };
}

const quiet = { logLevel: 'silent', pollMs: 5, maxPollMs: 10 } as const;

describe('spawnParticipant: onUpdateAccepted (through the real runtime and a real coordinator)', () => {
  it('is called for exactly the updates each completed round aggregated: 2 of 3 when the phase takes 2', async () => {
    // 4 participants; the update phase takes 2 updates and closes: with one sum participant, the
    // third updater's update is refused, after it trained.
    const c = await startCoordinator({
      sum: { probability: 0.3, min: 1, max: 1, maxMs: 1000 },
      update: { min: 2, max: 2, maxMs: 2000 },
      sum2: { min: 1, max: 1 },
      modelLength: 4,
    });
    const accepted = new Map<number, number>();
    const trained = new Map<number, number>();
    const handles: ParticipantHandle[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const participant = new Recording();
        participant.train = (input) => {
          const round = (c.created.coordinator.status().roundId ?? 0) as number;
          trained.set(round, (trained.get(round) ?? 0) + 1);
          return (input ?? [0, 0, 0, 0]).map((w) => w + i);
        };
        participant.accepted = (roundId) => accepted.set(roundId, (accepted.get(roundId) ?? 0) + 1);
        handles.push(
          await spawnParticipant(c.url, participant, {
            fetch: c.fetch,
            store: new MemoryStateStore(),
            logLevel: 'silent',
            pollMs: 5,
            maxPollMs: 20,
          }),
        );
      }
      let completed: number[] = [];
      await waitFor(async () => {
        completed = await c.completedRounds();
        return completed.filter((r) => (trained.get(r) ?? 0) === 3).length >= 1 && completed.length >= 2;
      }, 60_000);
      // every participant has heard of its round's end before the counts are read
      await waitFor(() => handles.every((h) => (h.getSnapshot().roundId ?? 0) > Math.max(...completed)), 20_000);
      const history = await c.created.coordinator.history(1000);
      for (const roundId of completed) {
        const aggregated = history.find((r) => r.roundId === roundId)?.participants.update;
        expect(aggregated).toBe(2);
        expect(accepted.get(roundId) ?? 0, `round ${roundId}: updates accepted`).toBe(aggregated);
      }
    } finally {
      for (const h of handles) await h.stop();
      await c.close();
    }
  }, 90_000);
});

describe('spawnParticipant: the admission token (through the real runtime and HTTP client)', () => {
  it('sends options.token as Authorization: Bearer on every request to the coordinator', async () => {
    const coordinator = idleCoordinator();
    const handle = await spawnParticipant('https://c.test', new Recording(), {
      ...quiet,
      fetch: coordinator.fetch,
      store: new MemoryStateStore(),
      token: 'participant-token',
    });
    await vi.waitFor(() => expect(coordinator.requests.length).toBeGreaterThanOrEqual(3));
    await handle.stop();
    expect(coordinator.requests.every((r) => r.authorization === 'Bearer participant-token')).toBe(true);
  });

  it('a token function is asked lazily, and again after a 401 not-admitted', async () => {
    const issued: string[] = [];
    const source = vi.fn(async () => {
      issued.push(`token-${issued.length + 1}`);
      return issued.at(-1) as string;
    });
    // The coordinator admits only the second token.
    const coordinator = idleCoordinator((_path, authorization) => (authorization === 'Bearer token-2' ? 204 : 401));
    const handle = await spawnParticipant('https://c.test', new Recording(), {
      ...quiet,
      fetch: coordinator.fetch,
      store: new MemoryStateStore(),
      token: source,
    });
    await vi.waitFor(() => expect(coordinator.requests.length).toBeGreaterThanOrEqual(4));
    await handle.stop();
    expect(coordinator.requests.slice(0, 2).map((r) => r.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
    expect(source).toHaveBeenCalledTimes(2);
  });

  it('a token function that throws is reported (onError, lastError); nothing unhandled, nothing sent', async () => {
    const coordinator = idleCoordinator();
    const errors: Error[] = [];
    let calls = 0;
    // The first token is a JWT that expires at once, so the client asks the function again.
    const token = () => {
      calls++;
      if (calls === 1) return jwtExpiringNow();
      throw new Error('the identity provider is down');
    };
    const handle = await spawnParticipant('https://c.test', new Recording(), {
      ...quiet,
      fetch: coordinator.fetch,
      store: new MemoryStateStore(),
      token,
      onError: (error) => errors.push(error),
    });
    await vi.waitFor(() => expect(handle.getSnapshot().lastError).not.toBeNull());
    await handle.stop();
    expect(handle.getSnapshot().lastError?.message).toBe(
      'options.token: the token function failed: the identity provider is down',
    );
    expect(errors.some((e) => e.message.includes('the identity provider is down'))).toBe(true);
    expect(coordinator.requests).toHaveLength(1);
  });

  it('a bad token option is a ParticipantInitError before anything is sent', async () => {
    const coordinator = idleCoordinator();
    await expect(
      spawnParticipant('https://c.test', new Recording(), { ...quiet, fetch: coordinator.fetch, token: '' }),
    ).rejects.toThrow(ParticipantInitError);
    expect(coordinator.requests).toHaveLength(0);
  });
});

describe('spawnParticipant: plain http', () => {
  it('warns once, at level warn, when the coordinator URL is http to a non-loopback host', async () => {
    const warnings: string[] = [];
    const logger = { error() {}, warn: (m: string) => warnings.push(m), info() {}, debug() {} };
    const coordinator = idleCoordinator();
    const handle = await spawnParticipant('http://10.20.30.40:8080', new Recording(), {
      pollMs: 5,
      maxPollMs: 10,
      logger,
      fetch: coordinator.fetch,
      store: new MemoryStateStore(),
      token: 'not-in-the-log',
    });
    await vi.waitFor(() => expect(coordinator.requests.length).toBeGreaterThanOrEqual(3));
    await handle.stop();
    const plain = warnings.filter((m) => m.includes('plain http'));
    expect(plain).toHaveLength(1);
    expect(plain[0]).toContain('10.20.30.40');
    expect(warnings.join('\n')).not.toContain('not-in-the-log');

    const local = await spawnParticipant('http://127.0.0.1:8080', new Recording(), {
      pollMs: 5,
      logger,
      fetch: coordinator.fetch,
      store: new MemoryStateStore(),
    });
    await local.stop();
    expect(warnings.filter((m) => m.includes('plain http'))).toHaveLength(1);
  });
});

/** A JWT whose exp is now: the client asks its token function again before each use. */
function jwtExpiringNow(): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ exp: Math.floor(Date.now() / 1000) })}.c2ln`;
}
