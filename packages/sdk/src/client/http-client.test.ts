/**
 * HttpCoordinatorClient against a scripted fake `fetch` (protocol.md §1.2): decoding of every
 * route, 204 as "not yet", retries with capped exponential backoff for transient failures only,
 * 4xx as CoordinatorRejectedError without a retry, malformed bodies, and aborting. The clock
 * records the backoff instead of sleeping.
 */

import {
  encodeGlobalModel,
  encodeRoundParameters,
  encodeSumDict,
  encodeUpdateSeedDict,
  initCrypto,
  isPetError,
  type PetCrypto,
  PetError,
  type RoundParameters,
  toBase64Url,
} from '@petfl/core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../state-machine/io.ts';
import { CoordinatorRejectedError, CoordinatorUnavailableError } from './coordinator-client.ts';
import {
  type FetchLike,
  HttpCoordinatorClient,
  type HttpCoordinatorClientOptions,
  type RequestInitLike,
  type ResponseLike,
} from './http-client.ts';

let crypto: PetCrypto;
let params: RoundParameters;
beforeAll(async () => {
  crypto = await initCrypto();
  params = {
    roundId: 7,
    coordinatorPk: crypto.encryptKeyPair().publicKey,
    sumProbability: 0.25,
    updateProbability: 0.5,
    seed: crypto.randomBytes(32),
    maskConfig: { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' },
    modelLength: 10,
  };
});

function answer(status: number, body: string | Uint8Array = ''): ResponseLike {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  return {
    status,
    text: async () => new TextDecoder().decode(bytes),
    arrayBuffer: async () => bytes.slice().buffer,
  };
}
const json = (status: number, value: unknown): ResponseLike => answer(status, JSON.stringify(value));

interface Harness {
  client: HttpCoordinatorClient;
  calls: { url: string; init: RequestInitLike | undefined }[];
  sleeps: number[];
}

/** A client whose fetch answers from `script` in order (an Error is thrown as a network failure). */
function harness(
  script: (ResponseLike | Error)[],
  options: Partial<HttpCoordinatorClientOptions> = {},
  onSleep?: () => void,
): Harness {
  const calls: Harness['calls'] = [];
  const sleeps: number[] = [];
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, init });
    const next = script.shift();
    if (next === undefined) throw new Error('the script ran out');
    if (next instanceof Error) throw next;
    return next;
  };
  const clock: Clock = {
    now: () => 0,
    sleep: async (ms) => {
      sleeps.push(ms);
      onSleep?.();
    },
  };
  const client = new HttpCoordinatorClient('https://coordinator.test/api/', { fetch, clock, ...options });
  return { client, calls, sleeps };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('HttpCoordinatorClient: GET /phase (the long poll)', () => {
  it('answers the token; one attempt, no retries; 4xx rejects; a 404 coordinator is never asked again', async () => {
    const { client, calls, sleeps } = harness([
      json(200, { token: '3.update' }),
      answer(503),
      json(400, { code: 'invalid-field', message: 'phase wait_ms' }),
      json(200, { nope: 1 }),
      answer(404),
    ]);
    expect(await client.waitForPhaseChange('3.sum', 1500.4)).toBe('3.update');
    expect(calls[0]?.url).toBe('https://coordinator.test/api/phase?after=3.sum&wait_ms=1500');
    expect(await rejection(client.waitForPhaseChange('3.update', 99_999))).toBeInstanceOf(CoordinatorUnavailableError);
    expect(calls[1]?.url).toContain('wait_ms=30000'); // capped at the coordinator's limit
    expect(sleeps).toEqual([]);
    expect(await rejection(client.waitForPhaseChange('a b&c', 10))).toBeInstanceOf(CoordinatorRejectedError);
    expect(calls[2]?.url).toContain('after=a%20b%26c');
    expect(await rejection(client.waitForPhaseChange('', 10))).toBeInstanceOf(CoordinatorUnavailableError);
    expect(await client.waitForPhaseChange('', 10)).toBeUndefined();
    expect(await client.waitForPhaseChange('', 10)).toBeUndefined();
    expect(calls).toHaveLength(5);
  });
});

describe('HttpCoordinatorClient: ending a long poll', () => {
  it('fetch gets a platform AbortSignal that aborts with the cancel signal or the stop signal', async () => {
    const seen: AbortSignal[] = [];
    const fetch: FetchLike = (_url, init) =>
      new Promise((_resolve, reject) => {
        const signal = init?.signal as AbortSignal;
        seen.push(signal);
        signal.addEventListener('abort', () => reject(new Error('aborted')));
      });
    const stop = new AbortController();
    const client = new HttpCoordinatorClient('https://coordinator.test', { fetch, signal: stop.signal });

    const cancel = new AbortController();
    const ended = rejection(client.waitForPhaseChange('1.sum', 1000, cancel.signal));
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    expect(seen[0]).toBeInstanceOf(AbortSignal);
    expect(seen[0]).not.toBe(stop.signal);
    cancel.abort();
    expect(await ended).toBeInstanceOf(CoordinatorUnavailableError);
    expect(stop.signal.aborted).toBe(false);

    const stopped = rejection(client.waitForPhaseChange('1.sum', 1000, new AbortController().signal));
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    stop.abort(new Error('stopped'));
    expect(await stopped).toMatchObject({ message: 'stopped' }); // the stop signal's reason, as for every request
  });
});

describe('HttpCoordinatorClient: reads (protocol.md §1.2, §3.8–3.10)', () => {
  it('GET /params decodes the JSON (unknown keys ignored); 204 is undefined', async () => {
    const { client, calls } = harness([json(200, { ...encodeRoundParameters(params), future: 1 }), answer(204)]);
    expect(await client.getParams()).toStrictEqual(params);
    expect(await client.getParams()).toBeUndefined();
    expect(calls.map((c) => [c.url, c.init?.method])).toEqual([
      ['https://coordinator.test/api/params', 'GET'],
      ['https://coordinator.test/api/params', 'GET'],
    ]);
  });

  it('GET /sums, /seeds?pk= and /model decode their binary bodies; 204 is undefined', async () => {
    const key = (b: number) => toBase64Url(new Uint8Array(32).fill(b));
    const sums = new Map([
      [key(1), new Uint8Array(32).fill(9)],
      [key(2), new Uint8Array(32).fill(8)],
    ]);
    const seeds = new Map([[key(3), new Uint8Array(80).fill(7)]]);
    const model = { roundId: 6, model: Float32Array.of(0.5, -1.5) };
    const sumPk = new Uint8Array(32).fill(0xfb);
    const { client, calls } = harness([
      answer(200, encodeSumDict(sums)),
      answer(200, encodeUpdateSeedDict(seeds)),
      answer(200, encodeGlobalModel(model)),
      answer(204),
      answer(204),
      answer(204),
    ]);
    expect(await client.getSums()).toStrictEqual(sums);
    expect(await client.getSeeds(sumPk)).toStrictEqual(seeds);
    expect(await client.getModel()).toStrictEqual(model);
    expect(await client.getSums()).toBeUndefined();
    expect(await client.getSeeds(sumPk)).toBeUndefined();
    expect(await client.getModel()).toBeUndefined();
    expect(calls[1]?.url).toBe(`https://coordinator.test/api/seeds?pk=${toBase64Url(sumPk)}`);
    expect(toBase64Url(sumPk)).toMatch(/^[A-Za-z0-9_-]{43}$/); // URL-safe as it is
  });
});

describe('HttpCoordinatorClient: POST /message (protocol.md §3.2)', () => {
  it('posts the sealed bytes as application/octet-stream; 202 is accepted', async () => {
    const sealed = crypto.randomBytes(280);
    const { client, calls } = harness([answer(202)]);
    await client.postMessage(sealed);
    expect(calls).toEqual([
      {
        url: 'https://coordinator.test/api/message',
        init: { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: sealed },
      },
    ]);
  });

  it('a 4xx is CoordinatorRejectedError with the body’s code and message, never retried', async () => {
    const { client, calls, sleeps } = harness([
      json(409, { code: 'wrong-round', message: 'message for round 6, this is round 7' }),
    ]);
    const error = await rejection(client.postMessage(new Uint8Array(280)));
    expect(error).toBeInstanceOf(CoordinatorRejectedError);
    expect(error).toMatchObject({
      status: 409,
      code: 'wrong-round',
      message: 'POST /message: rejected with 409 wrong-round: message for round 6, this is round 7',
    });
    expect(calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it("GET /seeds of a pk outside the sum dictionary: 404 'unknown-sum-participant'", async () => {
    const { client } = harness([json(404, { code: 'unknown-sum-participant', message: 'not a sum participant' })]);
    expect(await rejection(client.getSeeds(new Uint8Array(32)))).toMatchObject({
      name: 'CoordinatorRejectedError',
      status: 404,
      code: 'unknown-sum-participant',
    });
  });

  it("a 4xx without a JSON body has code 'unknown'", async () => {
    const { client } = harness([answer(400, '<html>bad request</html>')]);
    expect(await rejection(client.postMessage(new Uint8Array(1)))).toMatchObject({ status: 400, code: 'unknown' });
  });
});

describe('HttpCoordinatorClient: transient failures', () => {
  it('retries 5xx and network errors `retries` times with capped exponential backoff, then gives up', async () => {
    const failures = () => [
      json(503, { code: 'unavailable', message: 'restarting' }),
      new TypeError('fetch failed'),
      answer(500),
      answer(502),
      answer(503),
    ];
    const { client, calls, sleeps } = harness(failures(), { retries: 4, backoffMs: 100, maxBackoffMs: 300 });
    const error = await rejection(client.postMessage(new Uint8Array(1)));
    expect(error).toBeInstanceOf(CoordinatorUnavailableError);
    expect(error).toMatchObject({ status: 503, message: 'POST /message: answered 503' });
    expect(calls).toHaveLength(5);
    // caps 100, 200, 300, 300; equal jitter puts each delay in [cap/2, cap]
    expect(sleeps).toHaveLength(4);
    for (const [i, cap] of [100, 200, 300, 300].entries()) {
      expect(sleeps[i]).toBeGreaterThanOrEqual(cap / 2);
      expect(sleeps[i]).toBeLessThanOrEqual(cap);
    }

    const network = harness([new TypeError('fetch failed')], { retries: 0 });
    const cause = await rejection(network.client.getParams());
    expect(cause).toMatchObject({ name: 'CoordinatorUnavailableError', status: undefined });
    expect((cause as Error).cause).toBeInstanceOf(TypeError);
    expect(network.sleeps).toEqual([]);
  });

  it('defaults to 3 retries from 100 ms', async () => {
    const { client, calls, sleeps } = harness([answer(500), answer(500), answer(500), answer(500)]);
    await rejection(client.getSums());
    expect(calls).toHaveLength(4);
    expect(sleeps.map((ms, i) => ms >= 50 * 2 ** i && ms <= 100 * 2 ** i)).toEqual([true, true, true]);
  });

  it('recovers when a retry succeeds', async () => {
    const { client, calls } = harness([new TypeError('reset'), answer(503), answer(202)]);
    await client.postMessage(new Uint8Array(1));
    expect(calls).toHaveLength(3);
  });

  it('a malformed body is CoordinatorUnavailableError (after retries) with the decoder’s error as cause', async () => {
    const truncated = harness([answer(200, new Uint8Array(3))], { retries: 0 });
    const error = await rejection(truncated.client.getSums());
    expect(error).toBeInstanceOf(CoordinatorUnavailableError);
    expect((error as Error).message).toMatch(/^GET \/sums: malformed sum dictionary: /);
    expect(isPetError((error as Error).cause, 'truncated')).toBe(true);

    const invalid = harness([json(200, { roundId: -1 }), json(200, { roundId: -1 })], { retries: 1 });
    const paramsError = await rejection(invalid.client.getParams());
    expect(invalid.calls).toHaveLength(2);
    expect(isPetError((paramsError as Error).cause, 'invalid-round-parameters')).toBe(true);

    const notJson = harness([answer(200, 'hello')], { retries: 0 });
    expect(((await rejection(notJson.client.getParams())) as Error).cause).toBeInstanceOf(SyntaxError);

    const badModel = harness([answer(200, Uint8Array.of(0, 0, 0, 1, 9, 0, 0, 0, 0, 0, 0, 0))], { retries: 0 });
    expect(isPetError(((await rejection(badModel.client.getModel())) as Error).cause, 'invalid-field')).toBe(true);
  });

  it('an unexpected status is unavailable, not accepted', async () => {
    const { client } = harness([answer(200), answer(302)], { retries: 0 });
    expect(await rejection(client.postMessage(new Uint8Array(1)))).toBeInstanceOf(CoordinatorUnavailableError);
    expect(await rejection(client.getModel())).toMatchObject({ name: 'CoordinatorUnavailableError', status: 302 });
  });
});

describe('HttpCoordinatorClient: abort and options', () => {
  it('passes the signal to fetch and stops retrying once it aborts, rejecting with its reason', async () => {
    const controller = new AbortController();
    const reason = new Error('stopped');
    const { client, calls } = harness([answer(503), answer(202)], { signal: controller.signal }, () =>
      controller.abort(reason),
    );
    expect(await rejection(client.postMessage(new Uint8Array(1)))).toBe(reason);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.init?.signal).toBe(controller.signal);
    // already aborted: no request at all
    expect(await rejection(client.getParams())).toBe(reason);
    expect(calls).toHaveLength(1);
  });

  it('a fetch that fails because of the abort rejects with the reason, not as unavailable', async () => {
    const controller = new AbortController();
    const fetch: FetchLike = async () => {
      controller.abort('bye');
      throw new Error('The operation was aborted');
    };
    const client = new HttpCoordinatorClient('https://c.test', { fetch, signal: controller.signal });
    expect(await rejection(client.getParams())).toBe('bye');
  });

  it('calls fetch unbound (browsers refuse `fetch` called as a method of another object)', async () => {
    let self: unknown = 'unset';
    const fetch: FetchLike = async function (this: unknown) {
      self = this;
      return answer(204);
    };
    await new HttpCoordinatorClient('https://c.test', { fetch }).getParams();
    expect(self).toBeUndefined();
  });

  it('the platform fetch and AbortSignal fit the structural types', () => {
    const platform: FetchLike = fetch;
    const client = new HttpCoordinatorClient('https://c.test', { fetch, signal: new AbortController().signal });
    expect(typeof platform).toBe('function');
    expect(client).toBeInstanceOf(HttpCoordinatorClient);
  });

  it('rejects invalid retry settings', () => {
    const fetch: FetchLike = async () => answer(204);
    for (const bad of [{ retries: -1 }, { backoffMs: 1.5 }, { maxBackoffMs: Number.NaN }]) {
      expect(() => new HttpCoordinatorClient('https://c.test', { fetch, ...bad })).toThrow(PetError);
    }
  });
});
