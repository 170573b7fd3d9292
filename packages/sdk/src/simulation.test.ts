/**
 * The participant engine against the real coordinator, round after round:
 * in process (every request through `app.request`) and over real HTTP
 * (@hono/node-server on a free port) with ≥ 30 participants. Each global
 * model must be the exact weighted average (within n/E, protocol.md §4.5) of
 * the updates the coordinator accepted — which the test learns from the 202
 * answers its own fetch wrapper sees, and recomputes independently.
 */

import { setMaxListeners } from 'node:events';
import {
  systemClock as coordinatorClock,
  createCoordinatorApp,
  MemoryModelStore,
  parseSettings,
  type Settings,
} from '@petfl/coordinator';
import { listen } from '@petfl/coordinator/node';
import { decodeGlobalModel, initCrypto, maskParams, type PetCrypto } from '@petfl/core';
import { fixtureModel } from '@petfl/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type FetchLike, HttpCoordinatorClient } from './client/http-client.ts';
import { nodeHttpFetch } from './client/node-http-fetch.ts';
import { runParticipant } from './state-machine/run.ts';
import { createInitialState } from './state-machine/state.ts';
import { systemClock } from './system-clock.ts';

const ADMIN = 'sim-admin';

function settings(participants: { sum: number; update: number }, sumProbability: number): Settings {
  const { sum, update } = participants;
  return parseSettings(
    `
[api]
port = 0
admin_token = "${ADMIN}"
[safety]
allow_unsafe_small_rounds = true
scalar_min = 0
[pet.sum]
probability = ${sumProbability}
count = { min = ${sum}, max = ${sum} }
time = { min_ms = 0, max_ms = 5000 }
[pet.update]
probability = 1
count = { min = ${update}, max = ${update} }
time = { min_ms = 0, max_ms = 10000 }
[pet.sum2]
count = { min = ${sum}, max = ${sum} }
time = { min_ms = 0, max_ms = 10000 }
[model]
length = 1000
`,
    {},
  );
}

interface Submitted {
  readonly model: Float32Array;
  readonly scalar: number;
}

/** Runs `count` participants until `rounds` rounds completed; returns what each accepted update carried. */
async function simulate(options: {
  crypto: PetCrypto;
  count: number;
  rounds: number;
  baseUrl: string;
  fetch: FetchLike;
  completedRounds: () => Promise<number[]>;
}): Promise<Map<number, Submitted[]>> {
  const { crypto, count } = options;
  const accepted = new Map<number, Submitted[]>();
  const controller = new AbortController();
  // One stop signal for every loop: each waiting loop listens on it, `count` at a time.
  setMaxListeners(4 * count, controller.signal);
  const loops = Array.from({ length: count }, (_, i) => {
    const scalar = 0.5 + (i % 7) * 0.75;
    let pending: { roundId: number; model: Float32Array } | undefined;
    // The test's window on the wire: a 202 for an update means it is in the aggregate.
    const fetch: FetchLike = async (url, init) => {
      const res = await options.fetch(String(url), init);
      if (String(url).endsWith('/message') && res.status === 202 && pending !== undefined) {
        const text = await res.text();
        const body = JSON.parse(text) as { accepted: string };
        if (body.accepted === 'update') {
          const list = accepted.get(pending.roundId) ?? [];
          list.push({ model: pending.model, scalar });
          accepted.set(pending.roundId, list);
          pending = undefined;
        }
        // The body was read here: the client gets it again from a copy of the answer.
        return {
          ...res,
          status: res.status,
          text: async () => text,
          arrayBuffer: async () => new TextEncoder().encode(text).buffer,
        };
      }
      return res;
    };
    const client = new HttpCoordinatorClient(options.baseUrl, { fetch, retries: 2, backoffMs: 10 });
    return runParticipant({
      state: createInitialState(crypto, { scalar }),
      io: {
        crypto,
        client,
        localModel(roundId) {
          const model = fixtureModel(1000, i * 1000 + roundId);
          pending = { roundId, model };
          return model;
        },
      },
      clock: systemClock,
      signal: controller.signal,
      pollMs: 10,
      maxPollMs: 100,
    });
  });
  const deadline = Date.now() + 90_000;
  while ((await options.completedRounds()).length < options.rounds) {
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  controller.abort();
  await Promise.all(loops);
  return accepted;
}

function expectExactAverage(s: Settings, got: ArrayLike<number>, submitted: readonly Submitted[], f32: boolean): void {
  const reference = new Float64Array(got.length);
  let total = 0;
  for (const { model, scalar } of submitted) {
    total += scalar;
    for (let i = 0; i < reference.length; i++) reference[i] = (reference[i] as number) + scalar * (model[i] as number);
  }
  const tolerance = submitted.length / Number(maskParams(s.mask).expShift);
  let worst = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = (reference[i] as number) / total;
    const rounding = f32 ? Math.abs(r) * 2 ** -24 : 0;
    worst = Math.max(worst, Math.abs((got[i] as number) - r) - rounding);
  }
  expect(worst).toBeLessThanOrEqual(tolerance);
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe('participant engine × coordinator', () => {
  it('in process: 3 sum + 10 update participants per round, several rounds, exact weighted averages', async () => {
    const crypto = await initCrypto();
    const s = settings({ sum: 3, update: 10 }, 0.25);
    const models = new MemoryModelStore();
    const created = await createCoordinatorApp(s, { crypto, models, clock: coordinatorClock });
    closers.push(() => created.close());
    const completed = async () =>
      (await created.coordinator.history(100)).filter((r) => r.outcome === 'completed').map((r) => r.roundId);
    const accepted = await simulate({
      crypto,
      count: 20,
      rounds: 3,
      baseUrl: 'http://petfl.test',
      fetch: async (url, init) => created.app.request(url, init as RequestInit),
      completedRounds: completed,
    });
    const rounds = await completed();
    expect(rounds.length).toBeGreaterThanOrEqual(3);
    for (const roundId of rounds) {
      const submitted = accepted.get(roundId) ?? [];
      expect(submitted).toHaveLength(10);
      const global = await models.get(roundId);
      expectExactAverage(s, global?.model ?? [], submitted, false);
    }
    const history = await created.coordinator.history(100);
    for (const r of history.filter((x) => x.outcome === 'completed')) {
      expect(r.participants).toEqual({ sum: 3, update: 10, sum2: 3 });
    }
  }, 120_000);

  it('over real HTTP: 36 participants, 2 rounds, exact weighted averages from GET /model', async () => {
    const crypto = await initCrypto();
    const transport = nodeHttpFetch();
    if (transport === undefined) throw new Error('this is Node.js: the node:http transport must load');
    const s = settings({ sum: 4, update: 20 }, 0.2);
    const models = new MemoryModelStore();
    const running = await listen(s, { crypto, models });
    closers.push(() => running.close());
    const completed = async () => {
      const res = await fetch(`${running.url}/admin/rounds`, { headers: { authorization: `Bearer ${ADMIN}` } });
      const { rounds } = (await res.json()) as { rounds: { roundId: number; outcome: string }[] };
      return rounds.filter((r) => r.outcome === 'completed').map((r) => r.roundId);
    };
    const accepted = await simulate({
      crypto,
      count: 36,
      rounds: 2,
      baseUrl: running.url,
      fetch: transport, // the default on Node.js (ADR 0015), as a participant app gets it
      completedRounds: completed,
    });
    const rounds = await completed();
    expect(rounds.length).toBeGreaterThanOrEqual(2);
    for (const roundId of rounds) {
      const submitted = accepted.get(roundId) ?? [];
      expect(submitted).toHaveLength(20);
      expectExactAverage(s, (await models.get(roundId))?.model ?? [], submitted, false);
    }
    // what participants download is the same average, rounded to the config's f32
    const served = decodeGlobalModel(new Uint8Array(await (await fetch(`${running.url}/model`)).arrayBuffer()));
    const exact = (await models.get(served.roundId))?.model ?? [];
    expect(Array.from(served.model)).toEqual(Array.from(exact, Math.fround));
  }, 120_000);
});
