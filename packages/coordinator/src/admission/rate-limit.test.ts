/**
 * Rate limits through the app, counted in memory: per client address on
 * POST /message and GET /phase, per admitted subject on POST /message;
 * 429 rate-limited with Retry-After beyond the limit, before the body is
 * read; 0 turns a limit off. A served coordinator counts each socket's
 * address apart.
 */

import { request } from 'node:http';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness, testSettings } from '../../test-support/harness.ts';
import { answeredUnread, heldBody, postInit } from '../../test-support/held-body.ts';
import { listen, type RunningCoordinator } from '../node/listen.ts';
import { MemoryModelStore } from '../store/memory-model-store.ts';
import { retryAfterSeconds } from './rate-limit.ts';

let h: Harness | undefined;
let running: RunningCoordinator | undefined;
afterEach(async () => {
  await h?.close();
  await running?.close();
  h = undefined;
  running = undefined;
});

const GARBAGE = new Uint8Array(200).fill(7);

/** Expects a 429 rate-limited answer naming `limit`, with a Retry-After within the minute. */
async function expectLimited(res: Response, limit: string): Promise<void> {
  expect(res.status).toBe(429);
  const seconds = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(seconds) && seconds >= 1 && seconds <= 60).toBe(true);
  expect(await res.json()).toEqual({ code: 'rate-limited', message: expect.stringContaining(`${limit}: more than`) });
}

describe('rate limits in memory', () => {
  it('limits POST /message per client address, before reading the body', async () => {
    h = await startHarness(testSettings({ PETFL_LIMITS_MESSAGES_PER_MINUTE_PER_IP: '2' }));
    for (let i = 0; i < 2; i++) expect((await h.app.request('/message', postInit(GARBAGE))).status).toBe(400);
    const body = heldBody();
    const limited = await answeredUnread(body, h.app.request('/message', postInit(body.stream)));
    expect(limited.headers.get('connection')).toBe('close');
    await expectLimited(limited, 'message-ip');
    expect(body.pulled).toBe(false);
    expect(await h.metrics.registry.metrics()).toMatch(/petfl_messages_rejected_total\{code="rate-limited"\} 1/);
    // Other routes are not counted by the message limit.
    expect((await h.app.request('/params')).status).toBe(200);
  });

  it('limits GET /phase per client address, apart from messages', async () => {
    h = await startHarness(testSettings({ PETFL_LIMITS_PHASE_POLLS_PER_MINUTE_PER_IP: '3' }));
    for (let i = 0; i < 3; i++) expect((await h.app.request('/phase?wait_ms=0')).status).toBe(200);
    await expectLimited(await h.app.request('/phase?wait_ms=0'), 'phase-ip');
    expect((await h.app.request('/message', postInit(GARBAGE))).status).toBe(400);
  });

  it('limits POST /message per admitted subject', async () => {
    const keys = await generateKeyPair('ES256');
    h = await startHarness(
      testSettings({
        PETFL_ADMISSION_KIND: 'token',
        PETFL_ADMISSION_JWT_PUBLIC_KEY: await exportSPKI(keys.publicKey),
        PETFL_LIMITS_MESSAGES_PER_MINUTE_PER_SUBJECT: '2',
      }),
    );
    const token = (sub: string) =>
      new SignJWT({ sub }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime('5m').sign(keys.privateKey);
    const alice = { authorization: `Bearer ${await token('alice')}` };
    const bob = { authorization: `Bearer ${await token('bob')}` };
    // Refused admissions name no subject: they do not use alice's budget.
    for (let i = 0; i < 3; i++) expect((await h.app.request('/message', postInit(GARBAGE))).status).toBe(401);
    for (let i = 0; i < 2; i++) expect((await h.app.request('/message', postInit(GARBAGE, alice))).status).toBe(400);
    const body = heldBody();
    await expectLimited(
      await answeredUnread(body, h.app.request('/message', postInit(body.stream, alice))),
      'message-subject',
    );
    expect(body.pulled).toBe(false);
    // Same address, another subject: its own budget.
    expect((await h.app.request('/message', postInit(GARBAGE, bob))).status).toBe(400);
  });

  it('turns a limit off with 0', async () => {
    h = await startHarness(
      testSettings({
        PETFL_LIMITS_MESSAGES_PER_MINUTE_PER_IP: '0',
        PETFL_LIMITS_PHASE_POLLS_PER_MINUTE_PER_IP: '0',
      }),
    );
    for (let i = 0; i < 30; i++) {
      expect((await h.app.request('/message', postInit(GARBAGE))).status).toBe(400);
      expect((await h.app.request('/phase?wait_ms=0')).status).toBe(200);
    }
  });

  it('counts each client address of a served coordinator apart', async () => {
    running = await listen(testSettings({ PETFL_API_PORT: '0', PETFL_LIMITS_PHASE_POLLS_PER_MINUTE_PER_IP: '1' }), {
      models: new MemoryModelStore(),
    });
    const port = running.port;
    // Linux routes all of 127.0.0.0/8 to the loopback: two source addresses, one machine.
    const poll = (localAddress: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/phase?wait_ms=0', localAddress, agent: false },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end();
      });
    expect(await poll('127.0.0.1')).toBe(200);
    expect(await poll('127.0.0.1')).toBe(429);
    expect(await poll('127.0.0.2')).toBe(200);
    expect(await poll('127.0.0.2')).toBe(429);
  });
});

describe('retryAfterSeconds', () => {
  it('is the whole seconds left in the window, at least 1', () => {
    expect(retryAfterSeconds(new Date(10_500), 1_000)).toBe(10);
    expect(retryAfterSeconds(new Date(1_000), 1_000)).toBe(1);
    expect(retryAfterSeconds(new Date(0), 1_000)).toBe(1);
    expect(retryAfterSeconds(undefined, 1_000)).toBe(60);
  });
});
