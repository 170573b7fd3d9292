/**
 * Token admission against real keys: a static SPKI public key, and a JWKS
 * served by a local HTTP server (key rotation included). Every refusal says
 * why and never repeats the token.
 */

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isPetError, type PetError } from '@petfl/core';
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  type GenerateKeyPairResult,
  generateKeyPair,
  generateSecret,
  type JWK,
  type JWTPayload,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AdmissionSettings, parseSettings, SettingsError } from '../settings.ts';
import { type Admission, createAdmission } from './admission.ts';
import { MAX_TOKEN_CHARS } from './token-admission.ts';

const ISSUER = 'https://app.example';
const AUDIENCE = 'petfl-coordinator';

function admissionSettings(env: Record<string, string>): AdmissionSettings {
  return parseSettings(undefined, { PETFL_ADMISSION_KIND: 'token', ...env }).admission;
}

const bearer = (token: string) => new Headers({ authorization: `Bearer ${token}` });

interface Claims {
  readonly sub?: string;
  readonly iss?: string;
  readonly aud?: string;
  /** Seconds from now; undefined: no exp claim. */
  readonly expIn?: number | undefined;
}

async function sign(
  key: CryptoKey | Uint8Array,
  alg: string,
  claims: Claims = {},
  header: { kid?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { sub: 'user-1', iss: ISSUER, aud: AUDIENCE, iat: now, ...claims };
  const expIn = 'expIn' in claims ? claims.expIn : 300;
  delete payload['expIn'];
  if (expIn !== undefined) payload.exp = now + expIn;
  return new SignJWT(payload).setProtectedHeader({ alg, ...header }).sign(key);
}

/** The PetError `authenticate` throws; fails the test when it admits. */
async function refusal(admission: Admission, headers: Headers): Promise<PetError> {
  try {
    await admission.authenticate(headers);
  } catch (error) {
    if (isPetError(error)) return error;
    throw error;
  }
  throw new Error('expected the request to be refused');
}

/** Expects a not-admitted refusal whose message matches `reason` and contains no part of the token. */
async function expectRefused(admission: Admission, token: string, reason: RegExp): Promise<void> {
  const error = await refusal(admission, bearer(token));
  expect(error.code).toBe('not-admitted');
  expect(error.message).toMatch(reason);
  for (const part of token.split('.')) if (part.length > 8) expect(error.message).not.toContain(part);
}

describe('token admission with a static public key', () => {
  let es: GenerateKeyPairResult;
  let other: GenerateKeyPairResult;
  let admission: Admission;

  beforeAll(async () => {
    es = await generateKeyPair('ES256');
    other = await generateKeyPair('ES256');
    admission = await createAdmission(
      admissionSettings({
        PETFL_ADMISSION_JWT_PUBLIC_KEY: await exportSPKI(es.publicKey),
        PETFL_ADMISSION_JWT_ISSUER: ISSUER,
        PETFL_ADMISSION_JWT_AUDIENCE: AUDIENCE,
      }),
    );
  });

  it('admits a valid token with its sub as the subject', async () => {
    const token = await sign(es.privateKey, 'ES256', { sub: 'user-42' });
    expect(await admission.authenticate(bearer(token))).toEqual({ subject: 'user-42' });
    // The scheme is case-insensitive (RFC 7235 §2.1).
    expect(await admission.authenticate(new Headers({ authorization: `bearer ${token}` }))).toEqual({
      subject: 'user-42',
    });
  });

  it('refuses a request without the header, with another scheme, or an oversized one', async () => {
    const missing = await refusal(admission, new Headers());
    expect(missing.code).toBe('not-admitted');
    expect(missing.message).toMatch(/expected the header Authorization: Bearer/);
    const basic = await refusal(admission, new Headers({ authorization: 'Basic dXNlcjpwYXNz' }));
    expect(basic.message).toMatch(/another scheme/);
    expect(basic.message).not.toContain('dXNlcjpwYXNz');
    const huge = await refusal(admission, bearer('a'.repeat(MAX_TOKEN_CHARS)));
    expect(huge.message).toMatch(/at most 8192/);
  });

  it('refuses an expired token', async () => {
    await expectRefused(admission, await sign(es.privateKey, 'ES256', { expIn: -3600 }), /expired/);
  });

  it('refuses a token without exp or without sub', async () => {
    await expectRefused(admission, await sign(es.privateKey, 'ES256', { expIn: undefined }), /required exp claim/);
    const noSub = await new SignJWT({ iss: ISSUER, aud: AUDIENCE })
      .setProtectedHeader({ alg: 'ES256' })
      .setExpirationTime('5m')
      .sign(es.privateKey);
    await expectRefused(admission, noSub, /required sub claim/);
  });

  it('refuses the wrong issuer and the wrong audience', async () => {
    await expectRefused(admission, await sign(es.privateKey, 'ES256', { iss: 'https://evil.example' }), /wrong issuer/);
    await expectRefused(admission, await sign(es.privateKey, 'ES256', { aud: 'another-service' }), /wrong audience/);
  });

  it('refuses a token signed with another key', async () => {
    await expectRefused(admission, await sign(other.privateKey, 'ES256'), /bad signature/);
  });

  it('refuses unsigned tokens, HMAC tokens and algorithms the key does not allow', async () => {
    const unsigned = new UnsecuredJWT({ sub: 'user-1', iss: ISSUER, aud: AUDIENCE }).setExpirationTime('5m').encode();
    await expectRefused(admission, unsigned, /algorithm not accepted/);
    // Algorithm confusion: an HMAC "signed" with anything must never pass.
    await expectRefused(admission, await sign(await generateSecret('HS256'), 'HS256'), /algorithm not accepted/);
    const rsa = await generateKeyPair('RS256');
    await expectRefused(admission, await sign(rsa.privateKey, 'RS256'), /algorithm not accepted/);
  });

  it('refuses what is not a JWT', async () => {
    await expectRefused(admission, 'not-a-jwt', /not a valid signed JWT/);
    await expectRefused(admission, 'aaaa.bbbb.cccc', /not a valid signed JWT/);
  });

  it('accepts every algorithm an RSA key allows (RS* and PS*), and any audience when none is set', async () => {
    const rsa = await generateKeyPair('PS256');
    const rsaAdmission = await createAdmission(
      admissionSettings({ PETFL_ADMISSION_JWT_PUBLIC_KEY: await exportSPKI(rsa.publicKey) }),
    );
    const ps = await sign(rsa.privateKey, 'PS256', { aud: 'anything', sub: 'rsa-user' });
    expect(await rsaAdmission.authenticate(bearer(ps))).toEqual({ subject: 'rsa-user' });
  });

  it('accepts an Ed25519 key', async () => {
    const ed = await generateKeyPair('Ed25519');
    const edAdmission = await createAdmission(
      admissionSettings({ PETFL_ADMISSION_JWT_PUBLIC_KEY: await exportSPKI(ed.publicKey) }),
    );
    expect(await edAdmission.authenticate(bearer(await sign(ed.privateKey, 'Ed25519')))).toEqual({
      subject: 'user-1',
    });
  });

  it('fails at creation when the public key cannot be imported', async () => {
    const settings = admissionSettings({
      PETFL_ADMISSION_JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----',
    });
    const error = await createAdmission(settings).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SettingsError);
    expect((error as SettingsError).problems[0]).toMatch(/^admission\.jwt_public_key: expected a PEM/);
  });
});

describe('token admission with a JWKS URL', () => {
  let server: Server | undefined;
  let keys: JWK[] = [];
  let status = 200;
  let fetches = 0;

  async function serveJwks(): Promise<string> {
    const listening = createServer((_req, res) => {
      fetches++;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    server = listening;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(listening.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  async function publicJwk(key: CryptoKey, kid: string, alg: string): Promise<JWK> {
    return { ...(await exportJWK(key)), kid, alg, use: 'sig' };
  }

  afterEach(async () => {
    vi.useRealTimers();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
    keys = [];
    status = 200;
    fetches = 0;
  });

  it('admits tokens signed by a key of the set, fetching the set once', async () => {
    const a = await generateKeyPair('ES256');
    keys = [await publicJwk(a.publicKey, 'key-a', 'ES256')];
    const admission = await createAdmission(
      admissionSettings({ PETFL_ADMISSION_JWKS_URL: await serveJwks(), PETFL_ADMISSION_JWT_ISSUER: ISSUER }),
    );
    expect(fetches).toBe(0); // fetched on first use, not at start-up
    const token = await sign(a.privateKey, 'ES256', { sub: 'jwks-user' }, { kid: 'key-a' });
    expect(await admission.authenticate(bearer(token))).toEqual({ subject: 'jwks-user' });
    expect(await admission.authenticate(bearer(token))).toEqual({ subject: 'jwks-user' });
    expect(fetches).toBe(1);
    await expectRefused(
      admission,
      await sign(a.privateKey, 'ES256', { iss: 'https://evil.example' }, { kid: 'key-a' }),
      /wrong issuer/,
    );
    await expectRefused(admission, await sign(a.privateKey, 'ES256', { expIn: -60 }, { kid: 'key-a' }), /expired/);
  });

  it('follows a key rotation: an unknown kid fetches the set again, at most once per cooldown', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const a = await generateKeyPair('ES256');
    const b = await generateKeyPair('ES256');
    keys = [await publicJwk(a.publicKey, 'key-a', 'ES256')];
    const admission = await createAdmission(admissionSettings({ PETFL_ADMISSION_JWKS_URL: await serveJwks() }));
    expect(await admission.authenticate(bearer(await sign(a.privateKey, 'ES256', {}, { kid: 'key-a' })))).toEqual({
      subject: 'user-1',
    });
    expect(fetches).toBe(1);

    // The app's backend rotates: key-b replaces key-a.
    keys = [await publicJwk(b.publicKey, 'key-b', 'ES256')];
    // Right after a fetch a token naming an unknown kid does not fetch again: tokens with made-up
    // kids cannot turn the coordinator against the JWKS URL.
    await expectRefused(admission, await sign(b.privateKey, 'ES256', {}, { kid: 'key-b' }), /not in the key set/);
    expect(fetches).toBe(1);

    vi.advanceTimersByTime(31_000);
    const rotated = await sign(b.privateKey, 'ES256', { sub: 'after-rotation' }, { kid: 'key-b' });
    expect(await admission.authenticate(bearer(rotated))).toEqual({ subject: 'after-rotation' });
    expect(fetches).toBe(2);
    // The retired key no longer admits anyone.
    await expectRefused(admission, await sign(a.privateKey, 'ES256', {}, { kid: 'key-a' }), /not in the key set/);
    // A token that names key-b but is signed by another key has a bad signature.
    await expectRefused(admission, await sign(a.privateKey, 'ES256', {}, { kid: 'key-b' }), /bad signature/);
  });

  it('answers unavailable, not not-admitted, when the key set cannot be fetched', async () => {
    status = 500;
    const url = await serveJwks();
    const admission = await createAdmission(admissionSettings({ PETFL_ADMISSION_JWKS_URL: url }));
    const a = await generateKeyPair('ES256');
    const error = await refusal(admission, bearer(await sign(a.privateKey, 'ES256', {}, { kid: 'key-a' })));
    expect(error.code).toBe('unavailable');
    expect(error.message).toMatch(/key set that verifies tokens could not be fetched/);
    expect(error.message).not.toContain(url);
  });
});

describe('open and allowlist admission', () => {
  it('admit every request without a subject (the allowlist is checked against the message’s key)', async () => {
    const open = await createAdmission(parseSettings(undefined, {}).admission);
    expect(await open.authenticate(new Headers())).toEqual({ subject: undefined });
    const allowlist = await createAdmission(
      parseSettings(undefined, {
        PETFL_ADMISSION_KIND: 'allowlist',
        PETFL_ADMISSION_ALLOWLIST: 'A'.repeat(43),
      }).admission,
    );
    expect(await allowlist.authenticate(new Headers({ authorization: 'Bearer whatever' }))).toEqual({
      subject: undefined,
    });
  });
});
