/**
 * Admission on POST /message through the app: token admission refuses a
 * request before its body is read (401 not-admitted, WWW-Authenticate) and
 * lets a round through with valid tokens; open admission needs no header.
 */

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { initCrypto } from '@petfl/core';
import { exportSPKI, type GenerateKeyPairResult, generateKeyPair, SignJWT } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, identities, runRound, startHarness, testSettings } from '../../test-support/harness.ts';
import { answeredUnread, heldBody, postInit } from '../../test-support/held-body.ts';
import { fetchParams, pickTasks, sumMessage } from '../../test-support/sim.ts';
import { createCoordinatorApp } from '../create.ts';
import { createApp } from '../http/app.ts';
import type { Settings } from '../settings.ts';
import { MemoryModelStore } from '../store/memory-model-store.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

let keys: GenerateKeyPairResult;
let tokenEnv: Record<string, string>;
let settings: Settings;
beforeAll(async () => {
  keys = await generateKeyPair('ES256');
  tokenEnv = {
    PETFL_ADMISSION_KIND: 'token',
    PETFL_ADMISSION_JWT_PUBLIC_KEY: await exportSPKI(keys.publicKey),
    PETFL_ADMISSION_JWT_AUDIENCE: 'petfl',
  };
  // One subject for every participant of the round below.
  settings = testSettings({ ...tokenEnv, PETFL_ADMISSION_MAX_IDENTITIES_PER_SUBJECT: '1000' });
});

const token = (sub: string, expiresIn = '5m') =>
  new SignJWT({ sub, aud: 'petfl' })
    .setProtectedHeader({ alg: 'ES256' })
    .setExpirationTime(expiresIn)
    .sign(keys.privateKey);

describe('POST /message with token admission', () => {
  it('refuses a request without a valid token before reading its body', async () => {
    h = await startHarness(settings);
    const expired = await token('alice', '-1h');
    for (const headers of [{}, { authorization: `Bearer ${expired}` }, { authorization: 'Bearer x.y.z' }]) {
      const body = heldBody();
      const res = await answeredUnread(body, h.app.request('/message', postInit(body.stream, headers)));
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="petfl"');
      expect(res.headers.get('connection')).toBe('close');
      const problem = (await res.json()) as { code: string; message: string };
      expect(problem.code).toBe('not-admitted');
      expect(problem.message).not.toContain(expired.split('.')[2]);
      expect(body.pulled).toBe(false);
    }
    expect(await h.metrics.registry.metrics()).toMatch(/petfl_messages_rejected_total\{code="not-admitted"\} 3/);
  });

  it('admits a round whose messages carry a valid token', async () => {
    h = await startHarness(settings);
    const authorization = `Bearer ${await token('alice')}`;
    const app = h.app;
    const fetch = async (path: string, init: RequestInit = {}) =>
      app.request(path, { ...init, headers: { ...(init.headers as Record<string, string>), authorization } });
    const run = await runRound({ crypto: h.crypto, fetch }, identities(h.crypto, 80, 5), { sum: 3, update: 10 }, 2);
    expect(run.roundId).toBe(1);
  });

  it('passes the token’s subject to the coordinator, which caps the identities per subject', async () => {
    h = await startHarness(testSettings({ ...tokenEnv, PETFL_ADMISSION_MAX_IDENTITIES_PER_SUBJECT: '1' }));
    const params = await fetchParams(h.fetch);
    const { sum } = pickTasks(h.crypto, params, identities(h.crypto, 80, 6), { sum: 3, update: 0 });
    const [first, second, third] = sum.map((p) => sumMessage((h as Harness).crypto, params, p));
    const send = async (body: Uint8Array | undefined, sub: string) =>
      (h as Harness).app.request(
        '/message',
        postInit(body as Uint8Array, { authorization: `Bearer ${await token(sub)}` }),
      );
    expect((await send(first, 'alice')).status).toBe(202);
    const refused = await send(second, 'alice');
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({
      code: 'not-admitted',
      message: expect.stringMatching(/already took part/),
    });
    expect((await send(third, 'bob')).status).toBe(202);
  });

  it('leaves the read routes open', async () => {
    h = await startHarness(settings);
    expect((await h.app.request('/params')).status).toBe(200);
    expect((await h.app.request('/phase?wait_ms=0')).status).toBe(200);
  });

  it('cannot be built without an Admission for token settings', async () => {
    h = await startHarness(settings);
    const deps = { coordinator: h.coordinator, settings, crypto: await initCrypto() };
    expect(() => createApp(deps)).toThrow(/admission\.kind = "token" needs deps\.admission/);
  });
});

describe('POST /message when the JWKS URL fails', () => {
  it('answers 503 unavailable and logs why, without the token', async () => {
    const jwks = createServer((_req, res) => {
      res.writeHead(500);
      res.end();
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const logged: { obj: object; msg: string | undefined }[] = [];
    const log = (obj: object, msg?: string) => logged.push({ obj, msg });
    const created = await createCoordinatorApp(
      testSettings({
        PETFL_ADMISSION_KIND: 'token',
        PETFL_ADMISSION_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`,
      }),
      { models: new MemoryModelStore(), logger: { debug: log, info: log, warn: log, error: log } },
    );
    try {
      const jwt = await token('alice');
      const body = heldBody();
      const res = await answeredUnread(
        body,
        created.app.request('/message', postInit(body.stream, { authorization: `Bearer ${jwt}` })),
      );
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'unavailable' });
      const entry = logged.find((e) => e.msg === 'admission could not decide');
      expect(entry?.obj).toEqual({ err: expect.stringMatching(/200 OK/) });
      expect(JSON.stringify(logged)).not.toContain(jwt.split('.')[2]);
    } finally {
      await created.close();
      await new Promise((resolve) => jwks.close(resolve));
    }
  });
});

describe('POST /message with open admission', () => {
  it('needs no Authorization header', async () => {
    h = await startHarness(testSettings());
    const res = await h.app.request('/message', postInit(new Uint8Array(200).fill(7)));
    expect(res.status).toBe(400);
  });
});
