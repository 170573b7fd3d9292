/**
 * createParticipantRuntime against a real coordinator in process: start-up
 * checks and their named errors, the observable snapshot, restoring, the
 * store, stopping, logging and error reporting. Waits are on state
 * (`waitFor`), never fixed sleeps.
 */

import { encodeGlobalModel, encodeSumDict, initCrypto, toBase64Url } from '@petfl/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startCoordinator,
  type TestCoordinator,
  type TestCoordinatorOptions,
  waitFor,
} from '../test-support/coordinator.ts';
import type { FetchLike, ResponseLike } from './client/http-client.ts';
import {
  CryptoInitError,
  GlobalModelDataTypeMismatchError,
  GlobalModelUnavailableError,
  ParticipantInitError,
  ParticipantRestoreError,
  PetflError,
  UninitializedParticipantError,
} from './errors.ts';
import type { LoggerLike } from './logger.ts';
import type { ParticipantOptions } from './options.ts';
import { encodeFramed } from './plain-data.ts';
import { createParticipantRuntime, type ParticipantRuntime, type RuntimeCallbacks } from './runtime.ts';
import type { ParticipantSnapshot } from './snapshot.ts';
import { deserializeState, serializeState } from './state-codec.ts';
import type { StateStore } from './state-machine/io.ts';
import { MemoryStateStore } from './state-machine/memory-state-store.ts';
import { createInitialState } from './state-machine/state.ts';

const running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.close();
});

async function coordinator(options?: TestCoordinatorOptions): Promise<TestCoordinator> {
  const c = await startCoordinator(options);
  running.push(c);
  return c;
}

const idle: RuntimeCallbacks = { localModel: async () => undefined, onGlobalModel: () => {} };

async function spawn(
  c: { url: string; fetch: FetchLike },
  options: ParticipantOptions = {},
  callbacks: Partial<RuntimeCallbacks> = {},
): Promise<ParticipantRuntime> {
  const runtime = await createParticipantRuntime({
    coordinatorUrl: c.url,
    options: {
      fetch: c.fetch,
      pollMs: 10,
      maxPollMs: 40,
      logLevel: 'silent',
      store: new MemoryStateStore(),
      ...options,
    },
    callbacks: { ...idle, ...callbacks },
  });
  running.push({
    close: async () => {
      if (!runtime.stopped) await runtime.stop();
    },
  });
  return runtime;
}

/** A fetch that answers some paths itself and passes the rest on; it counts what it forwards. */
function routed(
  base: FetchLike,
  routes: Record<string, () => ResponseLike | Promise<ResponseLike>>,
): FetchLike & { paths: string[] } {
  const paths: string[] = [];
  const fetch = async (url: string, init?: Parameters<FetchLike>[1]) => {
    const path = new URL(url).pathname;
    paths.push(path);
    const route = routes[path];
    return route === undefined ? base(url, init) : route();
  };
  return Object.assign(fetch, { paths });
}

const answer = (status: number, body?: Uint8Array | string): ResponseLike =>
  new Response(status === 204 ? null : (body ?? null), { status }) as unknown as ResponseLike;

describe('createParticipantRuntime: start-up', () => {
  it('an invalid coordinator URL is a ParticipantInitError', async () => {
    for (const url of [
      '',
      'coordinator.example',
      'ftp://c.example',
      'http://',
      'https://c.example/?q=1',
      'http://a b',
    ]) {
      await expect(
        createParticipantRuntime({ coordinatorUrl: url, options: { logLevel: 'silent' }, callbacks: idle }),
      ).rejects.toThrow(ParticipantInitError);
    }
    await expect(
      createParticipantRuntime({ coordinatorUrl: 42 as unknown as string, callbacks: idle }),
    ).rejects.toThrow('coordinatorUrl: expected an http(s) URL');
  });

  it('bad options are a ParticipantInitError naming the option', async () => {
    const bad: [ParticipantOptions, string][] = [
      [{ scalar: -1 }, 'options.scalar'],
      [{ scalar: Number.NaN }, 'options.scalar'],
      [{ pollMs: 0 }, 'options.pollMs'],
      [{ maxPollMs: 1.5 }, 'options.maxPollMs'],
      [{ logLevel: 'loud' as never }, 'options.logLevel'],
      [{ storeKey: '' }, 'options.storeKey'],
      [{ state: 'saved' as never }, 'options.state'],
      [{ store: {} as StateStore }, 'options.store'],
      [{ fetch: 3 as never }, 'options.fetch'],
      [{ signal: AbortSignal.abort() }, 'options.signal: already aborted'],
    ];
    for (const [options, message] of bad) {
      const promise = createParticipantRuntime({ coordinatorUrl: 'http://c.test', options, callbacks: idle });
      await expect(promise).rejects.toThrow(ParticipantInitError);
      await expect(
        createParticipantRuntime({ coordinatorUrl: 'http://c.test', options, callbacks: idle }),
      ).rejects.toThrow(message);
    }
  });

  it('an unreachable coordinator is a ParticipantInitError after the retries; so is one that refuses', async () => {
    const refused = createParticipantRuntime({
      coordinatorUrl: 'http://127.0.0.1:9',
      options: { logLevel: 'silent', store: new MemoryStateStore() },
      callbacks: idle,
    });
    await expect(refused).rejects.toThrow(ParticipantInitError);
    await expect(refused).rejects.toThrow(
      /coordinator http:\/\/127\.0\.0\.1:9 unreachable: GET \/params: network error/,
    );

    const calls: string[] = [];
    const notFound: FetchLike = async (url) => {
      calls.push(url);
      return answer(404, '{"code":"not-found","message":"no such route"}');
    };
    const error = await createParticipantRuntime({
      coordinatorUrl: 'https://c.test/wrong/',
      options: { fetch: notFound, logLevel: 'silent', store: new MemoryStateStore() },
      callbacks: idle,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParticipantInitError);
    expect((error as PetflError).code).toBe('participant-init');
    expect(calls).toEqual(['https://c.test/wrong/params']);
  });

  it('a crypto gate that fails to open is a CryptoInitError with the cause', async () => {
    const cause = new Error('WebAssembly is disabled');
    const error = await createParticipantRuntime({
      coordinatorUrl: 'http://c.test',
      callbacks: idle,
      crypto: () => Promise.reject(cause),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CryptoInitError);
    expect(error).toMatchObject({ code: 'crypto-init', cause });
  });

  it('a truncated, corrupt, foreign or future-version state is a ParticipantRestoreError; nothing starts', async () => {
    const c = await coordinator();
    const crypto = await initCrypto();
    const good = serializeState(createInitialState(crypto));
    const future = encodeFramed('PFLS', { ...createInitialState(crypto), v: 3 });
    const flipped = good.slice();
    flipped[40] = (flipped[40] as number) ^ 0xff;
    const requests: string[] = [];
    const fetch: FetchLike = (url, init) => {
      requests.push(url);
      return c.fetch(url, init);
    };
    for (const state of [good.subarray(0, 30), flipped, new Uint8Array(64), future]) {
      await expect(spawn({ url: c.url, fetch }, { state })).rejects.toThrow(ParticipantRestoreError);
    }
    expect(requests).toEqual([]); // refused before the first request

    const store = new MemoryStateStore();
    await store.set('k', { v: 1, identity: 'not a key pair' });
    await expect(spawn(c, { store, storeKey: 'k' })).rejects.toThrow('participant state.identity: expected an object');
    await store.set('k', future);
    await expect(spawn(c, { store, storeKey: 'k' })).rejects.toThrow('written by a newer SDK');
    const failing: StateStore = {
      get: () => Promise.reject(new Error('disk on fire')),
      set: (key, value) => store.set(key, value),
      del: (key) => store.del(key),
    };
    await expect(spawn(c, { store: failing })).rejects.toThrow(
      "store.get('petfl/participant-state') failed: disk on fire",
    );
  });
});

describe('createParticipantRuntime: snapshot', () => {
  it('shows the participant’s round, phase and task, as a stable frozen object', async () => {
    const c = await coordinator(); // nobody is selected for sum: the round stays in its sum phase
    const runtime = await spawn(c);
    const first = runtime.getSnapshot();
    expect(first).toMatchObject({ phase: 'new-round', task: 'none', roundId: null, training: false, bytesSent: 0 });
    expect(first.participantPk).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await waitFor(() => runtime.getSnapshot().phase === 'update');
    const snapshot = runtime.getSnapshot();
    expect(snapshot).toEqual({ ...first, phase: 'update', task: 'update', roundId: 1 });
    expect(Object.isFrozen(snapshot)).toBe(true);
    // nothing changes while it waits for the sum dictionary: the same object every time
    await waitFor(() => runtime.getSnapshot() === snapshot);
    expect(runtime.getSnapshot()).toBe(snapshot);
    expect(runtime.round()?.roundId).toBe(1);
  });

  it('notifies subscribers once per change; unsubscribing stops it; a throwing listener changes nothing', async () => {
    const c = await coordinator({ sum: { probability: 1, min: 1, max: 1 } }); // a sum participant
    const runtime = await createParticipantRuntime({
      coordinatorUrl: c.url,
      options: { fetch: c.fetch, pollMs: 10, logLevel: 'silent', store: new MemoryStateStore() },
      callbacks: idle,
    });
    running.push({ close: async () => void (runtime.stopped || (await runtime.stop())) });
    const seen: ParticipantSnapshot[] = [];
    const unsubscribe = runtime.subscribe(() => seen.push(runtime.getSnapshot()));
    runtime.subscribe(() => {
      throw new Error('a broken UI');
    });
    await waitFor(() => runtime.getSnapshot().phase === 'sum2');
    expect(seen.length).toBeGreaterThan(0);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
    expect(seen.at(-1)).toBe(runtime.getSnapshot());
    expect(seen.map((s) => s.phase)).toContain('sending');
    expect(new Set(seen.map((s) => s.task))).toEqual(new Set(['sum']));
    unsubscribe();
    const count = seen.length;
    await runtime.stop();
    expect(seen).toHaveLength(count);
  });

  it('counts the request bytes sent', async () => {
    const c = await coordinator({ sum: { probability: 1, min: 1, max: 1 } });
    let posted = 0;
    const fetch: FetchLike = (url, init) => {
      if (init?.body instanceof Uint8Array) posted += init.body.byteLength;
      return c.fetch(url, init);
    };
    const runtime = await spawn({ url: c.url, fetch });
    await waitFor(() => runtime.getSnapshot().phase === 'sum2');
    // one sealed Sum message: header 136 + payload 96 + seal overhead 48 (protocol.md §3.2–3.3)
    expect(posted).toBe(136 + 96 + 48);
    expect(runtime.getSnapshot().bytesSent).toBe(posted);
  });
});

describe('createParticipantRuntime: stop and restore', () => {
  it('stop() ends the loop, saves, and returns the state; later calls are UninitializedParticipantError', async () => {
    const c = await coordinator();
    const store = new MemoryStateStore();
    const stops: string[] = [];
    const runtime = await spawn(c, { store }, { onStop: (r) => stops.push(r.getSnapshot().phase) });
    await waitFor(() => runtime.getSnapshot().phase === 'update');
    const { participantPk } = runtime.getSnapshot();
    const bytes = await runtime.stop();
    const state = deserializeState(bytes);
    expect(toBase64Url(state.identity.publicKey)).toBe(participantPk);
    expect(state).toMatchObject({ round: { roundId: 1 }, phase: { kind: 'update' } });
    expect(await store.get('petfl/participant-state')).toStrictEqual(state);
    expect(runtime.getSnapshot()).toMatchObject({ phase: 'stopped', participantPk });
    expect(runtime.stopped).toBe(true);
    expect(stops).toEqual(['stopped']);
    await expect(runtime.stop()).rejects.toThrow(UninitializedParticipantError);
    await expect(runtime.globalModel()).rejects.toThrow(UninitializedParticipantError);
  });

  it('spawned again with the stopped state: the same participant, in the same round and phase', async () => {
    const c = await coordinator();
    const first = await spawn(c);
    await waitFor(() => first.getSnapshot().phase === 'update');
    const before = first.getSnapshot();
    const state = await first.stop();

    const fetch = routed(c.fetch, {});
    const again = await spawn({ url: c.url, fetch }, { state });
    expect(again.getSnapshot()).toMatchObject({
      participantPk: before.participantPk,
      roundId: 1,
      phase: 'update',
      task: 'update',
    });
    // after a few polls it is still there: the same round, not a new participant in a new round
    await waitFor(() => fetch.paths.filter((p) => p === '/sums').length >= 3);
    expect(again.getSnapshot()).toMatchObject({ participantPk: before.participantPk, roundId: 1, phase: 'update' });
  });

  it('resumes from the store under the same storeKey; another key is another participant', async () => {
    const c = await coordinator();
    const store = new MemoryStateStore();
    const first = await spawn(c, { store, storeKey: 'alice' });
    await waitFor(() => first.getSnapshot().phase === 'update');
    const alice = first.getSnapshot().participantPk;
    await first.stop();

    const resumed = await spawn(c, { store, storeKey: 'alice', scalar: 4 });
    expect(resumed.getSnapshot()).toMatchObject({ participantPk: alice, roundId: 1, phase: 'update' });
    const other = await spawn(c, { store, storeKey: 'bob' });
    expect(other.getSnapshot().participantPk).not.toBe(alice);
    // the scalar option replaces the saved one
    expect(deserializeState(await resumed.stop()).scalar).toBe(4);
    // the store may also hold serializeState bytes
    await store.set('carol', serializeState(createInitialState(await initCrypto(), { scalar: 2 })));
    const carol = await spawn(c, { store, storeKey: 'carol' });
    expect(deserializeState(await carol.stop()).scalar).toBe(2);
  });

  it('aborting options.signal stops the participant as stop() does', async () => {
    const c = await coordinator();
    const controller = new AbortController();
    const store = new MemoryStateStore();
    let stopped = 0;
    const runtime = await spawn(c, { store, signal: controller.signal }, { onStop: () => stopped++ });
    await waitFor(() => runtime.getSnapshot().phase === 'update');
    controller.abort();
    await waitFor(() => runtime.getSnapshot().phase === 'stopped' && stopped === 1);
    expect(runtime.stopped).toBe(true);
    // the app never called stop(): it can still collect the state once
    const state = deserializeState(await runtime.stop());
    expect(toBase64Url(state.identity.publicKey)).toBe(runtime.getSnapshot().participantPk);
    expect(await store.get('petfl/participant-state')).toStrictEqual(state);
    await expect(runtime.stop()).rejects.toThrow(UninitializedParticipantError);
  });
});

describe('createParticipantRuntime: errors and models', () => {
  it('a throwing localModel is reported (snapshot, onError with the original error) and the round is sat out', async () => {
    const c = await coordinator();
    // the sum phase never ends here: the participant is shown an empty sum dictionary instead
    const fetch = routed(c.fetch, { '/sums': () => answer(200, encodeSumDict(new Map())) });
    const errors: Error[] = [];
    const boom = new Error('out of memory');
    const runtime = await spawn(
      { url: c.url, fetch },
      {
        onError: (e) => {
          errors.push(e);
          throw new Error('a broken error handler');
        },
      },
      {
        localModel: async () => {
          throw boom;
        },
      },
    );
    await waitFor(() => runtime.getSnapshot().phase === 'awaiting');
    expect(runtime.getSnapshot()).toMatchObject({
      task: 'update',
      roundId: 1,
      lastError: { code: 'callback-failed', message: 'localModel: out of memory', roundId: 1 },
    });
    expect(errors).toEqual([boom]);
  });

  it('round errors from the engine reach onError as PetflErrors with their code', async () => {
    const c = await coordinator();
    // A sum dictionary before the sum phase ended, and no GET /phase (a coordinator without long
    // polls), so the SDK cannot see that the phase is wrong and sends the update…
    const fetch = routed(c.fetch, {
      '/sums': () => answer(200, encodeSumDict(new Map())),
      '/phase': () => answer(404),
    });
    const errors: Error[] = [];
    const runtime = await spawn(
      { url: c.url, fetch },
      { onError: (e) => errors.push(e) },
      { localModel: async () => new Float32Array(8) },
    );
    // …and the real coordinator, still in its sum phase, refuses it
    await waitFor(() => errors.length > 0);
    expect(errors[0]).toBeInstanceOf(PetflError);
    expect(errors[0]).toMatchObject({ code: 'wrong-phase' });
    expect(runtime.getSnapshot().lastError).toMatchObject({ code: 'wrong-phase', roundId: 1 });
  });

  it('a sum dictionary holding an all-zero ephemeral key: lastError invalid-key, the update is tried once, no endless retry', async () => {
    const c = await coordinator();
    // A hostile sum dictionary (protocol.md §5.1): one sum participant "announced" the all-zero key.
    const hostile = new Map([[toBase64Url(new Uint8Array(32).fill(3)), new Uint8Array(32)]]);
    // No GET /phase (a coordinator without long polls): the SDK cannot see the sum phase is still on.
    const fetch = routed(c.fetch, {
      '/sums': () => answer(200, encodeSumDict(hostile)),
      '/phase': () => answer(404),
    });
    const errors: Error[] = [];
    let asked = 0;
    const runtime = await spawn(
      { url: c.url, fetch },
      { onError: (e) => errors.push(e) },
      {
        localModel: async () => {
          asked++;
          return new Float32Array(8);
        },
      },
    );
    await waitFor(() => runtime.getSnapshot().lastError !== null);
    expect(runtime.getSnapshot()).toMatchObject({
      phase: 'awaiting',
      task: 'update',
      roundId: 1,
      lastError: { code: 'invalid-key', roundId: 1 },
    });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(PetflError);
    expect(errors[0]).toMatchObject({ code: 'invalid-key' });
    expect(errors[0]?.message).toMatch(
      /^ephemeral key of [A-Za-z0-9_-]{43}: expected an X25519 public key, got a small-order point/,
    );
    // it goes on polling for the next round, and never masks or seals this round's update again
    const polls = fetch.paths.filter((p) => p === '/params').length;
    await waitFor(() => fetch.paths.filter((p) => p === '/params').length >= polls + 5);
    expect(asked).toBe(1);
    expect(fetch.paths.filter((p) => p === '/sums')).toHaveLength(1);
    expect(fetch.paths).not.toContain('/message');
    expect(runtime.getSnapshot().phase).toBe('awaiting');
  });

  it('a global model of another value type than the config’s is a GlobalModelDataTypeMismatchError, not delivered', async () => {
    const c = await coordinator(); // data = f32
    const f64 = encodeGlobalModel({ roundId: 0, model: new Float64Array(8).fill(0.25) });
    const fetch = routed(c.fetch, { '/model': () => answer(200, f64) });
    const delivered: unknown[] = [];
    const errors: Error[] = [];
    const runtime = await spawn(
      { url: c.url, fetch },
      { onError: (e) => errors.push(e) },
      { onGlobalModel: (g) => delivered.push(g) },
    );
    await waitFor(() => errors.length > 0);
    expect(errors[0]).toBeInstanceOf(GlobalModelDataTypeMismatchError);
    expect(errors[0]?.message).toBe('global model of round 0: expected f32 values (mask config data = f32), got f64');
    expect(runtime.getSnapshot().lastError).toMatchObject({ code: 'global-model-data-type-mismatch', roundId: 0 });
    expect(delivered).toEqual([]);
    await expect(runtime.globalModel()).rejects.toThrow(GlobalModelDataTypeMismatchError);
  });

  it('a new global model is delivered once and kept: globalModel() does not fetch it again', async () => {
    const c = await coordinator();
    const f32 = encodeGlobalModel({ roundId: 0, model: new Float32Array(8).fill(0.5) });
    const fetch = routed(c.fetch, { '/model': () => answer(200, f32) });
    const delivered: number[] = [];
    const runtime = await spawn({ url: c.url, fetch }, {}, { onGlobalModel: (g) => delivered.push(g.roundId) });
    await waitFor(() => runtime.getSnapshot().phase === 'update');
    expect(delivered).toEqual([0]);
    const fetched = fetch.paths.filter((p) => p === '/model').length;
    expect(Array.from((await runtime.globalModel())?.model ?? [])).toEqual(Array(8).fill(0.5));
    expect(fetch.paths.filter((p) => p === '/model').length).toBe(fetched);
  });

  it('globalModel(): undefined while none exists, GlobalModelUnavailableError when fetching fails', async () => {
    const c = await coordinator();
    const runtime = await spawn(c);
    expect(await runtime.globalModel()).toBeUndefined();
    const failing = routed(c.fetch, { '/model': () => answer(404, '{"code":"not-found","message":"gone"}') });
    const other = await spawn({ url: c.url, fetch: failing });
    const error = await other.globalModel().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GlobalModelUnavailableError);
    expect((error as Error).message).toMatch(/^GET \/model: GET \/model: rejected with 404 not-found/);
  });

  it('logs progress at the chosen level, never keys or seeds', async () => {
    const c = await coordinator({ sum: { probability: 1, min: 1, max: 1 } });
    const lines: string[] = [];
    const logger: LoggerLike = {
      error: (m) => lines.push(`error ${String(m)}`),
      warn: (m) => lines.push(`warn ${m}`),
      info: (m) => lines.push(`info ${m}`),
      debug: (m) => lines.push(`debug ${m}`),
    };
    const store = new MemoryStateStore();
    const runtime = await spawn(c, { logLevel: 'debug', logger, store });
    await waitFor(() => runtime.getSnapshot().phase === 'sum2');
    const state = deserializeState(await runtime.stop());
    const pk = runtime.getSnapshot().participantPk;
    expect(lines).toContain(`info [petfl] participant ${pk} started (coordinator http://petfl.test)`);
    expect(lines).toContain('debug [petfl] round 1: sum2');
    expect(lines).toContain(`info [petfl] participant ${pk} stopped`);
    const secrets = [state.identity.secretKey, state.identity.secretKey.subarray(0, 32), state.round?.seed];
    const phase = state.phase;
    if (phase.kind === 'sum2') secrets.push(phase.ephemeral.secretKey);
    const text = lines.join('\n');
    for (const secret of secrets) {
      if (secret === undefined) continue;
      expect(text).not.toContain(toBase64Url(secret));
      expect(text).not.toContain(Buffer.from(secret).toString('hex'));
      expect(text).not.toContain(Buffer.from(secret).toString('base64'));
    }

    const quiet: string[] = [];
    const silent = await spawn(c, {
      logLevel: 'silent',
      logger: { ...logger, info: (m) => quiet.push(String(m)), debug: (m) => quiet.push(String(m)) },
    });
    await silent.stop();
    expect(quiet).toEqual([]);
  });
});
