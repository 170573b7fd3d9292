/**
 * The Redis store's multipart reassembly (ADR 0008: the chunks of one message may reach different
 * instances) against core's ChunkAssembler, the reference: the same random sequences of chunks —
 * retries, gaps, second LAST chunks, other tags, new messages, budgets overrun — must get the same
 * answers, and completed messages the same bytes.
 */

import { ChunkAssembler, type ChunkLimits, decodeChunk, encodeChunk, isPetError, MIN_CHUNK_COST } from '@petfl/core';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletePrefix, probeRedisFor, REDIS_REQUIRED, REDIS_URL, testPrefix } from '../../../test-support/redis.ts';
import { RedisCoordinatorStore } from '../redis-store.ts';
import { redisStoreKeys } from './keys.ts';

const unreachable = await probeRedisFor('Redis chunk reassembly tests');

const LIMITS: ChunkLimits = { maxBytesPerParticipant: 1500, maxTotalBytes: 2500, maxChunksPerMessage: 6 };

interface Op {
  readonly participant: number;
  readonly tag: number;
  readonly messageId: number;
  readonly index: number;
  readonly last: boolean;
  readonly size: number;
  readonly fill: number;
}

const op = fc.record({
  participant: fc.integer({ min: 0, max: 2 }),
  tag: fc.constantFrom(2, 2, 2, 3),
  messageId: fc.integer({ min: 0, max: 2 }),
  index: fc.integer({ min: 0, max: 7 }),
  last: fc.boolean(),
  size: fc.constantFrom(0, 10, 300, 700),
  fill: fc.integer({ min: 0, max: 1 }),
});

type Answer =
  | { readonly kind: 'held' }
  | { readonly kind: 'complete'; readonly bytes: number[] }
  | { readonly kind: string };

const prefixes: string[] = [];
let admin: Redis;
beforeAll(() => {
  admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  admin.disconnect();
  for (const prefix of prefixes) await deletePrefix(prefix);
});

describe.skipIf(unreachable !== undefined && !REDIS_REQUIRED)('Redis chunk reassembly', () => {
  it('answers every chunk sequence as core’s ChunkAssembler does', async () => {
    expect(unreachable).toBeUndefined();
    await fc.assert(
      // 'again' resends the previous chunk as it was: a retry whose answer was lost.
      fc.asyncProperty(
        fc.array(fc.oneof(op, op, fc.constant('again' as const)), { minLength: 1, maxLength: 30 }),
        async (script) => {
          const prefix = testPrefix();
          prefixes.push(prefix);
          const keys = redisStoreKeys(prefix);
          // A round in its update phase, as far as the chunk script looks (round id and phase keys).
          await admin.set(keys.current, '1');
          await admin.set(keys.phase, '1:update');
          const store = new RedisCoordinatorStore({ url: REDIS_URL, keyPrefix: prefix });
          const reference = new ChunkAssembler(LIMITS);
          const ops: Op[] = [];
          for (const step of script) {
            const previous = ops.at(-1);
            if (step !== 'again') ops.push(step);
            else if (previous !== undefined) ops.push(previous);
          }
          try {
            for (const o of ops) {
              const data = new Uint8Array(o.size).fill(o.fill + o.index);
              const payload = encodeChunk({ index: o.index, messageId: o.messageId, last: o.last, data });
              const pk = `pk${o.participant}`;
              let expected: Answer;
              try {
                const whole = reference.add(pk, o.tag, payload);
                expected = whole === undefined ? { kind: 'held' } : { kind: 'complete', bytes: [...whole] };
              } catch (error) {
                if (!isPetError(error)) throw error;
                expected = { kind: error.code };
              }
              const chunk = decodeChunk(payload);
              const outcome = await store.addChunk(
                1,
                'update',
                pk,
                { ...chunk, tag: o.tag, cost: Math.max(payload.length, MIN_CHUNK_COST) },
                LIMITS,
              );
              const got: Answer =
                outcome.kind === 'held' || outcome.kind === 'retry'
                  ? { kind: 'held' }
                  : outcome.kind === 'complete'
                    ? { kind: 'complete', bytes: [...outcome.payload] }
                    : outcome.kind === 'refused'
                      ? { kind: outcome.code }
                      : { kind: outcome.kind };
              expect(got, JSON.stringify(o)).toEqual(expected);
            }
            // The bytes held agree too.
            const total = Number((await admin.hget(keys.chunkBytes(1, 'update'), 'total')) ?? '0');
            expect(total).toBe(reference.bytesHeld);
          } finally {
            await store.close();
            await deletePrefix(prefix);
          }
        },
      ),
      { numRuns: 150, seed: 20261202 },
    );
  });

  it('refuses chunks once the phase has moved on, and dropChunks frees the phase’s chunks', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const keys = redisStoreKeys(prefix);
    await admin.set(keys.current, '4');
    await admin.set(keys.phase, '4:update');
    const store = new RedisCoordinatorStore({ url: REDIS_URL, keyPrefix: prefix });
    try {
      const chunk = { tag: 2, messageId: 1, index: 0, last: false, data: new Uint8Array(10), cost: MIN_CHUNK_COST };
      expect(await store.addChunk(4, 'update', 'pk', chunk, LIMITS)).toEqual({ kind: 'held' });
      expect(await admin.exists(keys.chunks(4, 'update', 'pk'))).toBe(1);
      await store.dropChunks(4, 'update');
      expect(await admin.exists(keys.chunks(4, 'update', 'pk'), keys.chunkBytes(4, 'update'))).toBe(0);
      await admin.set(keys.phase, '4:sum2');
      expect(await store.addChunk(4, 'update', 'pk', chunk, LIMITS)).toEqual({ kind: 'closed' });
      await expect(store.addChunk(5, 'update', 'pk', chunk, LIMITS)).rejects.toThrow(/not the round in progress/);
    } finally {
      await store.close();
    }
  });
});
