/**
 * Rate limits counted in Redis (REDIS_URL, default 127.0.0.1:6379): two
 * coordinator apps, each with its own connection, share every count; a
 * failing Redis answers 503 unavailable; `store.kind = "redis"` wires it.
 * Each test counts under its own key prefix, deleted after.
 *
 * Without Redis the suite is skipped with a warning, unless CI or
 * REDIS_REQUIRED is set: then the availability check fails the run.
 */

import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness, testSettings } from '../../test-support/harness.ts';
import { postInit } from '../../test-support/held-body.ts';
import { deletePrefix, probeRedisFor, REDIS_REQUIRED, REDIS_URL, testPrefix } from '../../test-support/redis.ts';
import { createApp } from '../http/app.ts';
import { createNodeCoordinatorApp } from '../node/create.ts';
import { MemoryModelStore } from '../store/memory-model-store.ts';
import { MemoryCoordinatorStore } from '../store/memory-store.ts';
import { StoreError } from '../store/store-error.ts';
import { DEFAULT_RATE_LIMIT_PREFIX, RedisRateLimitStores } from './redis-rate-limit-stores.ts';

const unreachable = await probeRedisFor('Redis rate-limit tests');

describe('Redis availability (rate limits)', () => {
  it.skipIf(unreachable !== undefined && !REDIS_REQUIRED)(`Redis answers at ${REDIS_URL}`, () => {
    expect(unreachable, 'Redis is required here (CI or REDIS_REQUIRED is set)').toBeUndefined();
  });
});

const GARBAGE = new Uint8Array(200).fill(7);

describe.skipIf(unreachable !== undefined)('rate limits in Redis', () => {
  let h: Harness | undefined;
  const opened: RedisRateLimitStores[] = [];
  let prefix = '';

  afterEach(async () => {
    for (const stores of opened.splice(0)) await stores.close();
    await h?.close();
    h = undefined;
    if (prefix !== '') await deletePrefix(prefix);
    prefix = '';
  });

  /** Two apps over one coordinator, each counting through its own Redis connection: two instances. */
  async function twoInstances(env: Record<string, string>) {
    const settings = testSettings(env);
    h = await startHarness(settings);
    prefix = testPrefix();
    const instance = async () => {
      const stores = await RedisRateLimitStores.connect(REDIS_URL, prefix);
      opened.push(stores);
      const { coordinator, crypto } = h as Harness;
      return createApp({ coordinator, settings, crypto, rateLimitStores: stores.storeFor });
    };
    return [await instance(), await instance()] as const;
  }

  it('shares POST /message counts per client address between instances', async () => {
    const [a, b] = await twoInstances({ PETFL_LIMITS_MESSAGES_PER_MINUTE_PER_IP: '3' });
    expect((await a.request('/message', postInit(GARBAGE))).status).toBe(400);
    expect((await b.request('/message', postInit(GARBAGE))).status).toBe(400);
    expect((await a.request('/message', postInit(GARBAGE))).status).toBe(400);
    const limited = await b.request('/message', postInit(GARBAGE));
    expect(limited.status).toBe(429);
    const seconds = Number(limited.headers.get('retry-after'));
    expect(seconds >= 1 && seconds <= 60).toBe(true);
    expect(await limited.json()).toMatchObject({ code: 'rate-limited' });
    expect((await a.request('/message', postInit(GARBAGE))).status).toBe(429);

    // The count lives under the prefix, with the window as its expiry.
    const client = new Redis(REDIS_URL);
    try {
      expect(await client.get(`${prefix}:message-ip:unknown`)).toBe('5');
      const ttl = await client.pttl(`${prefix}:message-ip:unknown`);
      expect(ttl > 0 && ttl <= 60_000).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it('shares GET /phase counts per client address between instances', async () => {
    const [a, b] = await twoInstances({ PETFL_LIMITS_PHASE_POLLS_PER_MINUTE_PER_IP: '2' });
    expect((await a.request('/phase?wait_ms=0')).status).toBe(200);
    expect((await b.request('/phase?wait_ms=0')).status).toBe(200);
    expect((await a.request('/phase?wait_ms=0')).status).toBe(429);
    expect((await b.request('/phase?wait_ms=0')).status).toBe(429);
  });

  it('answers 503 unavailable when Redis fails, never letting the request through uncounted', async () => {
    const [a] = await twoInstances({ PETFL_LIMITS_MESSAGES_PER_MINUTE_PER_IP: '3' });
    expect((await a.request('/message', postInit(GARBAGE))).status).toBe(400);
    await opened[0]?.close();
    const res = await a.request('/message', postInit(GARBAGE));
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: 'unavailable' });
  });

  it('is what store.kind = "redis" wires up on Node', async () => {
    const settings = testSettings({ PETFL_STORE_KIND: 'redis', PETFL_STORE_REDIS_URL: REDIS_URL });
    const created = await createNodeCoordinatorApp(settings, {
      store: new MemoryCoordinatorStore(),
      models: new MemoryModelStore(),
    });
    const client = new Redis(REDIS_URL);
    const key = `${DEFAULT_RATE_LIMIT_PREFIX}:phase-ip:unknown`;
    try {
      await client.del(key);
      expect((await created.app.request('/phase?wait_ms=0')).status).toBe(200);
      expect(Number(await client.get(key))).toBeGreaterThanOrEqual(1);
      expect(await client.pttl(key)).toBeGreaterThan(0);
    } finally {
      await client.del(key);
      client.disconnect();
      await created.close();
    }
  });
});

describe('RedisRateLimitStores.connect', () => {
  it('fails with a StoreError when Redis does not answer', async () => {
    const error = await RedisRateLimitStores.connect('redis://127.0.0.1:1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toMatch(/^redis rate limit connect: /);
  });
});
