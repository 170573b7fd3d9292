/**
 * Test support: the Redis the tests use (REDIS_URL, default 127.0.0.1:6379).
 * Without it, suites skip with a printed reason — unless CI or REDIS_REQUIRED
 * is set, where a missing Redis is a failure.
 */

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { redisStoreKeys } from '../src/store/redis/keys.ts';

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const REDIS_REQUIRED = Boolean(process.env['CI']) || Boolean(process.env['REDIS_REQUIRED']);

/** Why Redis cannot be used, or undefined when it answers PING. */
export async function probeRedis(): Promise<string | undefined> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // The 'error' event carries the socket's reason (ECONNREFUSED …); the rejection only says it closed.
  let reason: string | undefined;
  client.on('error', (error: Error) => {
    reason ??= error.message;
  });
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return reason ?? (error instanceof Error ? error.message : String(error));
  } finally {
    client.disconnect();
  }
}

/**
 * `probeRedis()` for a suite: prints why the suite skips when Redis is unreachable and not
 * required (a skipped backend must be visible in the test output).
 */
export async function probeRedisFor(suite: string): Promise<string | undefined> {
  const unreachable = await probeRedis();
  if (unreachable !== undefined && !REDIS_REQUIRED) {
    console.warn(
      `${suite} skipped: Redis at ${REDIS_URL} is unreachable (${unreachable}). ` +
        'Set REDIS_URL, or REDIS_REQUIRED=1 to make this a failure.',
    );
  }
  return unreachable;
}

/** A key prefix of its own for one test, so parallel files never share keys. */
export const testPrefix = (): string => `petfl-test-${randomUUID()}`;

/** Every key matching a SCAN MATCH pattern, sorted. */
export async function keysMatching(client: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return [...new Set(found)].sort(); // SCAN may return a key twice
}

/**
 * Deletes every key of `prefix`: the coordinator store's (`{prefix}:…`, redisStoreKeys' pattern)
 * and the plain `prefix:…` ones (the rate-limit counts).
 */
export async function deletePrefix(prefix: string): Promise<void> {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    for (const pattern of [redisStoreKeys(prefix).pattern, `${prefix}:*`]) {
      const keys = await keysMatching(client, pattern);
      if (keys.length > 0) await client.del(...keys);
    }
  } finally {
    client.disconnect();
  }
}

/** Redis Cluster's slot count: a key's slot is CRC16 of its hash tag (or of the whole key) mod this. */
const CLUSTER_SLOTS = 16_384;

/**
 * The Redis Cluster hash slot of a key, computed here independently of the store (redis/keys.ts),
 * by the Redis Cluster specification: CRC16/XMODEM (polynomial 0x1021, initial 0, no reflection)
 * of the text between the first `{` and the first `}` after it when that text is not empty, else
 * of the whole key, mod 16384. Keys are hashed as UTF-8 bytes.
 */
export function clusterSlot(key: string): number {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed, 'utf8')) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % CLUSTER_SLOTS;
}
