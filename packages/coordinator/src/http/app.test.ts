import { afterEach, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  type Harness,
  identities,
  runRound,
  settle,
  startHarness,
  testSettings,
} from '../../test-support/harness.ts';
import { ManualClock } from '../../test-support/manual-clock.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('operator API', () => {
  it('refuses requests without the bearer token', async () => {
    h = await startHarness();
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: ADMIN_TOKEN }]) {
      const res = await h.app.request('/admin/status', { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await res.json()).toMatchObject({ code: 'unauthorized' });
    }
  });

  it('reports status with deadlines, counts and settings', async () => {
    const clock = new ManualClock(1_000_000);
    h = await startHarness(testSettings(), { clock });
    const status = await (await h.admin('/status')).json();
    expect(status).toMatchObject({
      roundId: 1,
      phase: 'sum',
      paused: false,
      phaseStartedAt: 1_000_000,
      deadlines: { minAt: 1_000_000, maxAt: 1_060_000 },
      counts: { sum: 0, update: 0, sum2: 0 },
      settings: { mask: { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' }, modelLength: 1000 },
      latestModelRoundId: null,
    });
    expect(JSON.stringify(status)).not.toContain(ADMIN_TOKEN);
  });

  it('pause lets the round finish and starts no new one until resume', async () => {
    h = await startHarness();
    const pool = identities(h.crypto, 80, 20);
    expect((await h.admin('/pause', { method: 'POST' })).status).toBe(200);
    await runRound(h, pool, { sum: 3, update: 10 }, 1);
    expect(h.coordinator.status()).toMatchObject({ phase: 'idle', paused: true, roundId: null, latestModelRoundId: 1 });
    expect((await h.fetch('/params')).status).toBe(204);
    const resumed = await (await h.admin('/resume', { method: 'POST' })).json();
    expect(resumed).toMatchObject({ phase: 'sum', paused: false, roundId: 2 });
  });

  it('changes the next rounds’ settings, validated, and lists every problem', async () => {
    const clock = new ManualClock();
    h = await startHarness(testSettings({ PETFL_PET_SUM_TIME_MAX_MS: '1000' }), { clock });
    const bad = await h.admin('/settings', {
      method: 'PUT',
      body: JSON.stringify({ sum: { probability: 0 }, update: { count: { min: 0 } }, nope: 1 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { code: string; problems: string[] };
    expect(body.code).toBe('invalid-settings');
    expect(body.problems).toHaveLength(3);
    expect(body.problems).toEqual([
      'pet.nope: not a setting',
      'pet.sum.probability: expected a probability in (0, 1], got 0',
      'pet.update.count.min: expected an integer in 1..9007199254740991, got 0',
    ]);

    const ok = await h.admin('/settings', {
      method: 'PUT',
      body: JSON.stringify({ sum: { probability: 0.3 }, update: { time: { max_ms: 30000 } } }),
    });
    expect(ok.status).toBe(200);
    // the round in progress keeps its settings; the next one uses the new ones
    expect((await h.fetch('/params').then((r) => r.json())) as object).toMatchObject({ sumProbability: 0.2 });
    clock.advance(1000); // the sum phase times out: a new round starts
    await settle(() => h?.coordinator.status().roundId === 2);
    expect((await h.fetch('/params').then((r) => r.json())) as object).toMatchObject({ sumProbability: 0.3 });
    expect(h.coordinator.status().settings.round?.update.time.maxMs).toBe(30000);
  });

  it('lists round history with phase durations and participants', async () => {
    h = await startHarness();
    await runRound(h, identities(h.crypto, 80, 21), { sum: 3, update: 10 }, 2);
    const { rounds } = (await (await h.admin('/rounds?limit=5')).json()) as { rounds: object[] };
    expect(rounds[0]).toMatchObject({
      roundId: 1,
      outcome: 'completed',
      participants: { sum: 3, update: 10, sum2: 3 },
      phaseDurationsMs: {
        sum: expect.any(Number),
        update: expect.any(Number),
        sum2: expect.any(Number),
        unmask: expect.any(Number),
      },
    });
    expect((await h.admin('/rounds?limit=0')).status).toBe(400);
  });
});

describe('GET /phase (long poll)', () => {
  /** A coordinator on a manual clock, and `GET /phase?<query>`'s token (a 200, not to be cached). */
  async function phaseHarness(): Promise<{
    harness: Harness;
    clock: ManualClock;
    phase: (query: string) => Promise<string>;
  }> {
    const clock = new ManualClock();
    const harness = await startHarness(testSettings(), { clock });
    h = harness;
    const phase = async (query: string) => {
      const res = await harness.fetch(`/phase?${query}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      return ((await res.json()) as { token: string }).token;
    };
    return { harness, clock, phase };
  }

  it('answers at once when the token differs, else when the phase changes or the wait ends', async () => {
    const { harness, clock, phase } = await phaseHarness();
    // Unknown or stale token, or no wait: the current one at once.
    expect(await phase('after=&wait_ms=20000')).toBe('1.sum');
    expect(await phase('after=0.idle&wait_ms=20000')).toBe('1.sum');
    expect(await phase('after=1.sum')).toBe('1.sum');

    // The same token: held until the sum phase ends…
    let answered: string | undefined;
    const held = phase('after=1.sum&wait_ms=20000').then((token) => {
      answered = token;
      return token;
    });
    await settle();
    expect(answered).toBeUndefined();
    await runRound(harness, identities(harness.crypto, 80, 31), { sum: 3, update: 10 }, 5);
    expect(await held).toBe('1.update');

    // …or until the wait is over, with the token unchanged.
    const current = harness.coordinator.phaseToken();
    expect(current).toBe('2.sum');
    const timedOut = phase(`after=${current}&wait_ms=5000`);
    await settle();
    clock.advance(5000);
    expect(await timedOut).toBe(current);

    // Shutting down releases the long polls.
    const released = phase(`after=${current}&wait_ms=30000`);
    await settle();
    await harness.coordinator.shutdown();
    expect(await released).toBe('2.shutdown');
    expect(harness.coordinator.phaseWaiters()).toBe(0);

    // Once shut down, a wait on the final token is answered at once, not held.
    let final: string | undefined;
    void phase('after=2.shutdown&wait_ms=30000').then((token) => {
      final = token;
    });
    await settle();
    expect(final).toBe('2.shutdown');
  });

  it('with until=round, holds through the later phases of the token’s round and answers when it ends', async () => {
    const { harness, clock, phase } = await phaseHarness();
    // Held while round 1 goes from sum through update and sum2 (a plain poll answers at '1.update')…
    const seen: string[] = [];
    const held = phase('after=1.sum&wait_ms=20000&until=round').then((token) => {
      seen.push(token);
      return token;
    });
    const plain = phase('after=1.sum&wait_ms=20000');
    await settle();
    expect(harness.coordinator.phaseWaiters()).toBe(2);
    await runRound(harness, identities(harness.crypto, 80, 31), { sum: 3, update: 10 }, 5);
    expect(await plain).toBe('1.update');
    // …and answered with the next round's token.
    expect(await held).toBe('2.sum');
    expect(seen).toEqual(['2.sum']);

    // A token of an earlier round, or a later phase than the current one (a jump back), is answered at once.
    expect(await phase('after=1.update&wait_ms=20000&until=round')).toBe('2.sum');
    expect(await phase('after=2.update&wait_ms=20000&until=round')).toBe('2.sum');
    // The same token is held until the wait is over, as without until.
    const timedOut = phase('after=2.sum&wait_ms=5000&until=round');
    await settle();
    expect(harness.coordinator.phaseWaiters()).toBe(1);
    clock.advance(5000);
    expect(await timedOut).toBe('2.sum');

    // Shutting down is a change whatever the round.
    const released = phase('after=2.sum&wait_ms=30000&until=round');
    await settle();
    await harness.coordinator.shutdown();
    expect(await released).toBe('2.shutdown');
  });

  it('accepts the longest wait and token', async () => {
    h = await startHarness();
    const res = await h.fetch(`/phase?after=${'x'.repeat(64)}&wait_ms=30000`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ token: '1.sum' });
  });

  it('refuses a bad wait or token with 400', async () => {
    h = await startHarness();
    const long = `wait_ms=${'9'.repeat(1000)}`;
    for (const query of [
      'wait_ms=-1',
      'wait_ms=1.5',
      'wait_ms=abc',
      'wait_ms=30001',
      long,
      `after=${'x'.repeat(65)}`,
      'until=phase',
      'until=',
      `until=${'r'.repeat(1000)}`,
    ]) {
      const res = await h.fetch(`/phase?${query}`);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe('invalid-field');
      expect(body.message.length, 'the reason quotes at most the start of a bad value').toBeLessThan(120);
    }
  });
});

describe('GET /model', () => {
  it('answers with a strong ETag per global model, and 304 to a matching If-None-Match', async () => {
    h = await startHarness();
    const before = await h.fetch('/model');
    expect(before.status).toBe(204);
    expect(before.headers.get('etag')).toBeNull();

    const pool = identities(h.crypto, 80, 23);
    await runRound(h, pool, { sum: 3, update: 10 }, 4);
    const first = await h.fetch('/model');
    expect(first.status).toBe(200);
    const tag = first.headers.get('etag') ?? '';
    expect(tag).toMatch(/^"1-[A-Za-z0-9_-]+"$/); // strong: no W/ prefix
    expect(first.headers.get('cache-control')).toBe('no-cache');
    const body = new Uint8Array(await first.arrayBuffer());

    const again = await h.fetch('/model', { headers: { 'if-none-match': tag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(tag);
    expect(again.headers.get('cache-control')).toBe('no-cache');
    expect((await again.arrayBuffer()).byteLength).toBe(0);
    // one of several tags, as a cache holding more than one sends
    expect((await h.fetch('/model', { headers: { 'if-none-match': `"0-x", ${tag}` } })).status).toBe(304);
    const stale = await h.fetch('/model', { headers: { 'if-none-match': '"0-x"' } });
    expect(stale.status).toBe(200);
    expect(new Uint8Array(await stale.arrayBuffer())).toEqual(body);

    // The next round's model has another tag: the old one no longer matches.
    await runRound(h, pool, { sum: 3, update: 10 }, 5);
    const second = await h.fetch('/model', { headers: { 'if-none-match': tag } });
    expect(second.status).toBe(200);
    expect(second.headers.get('etag')).toMatch(/^"2-[A-Za-z0-9_-]+"$/);
  });

  it('keeps the CORS headers on a 304', async () => {
    h = await startHarness(testSettings({ PETFL_API_CORS_ORIGINS: 'http://app.example' }));
    await runRound(h, identities(h.crypto, 80, 24), { sum: 3, update: 10 }, 6);
    const origin = { origin: 'http://app.example' };
    const tag = (await h.fetch('/model', { headers: origin })).headers.get('etag') ?? '';
    const res = await h.fetch('/model', { headers: { ...origin, 'if-none-match': tag } });
    expect(res.status).toBe(304);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://app.example');
    expect(res.headers.get('access-control-expose-headers')).toMatch(/etag/i);
  });
});

describe('operations', () => {
  it('serves health and Prometheus metrics', async () => {
    h = await startHarness();
    expect(await (await h.fetch('/health')).json()).toEqual({ status: 'ok', phase: 'sum', roundId: 1, store: 'ok' });
    await runRound(h, identities(h.crypto, 80, 22), { sum: 3, update: 10 }, 3);
    const text = await (await h.fetch('/metrics')).text();
    expect(text).toMatch(/petfl_rounds_total\{outcome="completed"\} 1/);
    expect(text).toMatch(/petfl_messages_accepted_total\{kind="update"\} 10/);
    expect(text).toMatch(/petfl_phase_duration_seconds_count\{phase="update"\} 1/);
    expect(text).toMatch(/petfl_participants\{phase="sum"\} 0/);
    expect(text).toMatch(/petfl_round_id 2/);
    expect(text).toMatch(/petfl_message_bytes_total \d+/);
  });

  it('answers CORS preflights for configured origins only', async () => {
    h = await startHarness(testSettings({ PETFL_API_CORS_ORIGINS: 'http://app.example' }));
    const preflight = (origin: string) =>
      h?.app.request('/message', {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST' },
      });
    expect((await preflight('http://app.example'))?.headers.get('access-control-allow-origin')).toBe(
      'http://app.example',
    );
    expect((await preflight('http://evil.example'))?.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers unknown routes with a JSON 404', async () => {
    h = await startHarness();
    const res = await h.fetch('/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'not-found' });
  });
});
