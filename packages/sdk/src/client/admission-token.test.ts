/**
 * admission-token.ts: the token source (a string or a function), its cache, the JWT `exp`
 * refresh and renewal. The HTTP client's use of it is tested in http-client.test.ts.
 */

import { toBase64Url } from '@petfl/core';
import { describe, expect, it, vi } from 'vitest';
import {
  AdmissionToken,
  AdmissionTokenError,
  invalidTokenSource,
  jwtExpiry,
  REFRESH_MARGIN_MS,
} from './admission-token.ts';

const part = (value: unknown) => toBase64Url(new TextEncoder().encode(JSON.stringify(value)));
const jwt = (payload: unknown) => `${part({ alg: 'HS256' })}.${part(payload)}.c2ln`;

describe('jwtExpiry', () => {
  it('reads a numeric exp (seconds) of a three-part base64url token, in ms', () => {
    expect(jwtExpiry(jwt({ exp: 1_900_000_000 }))).toBe(1_900_000_000_000);
    expect(jwtExpiry(jwt({ exp: 1.5, sub: 'x' }))).toBe(1500);
  });

  it('is undefined for opaque tokens and JWTs without a usable exp', () => {
    for (const token of [
      'opaque',
      'a.b',
      `${jwt({ exp: 1 })}.extra`,
      jwt({ sub: 'no exp' }),
      jwt({ exp: '1900000000' }),
      jwt([1, 2]),
      jwt(null),
      `${part({})}.${toBase64Url(new TextEncoder().encode('not json'))}.c2ln`,
      'a.b=.c',
      'a..c',
    ]) {
      expect(jwtExpiry(token), token).toBeUndefined();
    }
  });
});

describe('AdmissionToken', () => {
  it('a string is the token, always; renewing it gives it again', async () => {
    const token = new AdmissionToken('abc', { now: () => 0 });
    expect(token.renewable).toBe(false);
    expect(await token.get()).toBe('abc');
    expect(await token.renew()).toBe('abc');
  });

  it('an opaque token from a function is kept until renew()', async () => {
    let n = 0;
    const token = new AdmissionToken(async () => `t${++n}`, { now: () => 1e15 });
    expect(token.renewable).toBe(true);
    expect(await token.get()).toBe('t1');
    expect(await token.get()).toBe('t1');
    expect(await token.renew()).toBe('t2');
    expect(await token.get()).toBe('t2');
  });

  it(`asks again ${REFRESH_MARGIN_MS / 1000} s before exp, or halfway through a short-lived JWT`, async () => {
    let now = 0;
    const exps = [600, 20];
    const source = vi.fn(() => jwt({ exp: exps.shift() ?? 10_000 }));
    const token = new AdmissionToken(source, { now: () => now });
    await token.get(); // exp 600 s: renewed from 570 s on
    now = 569_999;
    await token.get();
    expect(source).toHaveBeenCalledTimes(1);
    now = 570_000;
    await token.get(); // exp 20 s, already past: fetched now (570 s) it is renewed at once
    expect(source).toHaveBeenCalledTimes(2);
    await token.get();
    expect(source).toHaveBeenCalledTimes(3);

    const short = vi.fn(() => jwt({ exp: 40 })); // 40 s lifetime from 0: renewed from 20 s on
    const halfway = new AdmissionToken(short, { now: () => now });
    now = 0;
    await halfway.get();
    now = 19_999;
    await halfway.get();
    expect(short).toHaveBeenCalledTimes(1);
    now = 20_000;
    await halfway.get();
    expect(short).toHaveBeenCalledTimes(2);
  });

  it('failures are AdmissionTokenError and are not cached', async () => {
    const source = vi
      .fn<() => string | Promise<string>>()
      .mockImplementationOnce(() => {
        throw new Error('offline');
      })
      .mockReturnValueOnce(7 as unknown as string)
      .mockReturnValue('ok');
    const token = new AdmissionToken(source, { now: () => 0 });
    await expect(token.get()).rejects.toThrow(
      new AdmissionTokenError('options.token: the token function failed: offline'),
    );
    await expect(token.get()).rejects.toThrow(
      'options.token: the token function must return a non-empty string, got number',
    );
    expect(await token.get()).toBe('ok');
  });
});

describe('invalidTokenSource', () => {
  it('accepts non-empty strings without line breaks and functions', () => {
    expect(invalidTokenSource('t')).toBeUndefined();
    expect(invalidTokenSource(() => 't')).toBeUndefined();
    for (const bad of ['', 'a\nb', 1, null, {}]) expect(invalidTokenSource(bad)).toMatch(/non-empty string/);
  });
});
