/**
 * Failed admin authentications are limited per client address (docs/security.md §4), and
 * `GET /metrics` takes a bearer token when `api.metrics_token` is set.
 */

import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startHarness, testSettings } from '../../test-support/harness.ts';
import { ManualClock } from '../../test-support/manual-clock.ts';
import { createApp } from './app.ts';
import { FAILURE_WINDOW_MS, FailureLimiter } from './failure-limiter.ts';

describe('FailureLimiter', () => {
  it('limits an address after perMinute failures until its window has passed', () => {
    const clock = new ManualClock();
    const limiter = new FailureLimiter(2, () => clock.now());
    expect(limiter.check('a')).toEqual({ kind: 'allowed' });
    limiter.fail('a');
    clock.advance(10_000);
    limiter.fail('a');
    expect(limiter.check('a')).toEqual({ kind: 'limited', retryAfterMs: FAILURE_WINDOW_MS - 10_000 });
    expect(limiter.check('b')).toEqual({ kind: 'allowed' });
    clock.advance(FAILURE_WINDOW_MS - 10_000);
    expect(limiter.check('a')).toEqual({ kind: 'allowed' });
  });

  it('keeps at most maxAddresses windows', () => {
    const clock = new ManualClock();
    const limiter = new FailureLimiter(1, () => clock.now(), 100);
    for (let i = 0; i < 1000; i++) limiter.fail(`10.0.${i >> 8}.${i & 255}`);
    expect(limiter.size()).toBeLessThanOrEqual(100);
    // the newest addresses are still limited
    expect(limiter.check('10.0.3.231').kind).toBe('limited');
  });
});

describe('admin authentication', () => {
  it('answers 429 with Retry-After after too many failures, even with the right token, until the window passes', async () => {
    const h = await startHarness(testSettings({ PETFL_API_ADMIN_FAILURES_PER_MINUTE: '3' }));
    const clock = new ManualClock();
    const app = createApp({
      coordinator: h.coordinator,
      settings: h.settings,
      crypto: h.crypto,
      metrics: h.metrics,
      clock,
    });
    const status = (token: string) => app.request('/admin/status', { headers: { authorization: `Bearer ${token}` } });
    try {
      expect((await status(ADMIN_TOKEN)).status).toBe(200);
      for (let i = 0; i < 3; i++) expect((await status(`guess-${i}`)).status).toBe(401);
      clock.advance(20_000);
      for (const token of ['guess-3', ADMIN_TOKEN]) {
        const res = await status(token);
        expect(res.status).toBe(429);
        expect(res.headers.get('retry-after')).toBe('40');
        expect(await res.json()).toMatchObject({ code: 'rate-limited' });
      }
      clock.advance(40_000);
      expect((await status(ADMIN_TOKEN)).status).toBe(200);
    } finally {
      await h.close();
    }
  });
});

describe('GET /metrics', () => {
  it('is open while api.metrics_token is empty', async () => {
    const h = await startHarness();
    try {
      expect((await h.fetch('/metrics')).status).toBe(200);
    } finally {
      await h.close();
    }
  });

  it('needs Authorization: Bearer <metrics token> when one is set', async () => {
    const token = 'metrics-token-0123456789';
    const h = await startHarness(testSettings({ PETFL_API_METRICS_TOKEN: token }));
    try {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: token }]) {
        const res = await h.fetch('/metrics', { headers });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(await res.json()).toMatchObject({ code: 'unauthorized' });
      }
      const ok = await h.fetch('/metrics', { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/petfl_round_id 1/);
    } finally {
      await h.close();
    }
  });
});
