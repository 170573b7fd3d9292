/**
 * Worker mode end to end in Node: `spawnParticipant` / `spawnAsyncParticipant`
 * of `@petfl/sdk/worker` with the runtime behind a MessageChannel
 * (test-support/port-worker.ts: structured clone and transfer as in a
 * browser, one thread), against a real coordinator in process. The
 * coordinator's fetch and the memory store are the app's own objects here, so
 * the Worker reaches them through the main thread. The browser tests
 * (browser-test/) run the same API in a real Worker in Chromium.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { startCoordinator, type TestCoordinator, waitFor } from '../../test-support/coordinator.ts';
import { type PortWorker, portWorker } from '../../test-support/port-worker.ts';
import { spawnAsyncParticipant as spawnDirect } from '../async-participant.ts';
import type { FetchLike } from '../client/http-client.ts';
import {
  LocalModelDataTypeMismatchError,
  LocalModelLengthMismatchError,
  ParticipantInitError,
  ParticipantRestoreError,
  UninitializedParticipantError,
} from '../errors.ts';
import { handOver } from '../local-model.ts';
import { ParticipantABC } from '../participant-abc.ts';
import type { ParticipantSnapshot } from '../snapshot.ts';
import { deserializeState } from '../state-codec.ts';
import { MemoryStateStore } from '../state-machine/memory-state-store.ts';
import type { WorkerErrorEventLike, WorkerLike } from './create-worker.ts';
import { spawnAsyncParticipant, spawnParticipant } from './spawn.ts';

const LENGTH = 8;
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close().catch(() => {});
});

/**
 * Five participants, tasks drawn by chance. The phases are held open long enough (min_ms) for
 * every participant that drew a task to be accepted on a loaded machine: a sum participant
 * refused as late sits out the update phase, and with `update.min` above the updaters left the
 * round failed only after its update phase's max_ms (CI, 2026-12-04). A round with nobody
 * drawn for sum fails after 1 s.
 */
async function coordinator(): Promise<TestCoordinator> {
  const c = await startCoordinator({
    sum: { probability: 0.3, min: 1, max: 5, minMs: 300, maxMs: 1000 },
    update: { min: 2, max: 20, minMs: 500, maxMs: 5000 },
    sum2: { min: 1, max: 5, minMs: 50, maxMs: 5000 },
    modelLength: LENGTH,
  });
  cleanup.push(() => c.close());
  return c;
}

const common = { pollMs: 10, maxPollMs: 40, logLevel: 'silent' } as const;

/** A one-hot model: which participant's update a global model holds shows in its weights. */
const oneHot = (index: number): Float32Array => Float32Array.from({ length: LENGTH }, (_, i) => (i === index ? 1 : 0));

class OneHot extends ParticipantABC<Float32Array, Float32Array> {
  readonly inputs: (Float32Array | null)[] = [];
  readonly newModels: Float32Array[] = [];
  /** The results it handed over (`handOver`): moved to the Worker, not copied. */
  readonly handed: Float32Array[] = [];
  stops = 0;
  fail: Error | undefined;

  trainRound(input: Float32Array | null): Float32Array {
    this.inputs.push(input);
    if (this.fail !== undefined) throw this.fail;
    return oneHot(1);
  }
  serializeTrainingResult(result: Float32Array): ArrayLike<number> {
    this.handed.push(result);
    return handOver(result);
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

/** Direct-mode participants that send zeros whenever they update: the federation around the tested one. */
async function others(c: TestCoordinator, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const { participant } = await spawnDirect(c.url, { ...common, fetch: c.fetch, store: new MemoryStateStore() });
    cleanup.push(() => participant.stop());
    feedOnUpdate(participant, () => new Float32Array(LENGTH));
  }
}

function feedOnUpdate(
  participant: {
    subscribe(l: () => void): () => void;
    getSnapshot(): ParticipantSnapshot;
    setLocalModel(m: ArrayLike<number>): void;
  },
  model: () => ArrayLike<number>,
): void {
  let fed: number | null = null;
  participant.subscribe(() => {
    const { phase, roundId } = participant.getSnapshot();
    if (phase === 'update' && roundId !== fed) {
      fed = roundId;
      participant.setLocalModel(model());
    }
  });
}

/**
 * Waits until some completed round's global model has weight at `index` (that participant's
 * update is in): every completed round counts, not only the latest, which the next round may
 * replace between two polls.
 */
async function contributed(c: TestCoordinator, index: number): Promise<void> {
  await waitFor(async () => {
    for (const roundId of await c.completedRounds()) {
      const global = await c.models.get(roundId);
      if ((global?.model[index] ?? 0) > 0) return true;
    }
    return false;
  }, 30_000);
}

function tracked(): { worker: () => PortWorker; workers: PortWorker[] } {
  const workers: PortWorker[] = [];
  return {
    workers,
    worker: () => {
      const w = portWorker();
      workers.push(w);
      return w;
    },
  };
}

describe('Worker mode: a federation with two Worker-mode participants', () => {
  it('AsyncParticipant and ParticipantABC complete rounds; the app side runs here, results are the same', async () => {
    const c = await coordinator();
    await others(c, 3);
    const { worker, workers } = tracked();
    const store = new MemoryStateStore();

    const { participant, globalModelNotifier } = await spawnAsyncParticipant(c.url, {
      ...common,
      fetch: c.fetch,
      store,
      storeKey: 'async-in-worker',
      createWorker: worker,
    });
    // Its models are handed over: each one the Worker takes is moved there (empty here afterwards).
    const fed: Float32Array[] = [];
    feedOnUpdate(participant, () => {
      const model = handOver(oneHot(0));
      fed.push(model);
      return model;
    });

    const abc = new OneHot();
    const handle = await spawnParticipant(c.url, abc, { ...common, fetch: c.fetch, store, createWorker: worker });

    // Snapshots are mirrored: a stable object, the runtime's fields.
    const first = participant.getSnapshot();
    expect(first).toBe(participant.getSnapshot());
    expect(Object.isFrozen(first)).toBe(true);
    expect(first.participantPk).toMatch(/^[A-Za-z0-9_-]{43}$/);

    await contributed(c, 0);
    await contributed(c, 1);
    // Moved, not copied: the handed-over arrays that were sent are empty now.
    expect(fed.some((model) => model.length === 0)).toBe(true);
    expect(abc.handed.some((model) => model.length === 0)).toBe(true);
    await waitFor(() => globalModelNotifier.isSet());
    const global = await participant.getGlobalModel();
    expect(global).toBeInstanceOf(Float32Array);
    expect(global?.length).toBe(LENGTH);
    // (that getGlobalModel clears the notifier is tested in async-participant.test.ts, where no
    // round can complete in between; here rounds keep completing, so isSet() may already be true again)

    // trainRound ran here, with the deserialized global model once there was one.
    await waitFor(() => abc.inputs.some((input) => input !== null));
    expect(abc.newModels.length).toBeGreaterThan(0);

    // The local model is validated here, synchronously, against the mirrored round parameters.
    expect(() => participant.setLocalModel([1, 2])).toThrow(LocalModelLengthMismatchError);
    const bad = Array.from(oneHot(0));
    bad[1] = Number.NaN;
    expect(() => participant.setLocalModel(bad)).toThrow(LocalModelDataTypeMismatchError);

    // stop(): the serialized state of the same participant; the Worker is gone; later calls fail.
    const pk = participant.getSnapshot().participantPk;
    const bytes = await participant.stop();
    expect(participant.getSnapshot().phase).toBe('stopped');
    expect(Buffer.from(deserializeState(bytes).identity.publicKey).toString('base64url')).toBe(pk);
    expect(workers[0]?.terminated).toBe(true);
    await expect(participant.stop()).rejects.toThrow(UninitializedParticipantError);
    expect(() => participant.setLocalModel(oneHot(0))).toThrow(UninitializedParticipantError);
    await expect(participant.getGlobalModel()).rejects.toThrow(UninitializedParticipantError);
    globalModelNotifier.clear(); // a model may have come in since getGlobalModel()
    await expect(globalModelNotifier.wait()).rejects.toThrow(UninitializedParticipantError);

    await handle.stop();
    expect(abc.stops).toBe(1);
    expect(workers[1]?.terminated).toBe(true);

    // The Worker saved through the app's store (on the main thread): a restart resumes the identity.
    const restarted = await spawnAsyncParticipant(c.url, {
      ...common,
      fetch: c.fetch,
      store,
      storeKey: 'async-in-worker',
      createWorker: worker,
    });
    expect(restarted.participant.getSnapshot().participantPk).toBe(pk);
    await restarted.participant.stop();
  }, 60_000);

  it('a callback that throws reaches onError as the very error; the snapshot records it', async () => {
    const c = await coordinator();
    await others(c, 3);
    const abc = new OneHot();
    abc.fail = new RangeError('training diverged');
    const errors: Error[] = [];
    const handle = await spawnParticipant(c.url, abc, {
      ...common,
      fetch: c.fetch,
      store: new MemoryStateStore(),
      onError: (error) => errors.push(error),
      createWorker: portWorker,
    });
    cleanup.push(() => handle.stop());
    await waitFor(() => handle.getSnapshot().lastError?.code === 'callback-failed', 30_000);
    expect(handle.getSnapshot().lastError?.message).toBe('trainRound: training diverged');
    expect(errors).toContain(abc.fail);
  }, 60_000);
});

describe('Worker mode: options that stay on the main thread', () => {
  it('signal stops it, logger gets the Worker’s log lines, state restores the identity (and is not taken away)', async () => {
    const c = await coordinator();
    const { worker, workers } = tracked();
    const lines: string[] = [];
    const logger = {
      error: (m: unknown) => lines.push(`error ${String(m)}`),
      warn: (m: unknown) => lines.push(`warn ${String(m)}`),
      info: (m: unknown) => lines.push(`info ${String(m)}`),
      debug: () => {},
    };
    const controller = new AbortController();
    const first = await spawnAsyncParticipant(c.url, {
      ...common,
      logLevel: 'info',
      logger,
      fetch: c.fetch,
      store: new MemoryStateStore(),
      signal: controller.signal,
      createWorker: worker,
    });
    const pk = first.participant.getSnapshot().participantPk;
    expect(lines.some((l) => l.startsWith('info [petfl] participant') && l.includes('started'))).toBe(true);
    controller.abort();
    await waitFor(() => workers[0]?.terminated === true);
    expect(first.participant.getSnapshot().phase).toBe('stopped');
    const bytes = await first.participant.stop(); // the state of the stop the signal began
    expect(Buffer.from(deserializeState(bytes).identity.publicKey).toString('base64url')).toBe(pk);

    const restored = await spawnAsyncParticipant(c.url, {
      ...common,
      fetch: c.fetch,
      store: new MemoryStateStore(),
      state: bytes,
      createWorker: worker,
    });
    expect(restored.participant.getSnapshot().participantPk).toBe(pk);
    expect(bytes.byteLength).toBeGreaterThan(0); // the app's bytes stay usable
    await restored.participant.stop();
  });
});

/**
 * An app fetch (so the Worker reaches it through the main thread) to a coordinator that never
 * starts a round; it records each request's Authorization header. `answer` may shed load.
 */
function idleFetch(
  answer: (n: number) => { status: number; body?: string; retryAfter?: string } = () => ({ status: 204 }),
) {
  const authorizations: unknown[] = [];
  const fetch: FetchLike = async (url, init) => {
    authorizations.push((init?.headers as Record<string, string> | undefined)?.['authorization']);
    const { status, body = '', retryAfter } = url.includes('/phase') ? { status: 404 } : answer(authorizations.length);
    const bytes = new TextEncoder().encode(body);
    return {
      status,
      headers: { get: (name: string) => (name.toLowerCase() === 'retry-after' ? (retryAfter ?? null) : null) },
      text: async () => body,
      arrayBuffer: async () => bytes.buffer as ArrayBuffer,
    };
  };
  return { fetch, authorizations };
}

describe('Worker mode: the admission token and Retry-After', () => {
  it('a string token crosses to the Worker; a token function is called here, again after not-admitted', async () => {
    const { worker } = tracked();
    const fixed = idleFetch();
    const first = await spawnAsyncParticipant('https://c.test', {
      ...common,
      fetch: fixed.fetch,
      store: new MemoryStateStore(),
      token: 'string-token',
      createWorker: worker,
    });
    await waitFor(() => fixed.authorizations.length >= 3);
    await first.participant.stop();
    expect(fixed.authorizations.every((a) => a === 'Bearer string-token')).toBe(true);

    let issued = 0;
    const source = async () => `fn-token-${++issued}`;
    const notAdmitted = JSON.stringify({ code: 'not-admitted', message: 'expired' });
    const renewing = idleFetch((n) => (n === 1 ? { status: 401, body: notAdmitted } : { status: 204 }));
    const second = await spawnAsyncParticipant('https://c.test', {
      ...common,
      fetch: renewing.fetch,
      store: new MemoryStateStore(),
      token: source,
      createWorker: worker,
    });
    await waitFor(() => renewing.authorizations.length >= 3);
    await second.participant.stop();
    expect(renewing.authorizations.slice(0, 3)).toEqual([
      'Bearer fn-token-1',
      'Bearer fn-token-2',
      'Bearer fn-token-2',
    ]);
    expect(issued).toBe(2);
  });

  it('the Retry-After header of the app’s fetch reaches the Worker’s client', async () => {
    const { worker } = tracked();
    // A 429 is a refusal unless its Retry-After is honoured: the start-up GET /params would fail.
    const limited = JSON.stringify({ code: 'rate-limited', message: 'slow down' });
    const shedding = idleFetch((n) => (n === 1 ? { status: 429, body: limited, retryAfter: '0' } : { status: 204 }));
    const { participant } = await spawnAsyncParticipant('https://c.test', {
      ...common,
      fetch: shedding.fetch,
      store: new MemoryStateStore(),
      createWorker: worker,
    });
    await participant.stop();
    expect(shedding.authorizations.length).toBeGreaterThanOrEqual(2);
  });
});

describe('Worker mode: start-up errors keep their classes', () => {
  it('a bad URL or option fails before any Worker is made', async () => {
    let made = 0;
    const createWorker = (): WorkerLike => {
      made++;
      return portWorker();
    };
    await expect(spawnAsyncParticipant('not a url', { createWorker })).rejects.toThrow(ParticipantInitError);
    await expect(spawnAsyncParticipant('http://c.test', { scalar: -1, createWorker })).rejects.toThrow(
      'options.scalar',
    );
    expect(made).toBe(0);
  });

  it('the privacy options cross to the Worker: a participant over its ε limit sits out there too', async () => {
    const c = await startCoordinator({
      sum: { probability: 1e-9, min: 1, max: 3, minMs: 50, maxMs: 2000 },
      update: { min: 3, max: 20, minMs: 300, maxMs: 5000 },
      sum2: { min: 1, max: 3, minMs: 50, maxMs: 5000 },
      modelLength: LENGTH,
    });
    cleanup.push(() => c.close());
    // The round promises no privacy, so a participant with a limit must sit out every update task.
    const { participant } = await spawnAsyncParticipant(c.url, {
      ...common,
      fetch: c.fetch,
      store: new MemoryStateStore(),
      createWorker: () => portWorker(),
      privacy: { maxEpsilon: 1, delta: 1e-5 },
      privacyFilters: [{ kind: 'percentile', fraction: 0.5, bound: 1 }],
    });
    cleanup.push(() => participant.stop());
    await waitFor(() => participant.getSnapshot().lastError?.code === 'privacy-limit');
    expect(participant.getSnapshot().lastError?.message).toMatch(/promises no differential privacy/);
    // A bad filter is refused by the Worker's own check, as a ParticipantInitError naming it.
    await expect(
      spawnAsyncParticipant(c.url, {
        ...common,
        fetch: c.fetch,
        store: new MemoryStateStore(),
        createWorker: () => portWorker(),
        privacyFilters: [{ kind: 'svt', fraction: 2 } as never],
      }),
    ).rejects.toThrow(/options\.privacyFilters: .*filters\[0\]/);
  });

  it('an unreachable coordinator and a corrupt state come back from the Worker as their classes', async () => {
    const { worker, workers } = tracked();
    const down: FetchLike = async () => {
      throw new TypeError('fetch failed');
    };
    const unreachable = spawnAsyncParticipant('http://127.0.0.1:9', {
      ...common,
      fetch: down,
      store: new MemoryStateStore(),
      createWorker: worker,
    });
    await expect(unreachable).rejects.toThrow(ParticipantInitError);
    await expect(unreachable).rejects.toThrow('unreachable');

    const corrupt = spawnAsyncParticipant('http://127.0.0.1:9', {
      ...common,
      fetch: down,
      state: new Uint8Array([1, 2, 3]),
      createWorker: worker,
    });
    await expect(corrupt).rejects.toThrow(ParticipantRestoreError);
    expect(workers.every((w) => w.terminated)).toBe(true);
  });

  it('a Worker whose script fails to load is a ParticipantInitError', async () => {
    // A Worker whose script is missing: its first message is answered by an 'error' event.
    const failing = (): WorkerLike => {
      const listeners = new Set<(event: WorkerErrorEventLike) => void>();
      return {
        postMessage: () => {
          setTimeout(() => {
            for (const l of listeners) l({});
          }, 1);
        },
        addEventListener(type: string, listener: (event: never) => void) {
          if (type === 'error') listeners.add(listener as (event: WorkerErrorEventLike) => void);
        },
        removeEventListener(_type: string, listener: (event: never) => void) {
          listeners.delete(listener as (event: WorkerErrorEventLike) => void);
        },
        terminate: () => {},
      };
    };
    const spawned = spawnAsyncParticipant('http://c.test', { createWorker: failing });
    await expect(spawned).rejects.toThrow(ParticipantInitError);
    await expect(spawned).rejects.toThrow('its script did not load');
  });
});
