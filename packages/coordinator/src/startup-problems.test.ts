/** Start-up checks: what a coordinator on a non-loopback host refuses, and what it warns about. */

import { describe, expect, it } from 'vitest';
import { parseSettings } from './settings.ts';
import { startupProblems } from './startup-problems.ts';

const STRONG = 'q3W9v1fK0pXo7m2Zr8cYbT5nL4hJ6gD1sA0eU9iO2wE';

describe('startupProblems', () => {
  const settings = (env: Record<string, string> = {}) => parseSettings(undefined, env);

  it('accepts the defaults on loopback, warning about the default token', () => {
    const report = startupProblems(settings(), '127.0.0.1');
    expect(report.problems).toEqual([]);
    expect(report.warnings.join('\n')).toMatch(/PETFL_API_ADMIN_TOKEN/);
  });

  it('refuses the default or a short admin token on a non-loopback host, naming PETFL_API_ADMIN_TOKEN', () => {
    const open = { PETFL_ADMISSION_OPEN_ON_PUBLIC_HOST: 'true' };
    for (const token of [undefined, 'x'.repeat(31)]) {
      const env = token === undefined ? open : { ...open, PETFL_API_ADMIN_TOKEN: token };
      const { problems } = startupProblems(settings(env), '0.0.0.0');
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/PETFL_API_ADMIN_TOKEN/);
      expect(problems[0]).toMatch(/--generate-admin-token/);
      if (token !== undefined) expect(problems[0]).not.toContain(token);
    }
    expect(startupProblems(settings({ ...open, PETFL_API_ADMIN_TOKEN: 'x'.repeat(32) }), '0.0.0.0').problems).toEqual(
      [],
    );
  });

  it('refuses open admission on a non-loopback host unless open_on_public_host is set', () => {
    const strong = { PETFL_API_ADMIN_TOKEN: STRONG };
    const refused = startupProblems(settings(strong), '192.168.1.2').problems;
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(/admission\.kind.*open_on_public_host/);
    expect(
      startupProblems(settings({ ...strong, PETFL_ADMISSION_OPEN_ON_PUBLIC_HOST: 'true' }), '192.168.1.2').problems,
    ).toEqual([]);
    const allowlist = { ...strong, PETFL_ADMISSION_KIND: 'allowlist', PETFL_ADMISSION_ALLOWLIST: 'A'.repeat(43) };
    expect(startupProblems(settings(allowlist), '::').problems).toEqual([]);
  });

  it('lists every problem at once', () => {
    expect(startupProblems(settings(), 'example.com').problems).toHaveLength(2);
  });

  it('warns when unsafe small rounds are allowed', () => {
    const report = startupProblems(
      settings({ PETFL_API_ADMIN_TOKEN: STRONG, PETFL_SAFETY_ALLOW_UNSAFE_SMALL_ROUNDS: 'true' }),
      '127.0.0.1',
    );
    expect(report.problems).toEqual([]);
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]).toMatch(/allow_unsafe_small_rounds/);
  });
});
