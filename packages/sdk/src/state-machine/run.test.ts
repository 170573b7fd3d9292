/**
 * The tick loop (architecture.md §5.1, §7.4): saving after every complete step, polling with
 * backoff while pending, carrying on past anything the app injects that throws, and stopping on
 * abort. Time is a ManualClock: the tests wait on the loop reaching its next sleep, never on time.
 */

import { initCrypto, type PetCrypto, privacyRoundSeed, toBase64Url } from '@petfl/core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeCoordinator } from '../../test-support/fake-coordinator.ts';
import { ManualClock } from '../../test-support/manual-clock.ts';
import type { AbortSignalLike, StateStore, StepIo } from './io.ts';
import { MemoryStateStore } from './memory-state-store.ts';
import { DEFAULT_STORE_KEY, MAX_STEP_ATTEMPTS, type RunParticipantOptions, runParticipant } from './run.ts';
import { createInitialState, type ParticipantState } from './state.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

interface Running {
  clock: ManualClock;
  controller: AbortController;
  states: ParticipantState[];
  done: Promise<ParticipantState>;
}

/** A store over `memory` that writes through `set` (which may delay, fail or record). */
function storeOver(memory: MemoryStateStore, set: StateStore['set']): StateStore {
  return { get: (key) => memory.get(key), set, del: (key) => memory.del(key) };
}

function start(io: StepIo, options: Partial<RunParticipantOptions> = {}): Running {
  const clock = new ManualClock();
  const controller = new AbortController();
  const states: ParticipantState[] = [];
  const done = runParticipant({
    state: createInitialState(crypto),
    io,
    clock,
    signal: controller.signal,
    onState: (s) => states.push(s),
    ...options,
  });
  return { clock, controller, states, done };
}

/** Lets the loop past its current sleep and waits until it sleeps again (it did all it could). */
async function tick(running: Running): Promise<void> {
  running.clock.advance(60_000);
  await running.clock.untilSleeping();
}

describe('runParticipant', () => {
  it('saves and reports the state after every complete step; abort stops it with the last state', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound();
    const memory = new MemoryStateStore();
    const saved: string[] = [];
    const store: StateStore = {
      get: (key) => memory.get(key),
      set: async (key, value) => {
        const what = value instanceof Uint8Array ? `${value.length} bytes` : (value as ParticipantState).phase.kind;
        saved.push(`${key}: ${what}`);
        await memory.set(key, value);
      },
      del: async (key) => {
        saved.push(`${key}: deleted`);
        await memory.del(key);
      },
    };
    const running = start({ crypto, client: coordinator, localModel: () => undefined }, { store });
    await running.clock.untilSleeping(); // sum2: waiting for the seed dictionary

    // The Sum payload (96 bytes, protocol.md §3.3) is saved apart, before the record naming it,
    // and deleted once the state left the sending phase (state-saver.ts).
    expect(saved).toEqual([
      `${DEFAULT_STORE_KEY}: sum`,
      `${DEFAULT_STORE_KEY}/payload: deleted`, // whatever an earlier run left
      `${DEFAULT_STORE_KEY}/payload: 96 bytes`,
      `${DEFAULT_STORE_KEY}: sending`,
      `${DEFAULT_STORE_KEY}: sum2`,
      `${DEFAULT_STORE_KEY}/payload: deleted`,
    ]);
    expect(running.states.map((s) => s.phase.kind)).toEqual(['sum', 'sending', 'sum2']);
    expect(await memory.get(DEFAULT_STORE_KEY)).toStrictEqual(running.states.at(-1));

    running.controller.abort();
    expect(await running.done).toBe(running.states.at(-1));
    expect(running.clock.sleeping).toBe(0);
  });

  it('steps run back to back read /params once: a Sum2 of 4 chunks and the awaiting after it ask it once', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ modelLength: 40 });
    const running = start({ crypto, client: coordinator, localModel: () => undefined, maxChunkData: 100 });
    await running.clock.untilSleeping(); // sum2: waiting for the seed dictionary
    coordinator.publishSums();
    coordinator.publishSeeds();
    const params = coordinator.calls.params;
    await tick(running);
    expect(running.states.map((s) => s.phase.kind).slice(-5)).toEqual([
      'sending',
      'sending',
      'sending',
      'sending',
      'awaiting',
    ]);
    expect(coordinator.posts.filter((x) => x.tag === 'sum2').map((x) => x.chunkIndex)).toEqual([0, 1, 2, 3]);
    // sum2 (after the wait: read); the 4 chunks and the awaiting step, each right after a completed step: not
    expect(coordinator.calls.params - params).toBe(1);
    running.controller.abort();
    await running.done;
  });

  it("a chunk's progress record is written while the next chunk is posted; the store always ends on the newest state", async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ modelLength: 40 });
    const memory = new MemoryStateStore();
    const events: string[] = [];
    const nextOf = (value: unknown) => {
      const phase = (value as ParticipantState).phase;
      return phase.kind === 'sending' ? `next ${phase.next}` : phase.kind;
    };
    const store = storeOver(memory, async (key, value) => {
      if (value instanceof Uint8Array) return memory.set(key, value);
      events.push(`write ${nextOf(value)}`);
      await new Promise((resolve) => setTimeout(resolve, 5)); // a store that takes its time
      await memory.set(key, value);
      events.push(`written ${nextOf(value)}`);
    });
    const client = coordinator.with({
      postMessage: async (sealed) => {
        events.push('post');
        return coordinator.postMessage(sealed);
      },
    });
    const running = start({ crypto, client, localModel: () => undefined, maxChunkData: 100 }, { store });
    await running.clock.untilSleeping(); // sum2
    coordinator.publishSums();
    coordinator.publishSeeds();
    events.length = 0;
    await tick(running);
    expect(coordinator.posts.filter((x) => x.tag === 'sum2').map((x) => x.chunkIndex)).toEqual([0, 1, 2, 3]);
    // Entering sending (the payload's first record) is written before the first post; each
    // chunk's progress is written during the next post, and the phase after the last one is
    // written after the last progress record.
    expect(events).toEqual([
      'write next 0',
      'written next 0',
      'post',
      'write next 1',
      'post',
      'written next 1',
      'write next 2',
      'post',
      'written next 2',
      'write next 3',
      'post',
      'written next 3',
      'write awaiting',
      'written awaiting',
    ]);
    expect((await memory.get(DEFAULT_STORE_KEY)) as ParticipantState).toMatchObject({ phase: { kind: 'awaiting' } });
    running.controller.abort();
    await running.done;
  });

  it('a progress record that fails to be written is store-failed at the next state, which is written then', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ modelLength: 40 });
    const memory = new MemoryStateStore();
    let failures = 0;
    const store = storeOver(memory, async (key, value) => {
      const phase = value instanceof Uint8Array ? undefined : (value as ParticipantState).phase;
      if (phase?.kind === 'sending' && phase.next === 2 && failures++ === 0) throw new Error('disk full');
      await memory.set(key, value);
    });
    const running = start({ crypto, client: coordinator, localModel: () => undefined, maxChunkData: 100 }, { store });
    await running.clock.untilSleeping();
    coordinator.publishSums();
    coordinator.publishSeeds();
    await tick(running);
    expect(coordinator.posts.filter((x) => x.tag === 'sum2').map((x) => x.chunkIndex)).toEqual([0, 1, 2, 3]);
    expect(failures).toBe(1);
    const failed = running.states.find((s) => s.lastError?.code === 'store-failed');
    expect(failed?.lastError?.message).toContain('disk full');
    expect(failed?.phase).toMatchObject({ kind: 'sending', next: 3 });
    expect((await memory.get(DEFAULT_STORE_KEY)) as ParticipantState).toMatchObject({ phase: { kind: 'awaiting' } });
    running.controller.abort();
    await running.done;
  });

  it('waits pollMs while pending, doubling up to maxPollMs, and starts over after progress', async () => {
    const coordinator = new FakeCoordinator(crypto); // no round yet: every step is pending
    const running = start(
      { crypto, client: coordinator, localModel: () => undefined },
      { pollMs: 100, maxPollMs: 350 },
    );
    await running.clock.untilSleeping();
    for (let i = 0; i < 4; i++) await tick(running);
    expect(running.clock.sleeps).toEqual([100, 200, 350, 350, 350]);
    expect(running.states).toEqual([]);

    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
    await tick(running);
    expect(running.states.map((s) => s.phase.kind)).toEqual(['awaiting']);
    expect(running.clock.sleeps.at(-1)).toBe(100);
    running.controller.abort();
    await running.done;
  });

  it('a sum participant awaiting its seeds steps every 250 ms while its reads bring new seeds, backing off otherwise (ADR 0017)', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1 }); // this participant sums
    let token = '1.sum';
    const held: ((token: string) => void)[] = [];
    const change = (next: string) => {
      token = next;
      for (const resolve of held.splice(0)) resolve(next);
    };
    let reads = 0;
    // What each read of the seeds so far in the update phase answers: nothing yet, then a dictionary
    // that grows. The entries are not sealed seeds: each is taken (rejected) all the same (sum2.ts).
    const answers: (string[] | undefined)[] = [undefined, undefined, ['a'], ['a'], ['a', 'b']];
    let updateReads = 0;
    const client = coordinator.with({
      // The current token is held until it changes or the loop ends the poll; any other is answered at once.
      waitForPhaseChange: (after, _waitMs, signal) =>
        after !== token
          ? Promise.resolve(token)
          : new Promise<string>((resolve, reject) => {
              held.push(resolve);
              signal?.addEventListener('abort', () => {
                held.splice(held.indexOf(resolve), 1);
                reject(new Error('ended'));
              });
            }),
      getSeedsSoFar: async () => {
        reads++;
        if (token !== '1.update') return undefined;
        const keys = answers[Math.min(updateReads++, answers.length - 1)];
        if (keys === undefined) return undefined;
        return { seeds: new Map(keys.map((k) => [k, new Uint8Array(80)])), final: false };
      },
    });
    const running = start({ crypto, client, localModel: () => undefined }, { pollMs: 100, maxPollMs: 5000 });
    await vi.waitFor(() => expect(held).toHaveLength(1)); // in sum2, holding a long poll on '1.sum'
    for (let i = 0; i < 3; i++) {
      await tick(running);
      await vi.waitFor(() => expect(held).toHaveLength(1));
    }
    // the sum phase: 250 ms (before the first long poll the phase was unknown), then maxPollMs: the
    // token shows the sum phase, and nothing comes before the update phase
    expect(running.clock.sleeps).toEqual([250, 5000, 5000, 5000, 5000]);
    const before = { sleeps: running.clock.sleeps.length, reads };
    change('1.update'); // the long poll tells: the update phase
    await vi.waitFor(() => expect(held).toHaveLength(1));
    for (let i = 0; i < 8; i++) {
      await tick(running);
      await vi.waitFor(() => expect(held).toHaveLength(1));
    }
    // then a step after every wait, each reading the seeds so far: 250 ms after the first read and
    // after each that brought a new seed ('a', then 'b'), doubling after each that brought none, up to 2 s
    expect(running.clock.sleeps.slice(before.sleeps)).toEqual([250, 500, 250, 500, 250, 500, 1000, 2000, 2000]);
    expect(reads - before.reads).toBe(9);
    change('1.sum2');
    await vi.waitFor(() => expect(held).toHaveLength(1));
    await tick(running);
    await vi.waitFor(() => expect(held).toHaveLength(1));
    expect(running.clock.sleeps.slice(-2)).toEqual([4000, 5000]); // the sum2 phase: the short wait (the phase had just changed), then maxPollMs
    running.controller.abort();
    await running.done;
  });

  it('a sum participant reading its seeds so far without long polls steps every 250 ms: nothing else would notice the phase end', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1 }); // this participant sums
    let reads = 0;
    // No waitForPhaseChange: the fake coordinator answers no long polls.
    const client = coordinator.with({
      getSeedsSoFar: async () => {
        reads++;
        return undefined; // never a seed: with long polls the waits would double
      },
    });
    const running = start({ crypto, client, localModel: () => undefined }, { pollMs: 100, maxPollMs: 5000 });
    await running.clock.untilSleeping();
    for (let i = 0; i < 5; i++) await tick(running);
    expect(running.clock.sleeps).toEqual([250, 250, 250, 250, 250, 250]);
    expect(reads).toBe(6);
    running.controller.abort();
    await running.done;
  });

  it('with a long-poll client, a pending wait ends as soon as the phase changes', async () => {
    const coordinator = new FakeCoordinator(crypto); // no round yet
    const asked: [string, number][] = [];
    const untilRound: (boolean | undefined)[] = [];
    let change: (token: string) => void = () => {};
    const client = coordinator.with({
      waitForPhaseChange: (after, waitMs, _signal, until) => {
        asked.push([after, waitMs]);
        untilRound.push(until);
        // Unknown token: the current one at once; the current one: held until the phase changes.
        return after === '' ? Promise.resolve('-.idle') : new Promise((resolve) => (change = resolve));
      },
    });
    const running = start({ crypto, client, localModel: () => undefined }, { pollMs: 100, maxPollMs: 1000 });
    // Each poll asks for a fifth less than the sleep it races (100, 200 ms), so that it answers first.
    await vi.waitFor(() =>
      expect(asked).toEqual([
        ['', 80],
        ['-.idle', 160],
      ]),
    );
    expect(running.states).toEqual([]);
    expect(untilRound).toEqual([false, false]); // no round yet: every change counts

    // The round starts; the clock never moves: only the long poll can end the wait.
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
    change('1.sum');
    await vi.waitFor(() => expect(running.states.map((s) => s.phase.kind)).toEqual(['awaiting']));
    // waiting again, from the new token, for its round's end: the token shows that round, so maxPollMs at once
    expect(asked.at(-1)).toEqual(['1.sum', 800]);
    expect(running.clock.sleeping).toBe(1); // the sleep that lost the race ended with it (no stale timers)
    running.controller.abort();
    await running.done;
  });

  /** A long-poll client over `coordinator`: a poll on the current token is held until `change`. */
  function heldPolls(coordinator: FakeCoordinator, first: string) {
    let token = first;
    const held: ((token: string) => void)[] = [];
    const asked: number[] = [];
    const client = coordinator.with({
      waitForPhaseChange: (after, waitMs, signal) => {
        asked.push(waitMs);
        if (after !== token) return Promise.resolve(token);
        return new Promise<string>((resolve, reject) => {
          held.push(resolve);
          signal?.addEventListener('abort', () => {
            held.splice(held.indexOf(resolve), 1);
            reject(new Error('ended'));
          });
        });
      },
    });
    const change = (next: string) => {
      token = next;
      for (const resolve of held.splice(0)) resolve(next);
    };
    return { client, held, asked, change };
  }

  /** A participant with no task in round 1 (model [0.25, -0.5]), holding a long poll on '1.sum'. */
  async function awaitingRoundOne() {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9, modelLength: 2 });
    const polls = heldPolls(coordinator, '1.sum');
    const running = start(
      { crypto, client: polls.client, localModel: () => [0.25, -0.5] },
      { pollMs: 100, maxPollMs: 5000 },
    );
    await vi.waitFor(() => expect(polls.held).toHaveLength(1));
    return { coordinator, polls, running };
  }

  /** An update participant of round 1 (its model [0.25, -0.5]) on a long-poll client, in the sum phase. */
  function updateInSumPhase() {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, modelLength: 2 });
    const polls = heldPolls(coordinator, '1.sum');
    const running = start(
      { crypto, client: polls.client, localModel: () => [0.25, -0.5] },
      { pollMs: 100, maxPollMs: 5000 },
    );
    return { coordinator, polls, running };
  }

  it('a step that awaits the next phase waits maxPollMs once the phase holds, and the phase change wakes it', async () => {
    const { coordinator, polls, running } = updateInSumPhase();
    await vi.waitFor(() => expect(polls.held).toHaveLength(1));
    for (let i = 0; i < 4; i++) {
      await tick(running);
      await vi.waitFor(() => expect(polls.held).toHaveLength(1));
    }
    // 100 ms: the phase was unknown; then the token shows the sum phase, before which nothing comes
    // (no sum dictionary): one long wait after another, not a doubling from 100 ms
    expect(running.clock.sleeps).toEqual([100, 5000, 5000, 5000, 5000, 5000]);
    expect(polls.asked).toEqual([80, 4000, 4000, 4000, 4000, 4000]);
    expect(coordinator.calls.sums).toBe(6); // one read a wait
    expect(coordinator.calls.post).toBe(0);

    // The update phase: the held poll answers, and the update goes out without the clock moving —
    // and without GET /params: the token names a later phase of the participant's round.
    const params = coordinator.calls.params;
    coordinator.sums = new Map();
    polls.change('1.update');
    await vi.waitFor(() => expect(coordinator.payloads('update')).toHaveLength(1));
    await vi.waitFor(() => expect(running.states.at(-1)?.phase.kind).toBe('awaiting'));
    expect(coordinator.calls.params).toBe(params);
    running.controller.abort();
    await running.done;
  });

  it('answers that lag the token keep the doubling wait, even after polls held their whole wait', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, modelLength: 2 }); // an update participant
    // The token says the update phase, yet GET /sums answers 204 (a lagging instance behind a load
    // balancer); a poll on the current token is held for its whole wait, then answered unchanged.
    const clock = new ManualClock();
    const asked: number[] = [];
    const client = coordinator.with({
      waitForPhaseChange: async (after, waitMs) => {
        asked.push(waitMs);
        if (asked.length > 6) return new Promise(() => {}); // held from the seventh on: the loop waits there
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (after === '1.update') clock.advance(waitMs);
        return '1.update';
      },
    });
    const running = start(
      { crypto, client, localModel: () => [0.25, -0.5] },
      { clock, pollMs: 100, maxPollMs: 10_000 },
    );
    await vi.waitFor(() => expect(asked).toHaveLength(7));
    expect(clock.sleeps).toEqual([100, 200, 400, 800, 1600, 3200, 6400]); // never maxPollMs at once
    running.controller.abort();
    await running.done;
  });

  it('a wait entered straight after a step (the sum phase) that a new round ends is followed by GET /params', async () => {
    const { coordinator, polls, running } = await awaitingRoundOne();
    coordinator.startRound({ sumProbability: 1e-9, modelLength: 2 }); // round 2: an update task
    polls.change('2.sum');
    await vi.waitFor(() => expect(running.states.at(-1)?.round?.roundId).toBe(2));
    await vi.waitFor(() => expect(polls.held).toHaveLength(1)); // waiting out round 2's sum phase
    // Round 2 fails in its sum phase and round 3 starts: the step after the wait reads the round.
    const params = coordinator.calls.params;
    coordinator.startRound({ sumProbability: 1e-9, modelLength: 2 });
    polls.change('3.sum');
    await vi.waitFor(() => expect(running.states.at(-1)?.round?.roundId).toBe(3));
    expect(coordinator.calls.params).toBe(params + 1);
    running.controller.abort();
    await running.done;
  });

  it('a poll held for the 30 s cap counts as held, even when maxPollMs asks for more', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 }); // round 1: no task
    const clock = new ManualClock();
    const asked: number[] = [];
    const client = coordinator.with({
      // As the client and the coordinator do: a poll is held at most 30 s, then answered unchanged.
      waitForPhaseChange: async (after, waitMs) => {
        asked.push(waitMs);
        if (asked.length > 4) return new Promise(() => {});
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (after !== '') clock.advance(Math.min(waitMs, 30_000));
        return '1.sum';
      },
    });
    const running = start({ crypto, client, localModel: () => undefined }, { clock, pollMs: 100, maxPollMs: 120_000 });
    // The clock never reaches a sleep's end, yet each answered poll ends its wait: none is taken for shed.
    await vi.waitFor(() => expect(asked).toEqual([80, 96_000, 96_000, 96_000, 96_000]));
    running.controller.abort();
    await running.done;
  });

  it('once the coordinator answers no long polls (404), the token is dropped and the waits double again', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, modelLength: 2 }); // an update participant; no sum dictionary yet
    let polls = 0;
    const client = coordinator.with({
      waitForPhaseChange: async () => (++polls === 1 ? '1.sum' : undefined), // then: no long polls here
    });
    const running = start({ crypto, client, localModel: () => [0.25, -0.5] }, { pollMs: 100, maxPollMs: 5000 });
    // The first poll tells '1.sum' at once: the wait that follows is the long one…
    await vi.waitFor(() => expect(running.clock.sleeps).toEqual([100, 5000]));
    // …and its poll finds no long polls any more: from then on the waits double from pollMs.
    for (let i = 0; i < 3; i++) await tick(running);
    expect(running.clock.sleeps).toEqual([100, 5000, 200, 400, 800]);
    running.controller.abort();
    await running.done;
  });

  it('a round whose sum phase the token shows costs an update participant one /params, one /sums and the upload', async () => {
    const { coordinator, polls, running } = await awaitingRoundOne();
    const before = { ...coordinator.calls };
    // Round 2, an update task: the long poll wakes it in the sum phase; the step that finds the new
    // round and the task is the only one until the update phase (no /sums read that must find nothing).
    coordinator.startRound({ sumProbability: 1e-9, modelLength: 2 });
    polls.change('2.sum');
    await vi.waitFor(() => expect(running.states.at(-1)?.phase.kind).toBe('update'));
    await vi.waitFor(() => expect(polls.held).toHaveLength(1));
    expect(coordinator.calls.sums).toBe(before.sums);
    coordinator.sums = new Map();
    polls.change('2.update');
    await vi.waitFor(() => expect(coordinator.payloads('update')).toHaveLength(1));
    await vi.waitFor(() => expect(polls.held).toHaveLength(1)); // awaiting round 2's end
    expect(coordinator.calls.params - before.params).toBe(1);
    expect(coordinator.calls.sums - before.sums).toBe(1);
    expect(coordinator.calls.post - before.post).toBe(1);
    running.controller.abort();
    await running.done;
  });

  it('after a wait the phase changed in, a step that still awaits the next phase gets the short wait', async () => {
    const { coordinator, polls, running } = updateInSumPhase();
    await vi.waitFor(() => expect(polls.held).toHaveLength(1));
    await tick(running);
    await vi.waitFor(() => expect(polls.held).toHaveLength(1));
    expect(running.clock.sleeps).toEqual([100, 5000, 5000]);
    // The token says the update phase, but the sum dictionary is not there yet (an answer that lags
    // the token): the step after the change is pending again, and its wait is the short one.
    polls.change('1.update');
    await vi.waitFor(() => expect(coordinator.calls.sums).toBe(4));
    await vi.waitFor(() => expect(polls.held).toHaveLength(1));
    expect(running.clock.sleeps.at(-1)).toBe(200); // pollMs, doubled once (the long waits leave it)
    coordinator.sums = new Map();
    await tick(running);
    await vi.waitFor(() => expect(coordinator.payloads('update')).toHaveLength(1));
    running.controller.abort();
    await running.done;
  });

  it('after a long poll that answers the token it was asked about, the step does not read /params again', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 }); // round 1: no task
    const asked: [string, number][] = [];
    const clock = new ManualClock();
    const client = coordinator.with({
      waitForPhaseChange: async (after, waitMs) => {
        asked.push([after, waitMs]);
        if (asked.length > 6) return new Promise(() => {}); // held from the seventh on: the loop waits there
        await new Promise((resolve) => setTimeout(resolve, 0));
        clock.advance(waitMs);
        return '1.sum'; // the coordinator held the poll for its wait: nothing changed
      },
    });
    const running = start({ crypto, client, localModel: () => undefined }, { clock, pollMs: 100, maxPollMs: 1000 });
    await vi.waitFor(() => expect(asked).toHaveLength(7));
    // The first poll tells the token ('' → '1.sum'); every later one answers it unchanged.
    expect(asked).toEqual([['', 80], ...Array(6).fill(['1.sum', 800])]);
    // /params: the first step and the one after the poll that brought the token; none after the rest
    expect(coordinator.calls.params).toBe(2);
    expect(running.states.map((s) => s.phase.kind)).toEqual(['awaiting']);
    running.controller.abort();
    await running.done;
  });

  it('a poll answered at once with the token it was asked about (not held) leaves the wait to the sleep', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 }); // round 1: no task
    const asked: string[] = [];
    // A coordinator holding all the long polls it may: every poll is answered at once (protocol.md §1.2).
    const client = coordinator.with({
      waitForPhaseChange: async (after) => {
        asked.push(after);
        await new Promise((resolve) => setTimeout(resolve, 0)); // a round trip (and no microtask-only loop)
        return '1.sum';
      },
    });
    const running = start({ crypto, client, localModel: () => undefined }, { pollMs: 100, maxPollMs: 1000 });
    await vi.waitFor(() => expect(asked).toEqual(['', '1.sum']));
    await running.clock.untilSleeping();
    // The first answer was a change ('' → '1.sum'); the second, unchanged and at once, did not end
    // the wait: the loop sleeps instead of stepping and polling again in a tight loop.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(asked).toEqual(['', '1.sum']);
    const params = coordinator.calls.params;
    await tick(running);
    await vi.waitFor(() => expect(asked).toHaveLength(3));
    expect(coordinator.calls.params).toBe(params + 1); // after a wait the sleep ended, the step reads /params
    running.controller.abort();
    await running.done;
  });

  it('a step that awaits the app (no local model yet) keeps the doubling wait from pollMs', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, modelLength: 2 });
    coordinator.sums = new Map(); // the update phase: only the model is missing
    const polls = heldPolls(coordinator, '1.update');
    const running = start(
      { crypto, client: polls.client, localModel: () => undefined },
      { pollMs: 100, maxPollMs: 5000 },
    );
    await vi.waitFor(() => expect(polls.held).toHaveLength(1));
    for (let i = 0; i < 5; i++) {
      await tick(running);
      await vi.waitFor(() => expect(polls.held).toHaveLength(1));
    }
    expect(running.clock.sleeps).toEqual([100, 200, 400, 800, 1600, 3200, 5000]); // the first wait ended at once (unknown phase)
    running.controller.abort();
    await running.done;
  });

  it('a long poll that answers at the end of its wait ends the wait, and the sleep it raced is cleared', async () => {
    const coordinator = new FakeCoordinator(crypto); // no round: every step is pending
    const asked: number[] = [];
    const clock = new ManualClock();
    const client = coordinator.with({
      waitForPhaseChange: async (_after, waitMs, signal) => {
        asked.push(waitMs);
        if (asked.length > 5) return new Promise(() => {}); // held from the sixth on: the loop waits there
        // The coordinator held the poll for its wait and answers the token it had: nothing changed.
        await new Promise((resolve) => setTimeout(resolve, 0));
        clock.advance(waitMs);
        // Never aborted: answered before the sleep it races could end.
        expect(signal?.aborted).toBe(false);
        return '-.idle';
      },
    });
    const running = start({ crypto, client, localModel: () => undefined }, { clock, pollMs: 100, maxPollMs: 400 });
    // The clock moves only by each poll's wait, never to its sleep's end, yet the loop goes on:
    // each answered poll ends its wait.
    await vi.waitFor(() => expect(asked).toEqual([80, 160, 320, 320, 320, 320]));
    expect(clock.sleeping).toBe(1); // only the current wait's sleep: the others were cleared
    expect(running.states).toEqual([]);
    running.controller.abort();
    await running.done;
  });

  it('awaiting the end of its round, it skips the step when the phase only moves on within that round', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 }); // round 1: no task
    const asked: string[] = [];
    const untilRound: (boolean | undefined)[] = [];
    let change: (token: string) => void = () => {};
    const client = coordinator.with({
      waitForPhaseChange: (after, _waitMs, _signal, until) => {
        asked.push(after);
        untilRound.push(until);
        return after === '' ? Promise.resolve('1.sum') : new Promise((resolve) => (change = resolve));
      },
    });
    const running = start({ crypto, client, localModel: () => undefined }, { pollMs: 100, maxPollMs: 1000 });
    await vi.waitFor(() => expect(asked).toEqual(['', '1.sum']));
    expect(running.states.map((s) => s.phase.kind)).toEqual(['awaiting']);
    const params = coordinator.calls.params;

    // sum → update → sum2 of its own round: waiting on, no GET /params.
    change('1.update');
    await vi.waitFor(() => expect(asked.at(-1)).toBe('1.update'));
    change('1.sum2');
    await vi.waitFor(() => expect(asked.at(-1)).toBe('1.sum2'));
    expect(coordinator.calls.params).toBe(params);

    // A jump back (a coordinator restarted afresh) is stepped on, and so is a new round.
    change('1.sum');
    await vi.waitFor(() => expect(coordinator.calls.params).toBe(params + 1));
    await vi.waitFor(() => expect(asked.at(-1)).toBe('1.sum'));
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
    change('2.sum');
    await vi.waitFor(() => expect(running.states.at(-1)?.round?.roundId).toBe(2));
    await vi.waitFor(() => expect(asked.at(-1)).toBe('2.sum'));
    // Every wait with no task left in a round asks the coordinator to answer only when it ends.
    expect(untilRound.length).toBe(asked.length);
    expect(untilRound.every((until) => until === true)).toBe(true);
    running.controller.abort();
    await running.done;
  });

  it('a round that ends during a run of steps (none of which read /params) is entered after the next wait', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 }); // round 1: no task
    let current = '1.sum';
    const client = coordinator.with({
      // As the coordinator answers: at once for a token other than the current one, else held.
      waitForPhaseChange: (after) => (after === current ? new Promise(() => {}) : Promise.resolve(current)),
    });
    let started = false;
    const running = start(
      { crypto, client, localModel: () => undefined },
      {
        pollMs: 100,
        // Round 2 starts right after the first step completed, before the awaiting step that follows it.
        onState: (state) => {
          running?.states.push(state);
          if (started) return;
          started = true;
          coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
          current = '2.sum';
        },
      },
    );
    await vi.waitFor(() => expect(running.states.at(-1)?.round?.roundId).toBe(2));
    expect(running.states.map((s) => [s.round?.roundId, s.phase.kind])).toEqual([
      [1, 'awaiting'],
      [2, 'awaiting'],
    ]);
    expect(coordinator.calls.params).toBe(2); // round 1's first step, and the step after the wait
    running.controller.abort();
    await running.done;
  });

  it('a long poll that loses to the timer is ended, and a token it answers late is not used', async () => {
    const coordinator = new FakeCoordinator(crypto); // no round yet
    const polls: { after: string; signal: AbortSignalLike | undefined; answer: (token: string) => void }[] = [];
    const client = coordinator.with({
      waitForPhaseChange: (after, _waitMs, signal) =>
        new Promise((resolve) => polls.push({ after, signal, answer: resolve })), // held: the timer wins
    });
    const running = start({ crypto, client, localModel: () => undefined }, { pollMs: 100, maxPollMs: 100 });
    await vi.waitFor(() => expect(polls).toHaveLength(1));
    await tick(running);
    await vi.waitFor(() => expect(polls).toHaveLength(2));
    expect(polls[0]?.signal?.aborted).toBe(true); // the request that lost was ended…
    expect(polls[1]?.signal?.aborted).toBe(false);
    polls[0]?.answer('1.sum'); // …and had it answered anyway, after the race, its token is not taken
    await tick(running);
    await vi.waitFor(() => expect(polls).toHaveLength(3));
    expect(polls.map((p) => p.after)).toEqual(['', '', '']);
    running.controller.abort();
    await running.done;
  });

  it('a long-poll client that throws at once only costs the wait', async () => {
    const coordinator = new FakeCoordinator(crypto); // no round yet
    let calls = 0;
    const client = coordinator.with({
      waitForPhaseChange: () => {
        calls++;
        throw new Error('synchronous failure');
      },
    });
    const running = start({ crypto, client, localModel: () => undefined }, { pollMs: 100, maxPollMs: 100 });
    await running.clock.untilSleeping();
    await tick(running);
    await tick(running);
    expect(calls).toBe(3);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
    await tick(running);
    expect(running.states.map((s) => s.phase.kind)).toEqual(['awaiting']);
    running.controller.abort();
    await running.done;
  });

  it('a throwing localModel is recorded as lastError and the loop carries on', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, modelLength: 2 });
    coordinator.sums = new Map();
    let asked = 0;
    const localModel = (): number[] => {
      asked++;
      if (asked === 1) throw new Error('no data yet');
      return [0.25, -0.5];
    };
    const running = start({ crypto, client: coordinator, localModel });
    await running.clock.untilSleeping();
    const failed = running.states.at(-1);
    expect(failed?.phase.kind).toBe('awaiting');
    expect(failed?.lastError).toStrictEqual({
      code: 'callback-failed',
      message: 'localModel: no data yet',
      roundId: 1,
    });

    coordinator.startRound({ sumProbability: 1e-9, modelLength: 2 });
    coordinator.sums = new Map();
    await tick(running);
    expect(coordinator.payloads('update')).toHaveLength(1);
    expect(running.states.at(-1)?.phase.kind).toBe('awaiting');
    expect(running.states.at(-1)?.lastError?.roundId).toBe(1); // the old error, kept until a newer one

    running.controller.abort();
    expect((await running.done).round?.roundId).toBe(2);
  });

  it('an unexpected error, a failing store and a throwing onState are recorded; the loop goes on', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
    let failParams = true;
    const client = coordinator.with({
      getParams: async () => {
        if (failParams) throw new Error('a bug');
        return coordinator.getParams();
      },
    });
    const store: StateStore = {
      get: async () => undefined,
      set: () => Promise.reject(new Error('quota exceeded')),
      del: async () => undefined,
    };
    const errors: (string | undefined)[] = [];
    const running = start(
      { crypto, client, localModel: () => undefined },
      {
        store,
        onState: (s) => {
          errors.push(s.lastError?.code);
          throw new Error('render failed');
        },
      },
    );
    await running.clock.untilSleeping();
    expect(errors).toEqual(['store-failed']); // the 'internal' error's state could not be saved either

    failParams = false;
    await tick(running);
    running.controller.abort();
    const last = await running.done;
    expect(last.phase.kind).toBe('awaiting');
    expect(last.lastError).toMatchObject({ code: 'callback-failed', message: 'onState: render failed' });
  });

  it('an update charged to the privacy ledger is not sent when the charge cannot be saved', async () => {
    const coordinator = new FakeCoordinator(crypto);
    const params = coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: 2 });
    const privacy = { mechanism: 'central-gaussian', clipNorm: 1, dimension: 2, noiseMultiplier: 1 } as const;
    coordinator.params = { ...params, privacy, seed: privacyRoundSeed(crypto, params.coordinatorPk, privacy) };
    coordinator.sums = new Map();
    let failing = false;
    const memory = new MemoryStateStore();
    const store = storeOver(memory, (key, value) =>
      failing ? Promise.reject(new Error('quota exceeded')) : memory.set(key, value),
    );
    // The store fails from the moment the update is built (the step that charges the round).
    const localModel = (): number[] => {
      failing = true;
      return [3, 4];
    };
    const running = start({ crypto, client: coordinator, localModel }, { store, pollMs: 100, maxPollMs: 100 });
    await running.clock.untilSleeping();
    for (let i = 0; i < 3; i++) await tick(running);
    expect(coordinator.payloads('update')).toHaveLength(0);
    const last = running.states.at(-1);
    expect(last?.phase.kind).toBe('awaiting');
    expect(last?.privacyLedger).toBeUndefined();
    expect(last?.lastError).toMatchObject({ code: 'store-failed', roundId: 1 });
    expect(last?.lastError?.message).toMatch(/privacy charge could not be saved, its update is not sent/);
    running.controller.abort();
    await running.done;
  });

  it('a sum dictionary with an all-zero ephemeral key: the update is tried once, lastError, then the next round', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, modelLength: 2 });
    const hostile = toBase64Url(new Uint8Array(32).fill(9));
    coordinator.sums = new Map([[hostile, new Uint8Array(32)]]);
    let asked = 0;
    const localModel = (): number[] => {
      asked++;
      return [0.25, -0.5];
    };
    const running = start({ crypto, client: coordinator, localModel }, { pollMs: 100, maxPollMs: 100 });
    await running.clock.untilSleeping();
    expect(running.states.at(-1)).toMatchObject({
      phase: { kind: 'awaiting' },
      lastError: { code: 'invalid-key', roundId: 1 },
    });
    expect(running.states.at(-1)?.lastError?.message).toMatch(new RegExp(`^ephemeral key of ${hostile}: `));
    // polled on, the participant waits for the next round: the step is not tried again
    for (let i = 0; i < 5; i++) await tick(running);
    expect(asked).toBe(1);
    expect(coordinator.calls.sums).toBe(1);
    expect(coordinator.calls.post).toBe(0);

    coordinator.startRound({ sumProbability: 1e-9, modelLength: 2 });
    coordinator.sums = new Map([[hostile, crypto.encryptKeyPair().publicKey]]);
    await tick(running);
    expect(coordinator.payloads('update')).toHaveLength(1);
    expect(running.states.at(-1)).toMatchObject({ round: { roundId: 2 }, phase: { kind: 'awaiting' } });
    running.controller.abort();
    await running.done;
  });

  it(`a step that keeps throwing an unexpected error is tried ${MAX_STEP_ATTEMPTS} times, then its round is given up`, async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound(); // a sum participant: its ephemeral secret key must be wiped when it gives up
    let seedsAsked = 0;
    const client = coordinator.with({
      getSeeds: () => {
        seedsAsked++;
        return Promise.reject(new TypeError('a bug in a custom client'));
      },
    });
    const running = start({ crypto, client, localModel: () => undefined }, { pollMs: 100, maxPollMs: 100 });
    await vi.waitFor(() => expect(running.states.at(-1)?.phase.kind).toBe('sum2'));
    const sum2 = running.states.at(-1)?.phase;
    for (let i = 0; i < 6; i++) await tick(running);
    expect(seedsAsked).toBe(MAX_STEP_ATTEMPTS);
    const last = running.states.at(-1);
    expect(last).toMatchObject({
      phase: { kind: 'awaiting' },
      lastError: { code: 'internal', message: 'a bug in a custom client', roundId: 1 },
    });
    // SECURITY: the abandoned sum task's ephemeral secret key is wiped
    expect(sum2?.kind === 'sum2' && sum2.ephemeral.secretKey.every((b) => b === 0)).toBe(true);

    // the next round starts afresh, with a fresh count
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
    await tick(running);
    expect(running.states.at(-1)).toMatchObject({ round: { roundId: 2 }, phase: { kind: 'awaiting' } });
    running.controller.abort();
    await running.done;
  });

  it('an already aborted signal returns the initial state without a step', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound();
    const controller = new AbortController();
    controller.abort();
    const state = createInitialState(crypto);
    const io = { crypto, client: coordinator, localModel: () => undefined };
    expect(await runParticipant({ state, io, clock: new ManualClock(), signal: controller.signal })).toBe(state);
    expect(coordinator.calls.params).toBe(0);
  });
});
