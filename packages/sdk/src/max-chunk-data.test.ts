/**
 * `options.maxChunkData` (options.ts): the most payload bytes one message carries (protocol.md
 * §3.7). Checked once at spawn, where the participant runs (runtime.ts: in Worker mode, in the
 * Worker). Through the real runtime, HTTP client and an in-process coordinator, an update larger
 * than it goes out in chunks of at most that size, which the coordinator reassembles into a
 * completed round.
 */

import { CHUNK_HEADER_BYTES, HEADER_BYTES, SEAL_OVERHEAD_BYTES } from '@petfl/core';
import { afterEach, describe, expect, it } from 'vitest';
import { startCoordinator, type TestCoordinator, waitFor } from '../test-support/coordinator.ts';
import { portWorker } from '../test-support/port-worker.ts';
import { type AsyncParticipant, spawnAsyncParticipant } from './async-participant.ts';
import type { FetchLike } from './client/http-client.ts';
import { ParticipantInitError } from './errors.ts';
import { CHUNK_REQUEST_OVERHEAD, DEFAULT_MAX_CHUNK_DATA, MAX_CHUNK_DATA, MIN_CHUNK_DATA } from './state-machine/io.ts';
import { spawnAsyncParticipant as spawnInWorker } from './worker/spawn.ts';

/** What a chunk's request body holds besides its data: chunk header 8, message header 136, envelope 48. */
const CHUNK_OVERHEAD = 8 + 136 + 48;
const WEIGHTS = 2_000;

/** A coordinator that has nothing yet: every request 204. */
const idle: FetchLike = async () => ({
  status: 204,
  text: async () => '',
  arrayBuffer: async () => new ArrayBuffer(0),
});

describe('options.maxChunkData is checked when the participant starts', () => {
  it('requests of the default chunks are 1 MiB, of the largest the default body limit, 16 MiB', () => {
    expect(CHUNK_REQUEST_OVERHEAD).toBe(CHUNK_HEADER_BYTES + HEADER_BYTES + SEAL_OVERHEAD_BYTES);
    expect(DEFAULT_MAX_CHUNK_DATA + CHUNK_REQUEST_OVERHEAD).toBe(1024 * 1024);
    expect(MAX_CHUNK_DATA + CHUNK_REQUEST_OVERHEAD).toBe(16 * 1024 * 1024);
    expect(MIN_CHUNK_DATA).toBe(1024);
  });

  it('refuses a value out of range or not an integer, naming the option and the range, on this thread and in a Worker', async () => {
    for (const inWorker of [false, true]) {
      for (const [value, got] of [
        [0, '0'],
        [1023, '1023'],
        [MAX_CHUNK_DATA + 1, String(MAX_CHUNK_DATA + 1)],
        [4096.5, '4096.5'],
        [Number.NaN, 'NaN'],
        ['4096', 'string'],
      ] as const) {
        const options = { fetch: idle, logLevel: 'silent', maxChunkData: value as never } as const;
        const started = inWorker
          ? spawnInWorker('http://c.test', { ...options, createWorker: () => portWorker() })
          : spawnAsyncParticipant('http://c.test', options);
        const refused = await started.then(
          ({ participant }) => participant.stop().then(() => undefined),
          (error: unknown) => error,
        );
        expect(refused, `${inWorker ? 'Worker' : 'direct'}: ${got}`).toBeInstanceOf(ParticipantInitError);
        expect((refused as Error).message).toBe(
          `options.maxChunkData: expected an integer from 1024 to 16777024 (bytes), got ${got}`,
        );
      }
    }
  });
});

const running: TestCoordinator[] = [];
const spawned: AsyncParticipant[] = [];
afterEach(async () => {
  for (const participant of spawned.splice(0)) await participant.stop();
  for (const c of running.splice(0)) await c.close();
});

/**
 * Three participants with `maxChunkData` (or the default), on this thread or in Worker mode
 * (test-support/port-worker.ts), until a round completes; every `POST /message` body's length.
 * Roles are drawn (sum probability 0.5): a round without a sum participant fails in 2 s and the
 * next one draws again. Phases end by count; their time limits only end a round that cannot
 * complete, so a loaded machine is not raced.
 */
async function bodiesOfACompletedRound(maxChunkData: number | undefined, inWorker = false): Promise<number[]> {
  const c = await startCoordinator({
    sum: { probability: 0.5, min: 1, max: 1, maxMs: 2_000 },
    update: { min: 1, max: 2, maxMs: 20_000 },
    sum2: { min: 1, max: 1, maxMs: 20_000 },
    modelLength: WEIGHTS,
  });
  running.push(c);
  const bodies: number[] = [];
  const recording: FetchLike = async (url, init) => {
    const body = init?.body;
    if (init?.method === 'POST' && url.endsWith('/message') && body instanceof Uint8Array) bodies.push(body.length);
    return c.fetch(url, init);
  };
  const model = Float32Array.from({ length: WEIGHTS }, (_, i) => ((i % 7) - 3) / 10);
  for (let i = 0; i < 3; i++) {
    const options = {
      fetch: recording,
      pollMs: 5,
      maxPollMs: 20,
      logLevel: 'silent',
      ...(maxChunkData === undefined ? {} : { maxChunkData }),
    } as const;
    const { participant } = inWorker
      ? await spawnInWorker(c.url, { ...options, createWorker: () => portWorker() })
      : await spawnAsyncParticipant(c.url, options);
    participant.setLocalModel(model);
    spawned.push(participant);
  }
  await waitFor(async () => (await c.completedRounds()).length >= 1, 60_000);
  return bodies;
}

describe('maxChunkData through the runtime and a real coordinator', () => {
  it('an update of 2,000 weights goes in chunks of at most 1 KiB, and the round completes', async () => {
    const bodies = await bodiesOfACompletedRound(1024);
    // Nothing over a 1 KiB chunk's request; the update (about 13 kB) took many full chunks.
    expect(Math.max(...bodies)).toBeLessThanOrEqual(1024 + CHUNK_OVERHEAD);
    expect(bodies.filter((n) => n === 1024 + CHUNK_OVERHEAD).length).toBeGreaterThanOrEqual(12);
  }, 90_000);

  it('in Worker mode the option crosses to the Worker: the same chunks', async () => {
    const bodies = await bodiesOfACompletedRound(1024, true);
    expect(Math.max(...bodies)).toBeLessThanOrEqual(1024 + CHUNK_OVERHEAD);
    expect(bodies.filter((n) => n === 1024 + CHUNK_OVERHEAD).length).toBeGreaterThanOrEqual(12);
  }, 90_000);

  it('by default the same update goes in one message', async () => {
    const bodies = await bodiesOfACompletedRound(undefined);
    // an update's payload: 2,000 packed weights of 51 bits (12,750 bytes) and more
    expect(Math.max(...bodies)).toBeGreaterThan(12_750);
    expect(bodies.some((n) => n === 1024 + CHUNK_OVERHEAD)).toBe(false);
  }, 90_000);
});
