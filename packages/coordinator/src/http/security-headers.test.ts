/** Every coordinator answer carries nosniff and a CSP that lets nothing load, run or frame it. */

import { afterEach, expect, it } from 'vitest';
import { type Harness, startHarness, testSettings } from '../../test-support/harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

it('sets X-Content-Type-Options and a restrictive CSP on every answer, errors included', async () => {
  h = await startHarness(testSettings({ PETFL_API_CORS_ORIGINS: 'http://app.example' }));
  const answers: Response[] = [
    await h.fetch('/params'),
    await h.fetch('/phase?wait_ms=0'),
    await h.fetch('/model'),
    await h.fetch('/health'),
    await h.fetch('/nope'),
    await h.fetch('/phase?wait_ms=x'),
    await h.fetch('/admin/status'),
    await h.admin('/status'),
    await h.fetch('/message', { method: 'POST', body: new Uint8Array(10) }),
    await h.fetch('/message', {
      method: 'OPTIONS',
      headers: { origin: 'http://app.example', 'access-control-request-method': 'POST' },
    }),
  ];
  expect(new Set(answers.map((r) => r.status)).size).toBeGreaterThan(4);
  for (const res of answers) {
    expect(res.headers.get('x-content-type-options'), String(res.status)).toBe('nosniff');
    expect(res.headers.get('content-security-policy'), String(res.status)).toBe(
      "default-src 'none'; frame-ancestors 'none'",
    );
  }
});
