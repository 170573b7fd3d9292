/**
 * Test support: the Redis the tests use (REDIS_URL, default 127.0.0.1:6379).
 * Without it, suites skip with a printed reason — unless CI or REDIS_REQUIRED
 * is set, where a missing Redis is a failure.
 */

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

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

/** Deletes every key under `prefix`. */
export async function deletePrefix(prefix: string): Promise<void> {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}
