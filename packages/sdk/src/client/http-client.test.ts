/**
 * HttpCoordinatorClient against a scripted fake `fetch` (protocol.md §1.2): decoding of every
 * route, 204 as "not yet", retries with capped exponential backoff for transient failures only,
 * 4xx as CoordinatorRejectedError without a retry, malformed bodies, and aborting. The clock
 * records the backoff instead of sleeping.
 */

import { createCoordinatorApp, MemoryModelStore, parseSettings } from '@petfl/coordinator';
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
import type { AbortSignalLike, Clock } from '../state-machine/io.ts';
import { AdmissionTokenError } from './admission-token.ts';
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
    expect(await rejection(client.waitForPhaseChange('3.update', 99_999, undefined, true))).toBeInstanceOf(
      CoordinatorUnavailableError,
    );
    // capped at the coordinator's limit; untilRound asks to hear only of the round's end
    expect(calls[1]?.url).toBe('https://coordinator.test/api/phase?after=3.update&wait_ms=30000&until=round');
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
    const signature = new Uint8Array(64).fill(0xfe);
    const { client, calls } = harness([
      answer(200, encodeSumDict(sums)),
      answer(200, encodeUpdateSeedDict(seeds)),
      answer(200, encodeGlobalModel(model)),
      answer(204),
      answer(204),
      answer(204),
    ]);
    expect(await client.getSums()).toStrictEqual(sums);
    expect(await client.getSeeds(sumPk, signature)).toStrictEqual(seeds);
    expect(await client.getModel()).toStrictEqual(model);
    expect(await client.getSums()).toBeUndefined();
    expect(await client.getSeeds(sumPk, signature)).toBeUndefined();
    expect(await client.getModel()).toBeUndefined();
    expect(calls[1]?.url).toBe(
      `https://coordinator.test/api/seeds?pk=${toBase64Url(sumPk)}&sig=${toBase64Url(signature)}`,
    );
    expect(toBase64Url(sumPk)).toMatch(/^[A-Za-z0-9_-]{43}$/); // URL-safe as it is
  });
});

describe('HttpCoordinatorClient: GET /model revalidates (protocol.md §3.10)', () => {
  const withTag = (response: ResponseLike, etag: string): ResponseLike => ({
    ...response,
    headers: new Headers({ etag }),
  });

  it('keeps the model with its ETag, sends If-None-Match, and answers a 304 with the kept model', async () => {
    const first = { roundId: 6, model: Float32Array.of(0.5, -1.5) };
    const second = { roundId: 7, model: Float32Array.of(2, 3) };
    const { client, calls } = harness([
      withTag(answer(200, encodeGlobalModel(first)), '"6-abc"'),
      answer(304),
      answer(304),
      withTag(answer(200, encodeGlobalModel(second)), '"7-def"'),
      answer(304),
      answer(204),
      answer(200, encodeGlobalModel(first)), // no ETag: nothing is kept
      answer(200, encodeGlobalModel(first)),
    ]);
    const got = await client.getModel();
    expect(got).toStrictEqual(first);
    const again = await client.getModel();
    expect(again).toStrictEqual(first);
    // The model is a view into the kept body, not a copy of it; a 304 views the same bytes again.
    expect(again?.model.buffer).toBe(got?.model.buffer);
    expect(await client.getModel()).toStrictEqual(first);
    expect(await client.getModel()).toStrictEqual(second);
    expect(await client.getModel()).toStrictEqual(second);
    expect(await client.getModel()).toBeUndefined();
    expect(await client.getModel()).toStrictEqual(first);
    expect(await client.getModel()).toStrictEqual(first);
    const sent = calls.map((c) => (c.init?.headers as Record<string, string> | undefined)?.['if-none-match']);
    expect(sent).toEqual([undefined, '"6-abc"', '"6-abc"', '"6-abc"', '"7-def"', '"7-def"', undefined, undefined]);
  });

  it('sends the kept ETag on retries too, and a 304 without a kept model is a transient failure', async () => {
    const model = { roundId: 2, model: Float32Array.of(1) };
    const { client, calls } = harness([
      withTag(answer(200, encodeGlobalModel(model)), '"2-x"'),
      answer(503),
      answer(304),
    ]);
    await client.getModel();
    expect(await client.getModel()).toStrictEqual(model);
    expect(calls.map((c) => (c.init?.headers as Record<string, string>)?.['if-none-match'])).toEqual([
      undefined,
      '"2-x"',
      '"2-x"',
    ]);
    const fresh = harness([answer(304), answer(304), answer(304), answer(304)]);
    expect(await rejection(fresh.client.getModel())).toBeInstanceOf(CoordinatorUnavailableError);
  });

  it('against a coordinator: the second GET /model is a 304 with no body, and the model is the same', async () => {
    const models = new MemoryModelStore();
    await models.save({ roundId: 3, model: Float64Array.from({ length: 1000 }, (_, i) => i / 7) });
    const settings = parseSettings('[model]\nlength = 1000\n', {});
    const created = await createCoordinatorApp(settings, { crypto, models });
    const seen: { status: number; bytes: number }[] = [];
    const fetch: FetchLike = async (url, init) => {
      const response = await created.app.request(url, init as RequestInit);
      const body = new Uint8Array(await response.clone().arrayBuffer());
      seen.push({ status: response.status, bytes: body.length });
      return response as unknown as ResponseLike;
    };
    try {
      const client = new HttpCoordinatorClient('http://127.0.0.1:8081', { fetch });
      const first = await client.getModel();
      const second = await client.getModel();
      expect(first?.roundId).toBe(3);
      expect(second).toStrictEqual(first);
      expect(seen.map((s) => s.status)).toEqual([200, 304]);
      expect(seen[0]?.bytes).toBe(12 + 4 * 1000); // the f32 model
      expect(seen[1]?.bytes).toBe(0);
    } finally {
      await created.close();
    }
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
    expect(await rejection(client.getSeeds(new Uint8Array(32), new Uint8Array(64)))).toMatchObject({
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

describe('HttpCoordinatorClient: GET /seeds?so_far=1 (ADR 0017)', () => {
  const key = (b: number) => toBase64Url(new Uint8Array(32).fill(b));
  const seeds = new Map([[key(3), new Uint8Array(80).fill(7)]]);
  const sumPk = new Uint8Array(32).fill(0xfb);
  const signature = new Uint8Array(64).fill(0xfe);
  const marked = (which: string) => withHeaders(answer(200, encodeUpdateSeedDict(seeds)), { 'Petfl-Seeds': which });

  it('tells a dictionary so far from the final one by its petfl-seeds header', async () => {
    const { client, calls } = harness([answer(204), marked('so-far'), marked('final')]);
    expect(await client.getSeedsSoFar(sumPk, signature)).toBeUndefined();
    expect(await client.getSeedsSoFar(sumPk, signature)).toStrictEqual({ seeds, final: false });
    expect(await client.getSeedsSoFar(sumPk, signature)).toStrictEqual({ seeds, final: true });
    expect(calls.map((c) => c.url)).toEqual(
      Array(3).fill(
        `https://coordinator.test/api/seeds?pk=${toBase64Url(sumPk)}&sig=${toBase64Url(signature)}&so_far=1`,
      ),
    );
  });

  it('an answer without the header (an older coordinator, a hidden header) is not used: it asks without so_far from then on', async () => {
    for (const unmarked of [answer(200, encodeUpdateSeedDict(seeds)), marked('partial')]) {
      const { client, calls } = harness([unmarked, answer(204), answer(200, encodeUpdateSeedDict(seeds))]);
      expect(await client.getSeedsSoFar(sumPk, signature)).toBeUndefined();
      expect(await client.getSeedsSoFar(sumPk, signature)).toBeUndefined();
      expect(await client.getSeedsSoFar(sumPk, signature)).toStrictEqual({ seeds, final: true });
      expect(calls.map((c) => c.url.endsWith('&so_far=1'))).toEqual([true, false, false]);
    }
  });
});

/** `response` with headers, as the platform's Response has them (names case-insensitive). */
function withHeaders(response: ResponseLike, headers: Record<string, string>): ResponseLike {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { ...response, headers: { get: (name) => lower.get(name.toLowerCase()) ?? null } };
}

const authorizationOf = (call: { init: RequestInitLike | undefined } | undefined): unknown =>
  (call?.init?.headers as Record<string, string> | undefined)?.['authorization'];

/** A base64url JWT with the given payload (the signature part is not checked by the client). */
function jwt(payload: object): string {
  const part = (value: object) => toBase64Url(new TextEncoder().encode(JSON.stringify(value)));
  return `${part({ alg: 'EdDSA', typ: 'JWT' })}.${part(payload)}.${toBase64Url(new Uint8Array(64).fill(1))}`;
}

describe('HttpCoordinatorClient: the admission token', () => {
  it('a string token goes as Authorization: Bearer on every request, beside the other headers', async () => {
    const { client, calls } = harness([answer(204), answer(202), json(200, { token: '1.sum' }), answer(204)], {
      token: 'tok-123',
    });
    await client.getParams();
    await client.postMessage(new Uint8Array(3));
    await client.waitForPhaseChange('', 10);
    await client.getSeeds(new Uint8Array(32), new Uint8Array(64));
    expect(calls.map(authorizationOf)).toEqual(Array(4).fill('Bearer tok-123'));
    expect(calls[1]?.init?.headers).toEqual({
      'content-type': 'application/octet-stream',
      authorization: 'Bearer tok-123',
    });
  });

  it('without a token no Authorization header is sent', async () => {
    const { client, calls } = harness([answer(204)]);
    await client.getParams();
    expect(calls[0]?.init).toEqual({ method: 'GET' });
  });

  it('a token function is called lazily, once, and its answer cached (concurrent requests share one call)', async () => {
    const source = vi.fn(async () => 'opaque-token');
    const { client, calls } = harness([answer(204), answer(204), answer(204), answer(204)], { token: source });
    expect(source).not.toHaveBeenCalled();
    await Promise.all([client.getParams(), client.getSums(), client.getModel()]);
    await client.getParams();
    expect(source).toHaveBeenCalledTimes(1);
    expect(calls.map(authorizationOf)).toEqual(Array(4).fill('Bearer opaque-token'));
  });

  it('a JWT is renewed shortly before its exp claim (read without verifying)', async () => {
    let now = 1_000_000_000_000;
    const tokens = [jwt({ sub: 'a', exp: now / 1000 + 600 }), jwt({ sub: 'b', exp: now / 1000 + 1200 })];
    const source = vi.fn(() => tokens[source.mock.calls.length - 1] as string);
    const fetch: FetchLike = async () => answer(204);
    const seen: unknown[] = [];
    const client = new HttpCoordinatorClient('https://c.test', {
      fetch: async (url, init) => {
        seen.push(authorizationOf({ init }));
        return fetch(url, init);
      },
      clock: { now: () => now, sleep: async () => {} },
      token: source,
    });
    await client.getParams();
    now += 569_000; // 31 s before exp: the cached token still serves
    await client.getParams();
    expect(source).toHaveBeenCalledTimes(1);
    now += 2_000; // 29 s before exp: time for a fresh one
    await client.getParams();
    expect(source).toHaveBeenCalledTimes(2);
    expect(seen).toEqual([`Bearer ${tokens[0]}`, `Bearer ${tokens[0]}`, `Bearer ${tokens[1]}`]);
  });

  it("a 401 'not-admitted' calls the function again and repeats the request once", async () => {
    const source = vi.fn().mockReturnValueOnce('stale').mockReturnValueOnce('fresh').mockReturnValue('fresher');
    const notAdmitted = () => json(401, { code: 'not-admitted', message: 'token expired' });
    const { client, calls, sleeps } = harness([notAdmitted(), answer(202), notAdmitted(), notAdmitted()], {
      token: source,
    });
    await client.postMessage(new Uint8Array(3));
    expect(calls.map(authorizationOf)).toEqual(['Bearer stale', 'Bearer fresh']);
    expect(calls[1]?.init?.body).toBe(calls[0]?.init?.body);

    // refused again after the renewal: surfaces as today, without a third attempt
    const error = await rejection(client.getParams());
    expect(error).toBeInstanceOf(CoordinatorRejectedError);
    expect(error).toMatchObject({
      status: 401,
      code: 'not-admitted',
      message: 'GET /params: rejected with 401 not-admitted: token expired',
    });
    expect(calls.map(authorizationOf).slice(2)).toEqual(['Bearer fresh', 'Bearer fresher']);
    expect(source).toHaveBeenCalledTimes(3);
    expect(sleeps).toEqual([]);
  });

  it('a string token, or a 401 with another code, is not retried', async () => {
    const fixed = harness([json(401, { code: 'not-admitted', message: 'no' })], { token: 'fixed' });
    expect(await rejection(fixed.client.getParams())).toMatchObject({ code: 'not-admitted' });
    expect(fixed.calls).toHaveLength(1);

    const source = vi.fn(() => 'tok');
    const other = harness([json(401, { code: 'bad-signature', message: 'no' })], { token: source });
    expect(await rejection(other.client.postMessage(new Uint8Array(1)))).toMatchObject({ code: 'bad-signature' });
    expect(other.calls).toHaveLength(1);
    expect(source).toHaveBeenCalledTimes(1);
  });

  it('a token function that throws or answers no token is an AdmissionTokenError; the next request asks again', async () => {
    const source = vi
      .fn<() => Promise<string>>()
      .mockRejectedValueOnce(new Error('auth server down'))
      .mockResolvedValueOnce('')
      .mockResolvedValue('ok');
    const { client, calls } = harness([answer(204)], { token: source });
    const thrown = await rejection(client.getParams());
    expect(thrown).toBeInstanceOf(AdmissionTokenError);
    expect(thrown).toMatchObject({
      code: 'admission-token',
      message: 'options.token: the token function failed: auth server down',
    });
    expect((thrown as Error).cause).toMatchObject({ message: 'auth server down' });
    expect(await rejection(client.getParams())).toMatchObject({
      name: 'AdmissionTokenError',
      message: 'options.token: the token function must return a non-empty string, got an empty string',
    });
    expect(calls).toHaveLength(0); // nothing was sent without a token
    await client.getParams();
    expect(calls.map(authorizationOf)).toEqual(['Bearer ok']);
  });

  it('a synchronous throw is a rejection too, never an exception out of the call', async () => {
    const { client } = harness([], {
      token: () => {
        throw new TypeError('boom');
      },
    });
    const pending = client.getSums();
    expect(pending).toBeInstanceOf(Promise);
    expect(await rejection(pending)).toBeInstanceOf(AdmissionTokenError);
  });

  it('rejects a token option that is neither a non-empty string nor a function', () => {
    const fetch: FetchLike = async () => answer(204);
    for (const token of ['', 'a\r\nb', 42 as unknown as string]) {
      expect(() => new HttpCoordinatorClient('https://c.test', { fetch, token })).toThrow(PetError);
    }
  });
});

describe('HttpCoordinatorClient: Retry-After', () => {
  const shed = (status: number, code: string, seconds: string) =>
    withHeaders(json(status, { code, message: 'later' }), { 'Retry-After': seconds });

  it('waits as 503 busy/unavailable and 429 rate-limited ask, capped at 30 s, then repeats the request', async () => {
    const { client, calls, sleeps } = harness([
      shed(503, 'busy', '2'),
      shed(429, 'rate-limited', '120'),
      shed(503, 'unavailable', '0'),
      answer(202),
    ]);
    await client.postMessage(new Uint8Array(5));
    expect(calls).toHaveLength(4);
    expect(sleeps).toEqual([2000, 30_000, 0]);
  });

  it('gives up after 3 waits: a 429 surfaces as rejected, a 503 as unavailable without further backoff', async () => {
    const limited = harness(Array.from({ length: 5 }, () => shed(429, 'rate-limited', '1')));
    const error = await rejection(limited.client.getParams());
    expect(error).toBeInstanceOf(CoordinatorRejectedError);
    expect(error).toMatchObject({
      status: 429,
      code: 'rate-limited',
      message: 'GET /params: rejected with 429 rate-limited: later',
    });
    expect(limited.calls).toHaveLength(4);
    expect(limited.sleeps).toEqual([1000, 1000, 1000]);

    const busy = harness(Array.from({ length: 8 }, () => shed(503, 'busy', '3')));
    const unavailable = await rejection(busy.client.postMessage(new Uint8Array(1)));
    expect(unavailable).toBeInstanceOf(CoordinatorUnavailableError);
    expect(unavailable).toMatchObject({ status: 503, message: 'POST /message: answered 503 busy: later' });
    expect(busy.calls).toHaveLength(4);
    expect(busy.sleeps).toEqual([3000, 3000, 3000]);
  });

  it('without a usable Retry-After, or for other codes, the answer is handled as before', async () => {
    const noHeader = harness([json(429, { code: 'rate-limited', message: 'later' })]);
    expect(await rejection(noHeader.client.getParams())).toMatchObject({ status: 429, code: 'rate-limited' });
    expect(noHeader.sleeps).toEqual([]);

    // an HTTP-date, a negative or a fractional value is not delay-seconds; a 503 of another code keeps backoff
    const others = harness(
      [
        withHeaders(json(503, { code: 'busy' }), { 'retry-after': 'Wed, 21 Oct 2026 07:28:00 GMT' }),
        withHeaders(json(503, { code: 'busy' }), { 'retry-after': '-1' }),
        shed(503, 'crypto-init', '9'),
        answer(202),
      ],
      { backoffMs: 100, maxBackoffMs: 100 },
    );
    await others.client.postMessage(new Uint8Array(1));
    expect(others.sleeps).toHaveLength(3);
    for (const ms of others.sleeps) expect(ms).toBeLessThanOrEqual(100);

    const wrongStatus = harness([withHeaders(json(400, { code: 'busy' }), { 'retry-after': '1' })]);
    expect(await rejection(wrongStatus.client.getParams())).toMatchObject({ status: 400 });
    expect(wrongStatus.sleeps).toEqual([]);
  });

  it('the wait ends when the signal aborts, and the request rejects with its reason', async () => {
    const controller = new AbortController();
    const reason = new Error('stopped');
    const waited: (AbortSignalLike | undefined)[] = [];
    const fetch: FetchLike = async () => shed(503, 'busy', '25');
    const client = new HttpCoordinatorClient('https://c.test', {
      fetch,
      signal: controller.signal,
      clock: {
        now: () => 0,
        sleep: (ms, signal) => {
          waited.push(signal);
          expect(ms).toBe(25_000);
          return new Promise((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
        },
      },
    });
    const pending = rejection(client.getParams());
    await vi.waitFor(() => expect(waited).toHaveLength(1));
    expect(waited[0]).toBe(controller.signal);
    controller.abort(reason);
    expect(await pending).toBe(reason);
  });

  it('a long poll waits too, and its own cancel signal ends the wait', async () => {
    let sleeping: (() => void) | undefined;
    const fetch: FetchLike = async () => shed(429, 'rate-limited', '5');
    const client = new HttpCoordinatorClient('https://c.test', {
      fetch,
      clock: {
        now: () => 0,
        sleep: (_ms, signal) =>
          new Promise((resolve) => {
            sleeping = resolve;
            signal?.addEventListener('abort', () => resolve(), { once: true });
          }),
      },
    });
    const cancel = new AbortController();
    const pending = rejection(client.waitForPhaseChange('1.sum', 1000, cancel.signal));
    await vi.waitFor(() => expect(sleeping).toBeDefined());
    cancel.abort();
    expect(await pending).toMatchObject({
      name: 'CoordinatorUnavailableError',
      message: 'GET /phase: aborted while waiting to retry',
    });
  });
});

describe('HttpCoordinatorClient: plain http', () => {
  it('warns once per client for http to a non-loopback host, naming the host only', () => {
    const fetch: FetchLike = async () => answer(204);
    const warnings: string[] = [];
    const log = { warn: (message: string) => warnings.push(message) };
    new HttpCoordinatorClient('http://10.1.2.3:8080/api', { fetch, log, token: 'secret-token' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/plain http to 10\.1\.2\.3.*not loopback.*use https/);
    expect(warnings[0]).not.toContain('secret-token');
    new HttpCoordinatorClient('http://coordinator.example', { fetch, log });
    expect(warnings).toHaveLength(2);
    for (const quiet of [
      'https://coordinator.example',
      'http://127.0.0.1:3000',
      'http://localhost',
      'http://[::1]:80',
    ]) {
      new HttpCoordinatorClient(quiet, { fetch, log });
    }
    expect(warnings).toHaveLength(2);
  });

  it('the warning goes to console.warn by default', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      new HttpCoordinatorClient('http://192.168.0.10', { fetch: async () => answer(204) });
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toMatch(
        /^\[petfl\] the coordinator URL is plain http to 192\.168\.0\.10/,
      );
    } finally {
      warn.mockRestore();
    }
  });
});

describe('HttpCoordinatorClient: the signed GET /seeds', () => {
  it('sends pk and sig; a signature of the wrong length rejects before any request; errors omit the signature', async () => {
    const { client, calls } = harness([json(404, { code: 'unknown-sum-participant', message: 'no' })]);
    await expect(client.getSeeds(new Uint8Array(32), new Uint8Array(63))).rejects.toThrow(
      'seeds request signature: expected 64 bytes, got 63 bytes',
    );
    expect(await rejection(client.getSeeds(new Uint8Array(32), new Uint8Array(0)))).toBeInstanceOf(PetError);
    expect(calls).toHaveLength(0);
    const signature = new Uint8Array(64).fill(0xab);
    const error = await rejection(client.getSeeds(new Uint8Array(32), signature));
    expect((error as Error).message).toBe('GET /seeds: rejected with 404 unknown-sum-participant: no');
    expect(calls[0]?.url).toContain(`&sig=${toBase64Url(signature)}`);
  });
});
