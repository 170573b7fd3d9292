/**
 * fetchRunInfo against a fake `fetch`: `{run: null}`, a run decoded and checked field by field,
 * and each way it fails — a malformed answer, a 4xx, a 5xx, a network error, an abort.
 */

import { isPetError } from '@petfl/core';
import { describe, expect, it } from 'vitest';
import { CoordinatorRejectedError, CoordinatorUnavailableError } from './client/coordinator-client.ts';
import type { FetchLike, RequestInitLike, ResponseLike } from './client/http-client.ts';
import { fetchRunInfo, type RunInfo } from './run-info.ts';

function answer(status: number, body: string): ResponseLike {
  return {
    status,
    text: async () => body,
    arrayBuffer: async () => new TextEncoder().encode(body).buffer,
  };
}

/** A fetch answering `response` (an Error is thrown as a network failure), recording its calls. */
function fakeFetch(response: ResponseLike | Error): {
  fetch: FetchLike;
  calls: { url: string; init: RequestInitLike | undefined }[];
} {
  const calls: { url: string; init: RequestInitLike | undefined }[] = [];
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, init });
    if (response instanceof Error) throw response;
    return response;
  };
  return { fetch, calls };
}

const layout = {
  modelLength: 49,
  send: 'update',
  controlVariates: true,
  metrics: ['loss', 'accuracy'],
  maxExamples: 1000,
};
const run = {
  layout,
  strategy: 'fedadam',
  round: 3,
  rounds: 100,
  status: 'running',
  ended: null,
  modelRoundId: 2,
};

async function failureOf(body: unknown, status = 200): Promise<unknown> {
  const { fetch } = fakeFetch(answer(status, typeof body === 'string' ? body : JSON.stringify(body)));
  return fetchRunInfo('https://coordinator.example', { fetch }).then(
    () => expect.fail('expected fetchRunInfo to reject'),
    (error: unknown) => error,
  );
}

describe('fetchRunInfo', () => {
  it('is null when the coordinator runs no training run; asks GET <base>/run', async () => {
    const { fetch, calls } = fakeFetch(answer(200, '{"run":null}'));
    expect(await fetchRunInfo('https://coordinator.example/api//', { fetch })).toBeNull();
    expect(calls).toEqual([{ url: 'https://coordinator.example/api/run', init: { method: 'GET' } }]);
  });

  it('decodes a run: every field, fresh plain data, unknown keys ignored', async () => {
    const { fetch } = fakeFetch(answer(200, JSON.stringify({ run: { ...run, future: 1 }, other: true })));
    const info = await fetchRunInfo('https://coordinator.example', { fetch });
    const expected: RunInfo = {
      layout: {
        modelLength: 49,
        send: 'update',
        controlVariates: true,
        metrics: ['loss', 'accuracy'],
        maxExamples: 1000,
      },
      strategy: 'fedadam',
      round: 3,
      rounds: 100,
      status: 'running',
      ended: null,
      modelRoundId: 2,
      nextRound: 'train',
      privacy: null,
    };
    expect(info).toStrictEqual(expected);
  });

  it('decodes an ended run and a run without a global model yet', async () => {
    const ended = { ...run, status: 'ended', ended: { reason: 'rounds', roundId: 99 }, modelRoundId: null };
    const { fetch } = fakeFetch(answer(200, JSON.stringify({ run: ended })));
    const info = await fetchRunInfo('https://coordinator.example', { fetch });
    expect(info?.status).toBe('ended');
    expect(info?.ended).toStrictEqual({ reason: 'rounds', roundId: 99 });
    expect(info?.modelRoundId).toBeNull();
  });

  it('reads the run’s differential privacy', async () => {
    const privacy = {
      mechanism: 'central-gaussian',
      clipNorm: 0.5,
      noiseMultiplier: 1.1,
      delta: 1e-5,
      epsilon: 2.5,
      rho: 0.1,
      budgetEpsilon: 8,
    };
    const { fetch } = fakeFetch(answer(200, JSON.stringify({ run: { ...run, privacy } })));
    const { rho: _rho, ...expected } = privacy;
    expect((await fetchRunInfo('https://coordinator.example', { fetch }))?.privacy).toStrictEqual(expected);
    const broken = fakeFetch(answer(200, JSON.stringify({ run: { ...run, privacy: { ...privacy, epsilon: -1 } } })));
    await expect(fetchRunInfo('https://coordinator.example', { fetch: broken.fetch })).rejects.toThrow(
      /run\.privacy\.epsilon: expected a finite number ≥ 0/,
    );
  });

  it('reads which kind of round comes next (an older coordinator without the field: train)', async () => {
    const { fetch } = fakeFetch(answer(200, JSON.stringify({ run: { ...run, nextRound: 'evaluate' } })));
    expect((await fetchRunInfo('https://coordinator.example', { fetch }))?.nextRound).toBe('evaluate');
  });

  it.each([
    ['not JSON', 'nope', /malformed run info: .*JSON/],
    ['no run key', {}, /malformed run info: run: missing/],
    ['run not an object', { run: 5 }, /run: expected an object or null, got number 5/],
    ['a bad layout', { run: { ...run, layout: { ...layout, modelLength: 0 } } }, /vector layout: modelLength/],
    ['no layout', { run: { ...run, layout: undefined } }, /vector layout: expected an object/],
    ['an empty strategy', { run: { ...run, strategy: '' } }, /run\.strategy: expected a non-empty string/],
    ['a fractional round', { run: { ...run, round: 1.5 } }, /run\.round: expected an integer ≥ 0, got number 1\.5/],
    ['negative rounds', { run: { ...run, rounds: -1 } }, /run\.rounds: expected an integer ≥ 0/],
    ['an unknown status', { run: { ...run, status: 'paused' } }, /run\.status: expected "running" or "ended"/],
    ['an unknown next round', { run: { ...run, nextRound: 'rest' } }, /run\.nextRound: expected "train" or "evaluate"/],
    ['ended missing', { run: { ...run, ended: undefined } }, /run\.ended: expected an object or null, got undefined/],
    ['ended without a reason', { run: { ...run, ended: { roundId: 1 } } }, /run\.ended\.reason: expected a string/],
    ['ended with a bad round', { run: { ...run, ended: { reason: 'x', roundId: '1' } } }, /run\.ended\.roundId/],
    ['a string modelRoundId', { run: { ...run, modelRoundId: '2' } }, /run\.modelRoundId: expected an integer ≥ 0/],
  ])('a malformed answer (%s) is CoordinatorUnavailableError naming the field', async (_what, body, message) => {
    const error = await failureOf(body);
    expect(error).toBeInstanceOf(CoordinatorUnavailableError);
    const unavailable = error as CoordinatorUnavailableError;
    expect(unavailable.message).toMatch(/^GET \/run: malformed run info: /);
    expect(unavailable.message).toMatch(message);
    expect(unavailable.status).toBe(200);
    expect(unavailable.code).toBe('unavailable');
  });

  it('a 4xx answer is CoordinatorRejectedError with the body code (404: a coordinator without runs)', async () => {
    const error = await failureOf({ code: 'not-found', message: 'no such route' }, 404);
    expect(error).toBeInstanceOf(CoordinatorRejectedError);
    expect(error).toMatchObject({ status: 404, code: 'not-found' });
    expect((error as Error).message).toBe('GET /run: rejected with 404 not-found: no such route');
    const bare = await failureOf('', 403);
    expect(bare).toMatchObject({ status: 403, code: 'unknown', message: 'GET /run: rejected with 403 unknown' });
  });

  it('a 5xx answer or another status is CoordinatorUnavailableError with the status', async () => {
    const busy = await failureOf({ code: 'busy', message: 'later' }, 503);
    expect(busy).toBeInstanceOf(CoordinatorUnavailableError);
    expect(busy).toMatchObject({ status: 503, message: 'GET /run: answered 503 busy: later' });
    const noContent = await failureOf('', 204);
    expect(noContent).toMatchObject({ status: 204, message: 'GET /run: answered 204' });
  });

  it('a network error is CoordinatorUnavailableError with the cause', async () => {
    const cause = new TypeError('fetch failed');
    const { fetch } = fakeFetch(cause);
    const error = await fetchRunInfo('https://coordinator.example', { fetch }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoordinatorUnavailableError);
    expect(error).toMatchObject({ message: 'GET /run: network error: fetch failed', status: undefined, cause });
  });

  it('an abort rejects with the signal reason, before and during the request; the signal reaches fetch', async () => {
    const controller = new AbortController();
    const reason = new Error('stopped');
    const { fetch, calls } = fakeFetch(new TypeError('aborted by the platform'));
    controller.abort(reason);
    await expect(fetchRunInfo('https://c.example', { fetch, signal: controller.signal })).rejects.toBe(reason);
    expect(calls).toHaveLength(0);

    const during = new AbortController();
    const abortingFetch: FetchLike = async (_url, init) => {
      expect(init?.signal).toBe(during.signal);
      during.abort(reason);
      throw new TypeError('aborted by the platform');
    };
    await expect(fetchRunInfo('https://c.example', { fetch: abortingFetch, signal: during.signal })).rejects.toBe(
      reason,
    );
  });

  it('needs a fetch function', async () => {
    const error = await fetchRunInfo('https://c.example', { fetch: 'nope' as unknown as FetchLike }).catch(
      (e: unknown) => e,
    );
    expect(isPetError(error) && error.code === 'invalid-field').toBe(true);
    expect((error as Error).message).toBe("fetchRunInfo fetch: expected a fetch function, got the string 'nope'");
  });
});
