/**
 * A participant behind nginx as it comes: `client_max_body_size` is 1 MiB unless an operator sets
 * it, and a larger request is refused with 413 before the coordinator sees it. The SDK's default
 * chunk (`DEFAULT_MAX_CHUNK_DATA`, 1 MiB less the 192 bytes of headers and envelope) makes requests
 * of exactly 1 MiB, so updates and Sum2s of any size go through: here 200,000 weights (about
 * 1.3 MB a message, two chunks) from the participants' default transport (node:http) over real
 * sockets, through nginx, to a coordinator listening on its own port. Phases end by count and are
 * held open for seconds past what the round needs; a round that draws no sum participant fails and
 * the next one draws again.
 */

import { setMaxListeners } from 'node:events';
import { MemoryModelStore } from '@petfl/coordinator';
import { listen } from '@petfl/coordinator/node';
import { initCrypto } from '@petfl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testSettings, waitFor } from '../test-support/coordinator.ts';
import { NGINX_REQUIRED, probeNginxFor, type RunningNginx, startNginx } from '../test-support/nginx.ts';
import { type AsyncParticipant, spawnAsyncParticipant } from './async-participant.ts';
import { CoordinatorRejectedError } from './client/coordinator-client.ts';
import { HttpCoordinatorClient } from './client/http-client.ts';
import { nodeHttpFetch } from './client/node-http-fetch.ts';
import { DEFAULT_MAX_CHUNK_DATA } from './state-machine/io.ts';

const SUITE = 'a participant behind nginx';
const missing = probeNginxFor(SUITE);
const WEIGHTS = 200_000;
const MIB = 1024 * 1024;

describe.skipIf(missing !== undefined && !NGINX_REQUIRED)(SUITE, () => {
  let coordinator: Awaited<ReturnType<typeof listen>>;
  let nginx: RunningNginx;
  const models = new MemoryModelStore();
  const participants: AsyncParticipant[] = [];

  beforeAll(async () => {
    expect(missing, 'nginx is required (CI or REDIS_REQUIRED is set)').toBeUndefined();
    setMaxListeners(64);
    // Phases end by count; a round that draws no sum participant fails in 2 s and the next draws again.
    const settings = testSettings({
      sum: { probability: 0.5, min: 1, max: 1, maxMs: 2_000 },
      update: { min: 1, max: 1, maxMs: 20_000 },
      sum2: { min: 1, max: 1, maxMs: 20_000 },
      modelLength: WEIGHTS,
    });
    coordinator = await listen(settings, { crypto: await initCrypto(), models });
    nginx = await startNginx(coordinator.port);
  }, 30_000);

  afterAll(async () => {
    for (const p of participants.splice(0)) await p.stop();
    await nginx?.close();
    await coordinator?.close();
  });

  it('refuses a body over 1 MiB (413), as it comes: the client says what was sent and what to change', async () => {
    const fetch = nodeHttpFetch();
    if (fetch === undefined) throw new Error('this is Node.js: the node:http transport must load');
    const client = new HttpCoordinatorClient(nginx.url, { fetch, retries: 0 });
    const refused = await client.postMessage(new Uint8Array(MIB + 1)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CoordinatorRejectedError);
    expect(refused).toMatchObject({ status: 413, code: 'body-too-large' });
    expect((refused as Error).message).toBe(
      'POST /message: rejected with 413 by a proxy in front of the coordinator: a body of 1048577 bytes is over ' +
        "its limit; give the participant a smaller options.maxChunkData or raise the proxy's body limit",
    );
    // The coordinator's own 413 (over its api.max_body_bytes, 16 MiB) keeps its code and message.
    const direct = new HttpCoordinatorClient(coordinator.url, { fetch, retries: 0 });
    const own = await direct.postMessage(new Uint8Array(16 * MIB + 1)).catch((error: unknown) => error);
    expect(own).toMatchObject({ status: 413, code: 'body-too-large' });
    expect((own as Error).message).not.toContain('proxy');
  });

  it('passes every default chunk (exactly 1 MiB): a round of 200,000 weights completes through it', async () => {
    expect(DEFAULT_MAX_CHUNK_DATA + 192).toBe(MIB);
    const before = nginx.accessLog().length; // the refused request of the test above
    const model = Float32Array.from({ length: WEIGHTS }, (_, i) => Math.fround(((i % 13) - 6) / 8));
    for (let i = 0; i < 4; i++) {
      const { participant } = await spawnAsyncParticipant(nginx.url, {
        pollMs: 20,
        maxPollMs: 500,
        logLevel: 'silent',
      });
      participant.setLocalModel(model);
      participants.push(participant);
    }
    let completed: number | undefined;
    await waitFor(async () => {
      const history = await coordinator.coordinator.history(100);
      completed = history.find((r) => r.outcome === 'completed')?.roundId;
      return completed !== undefined;
    }, 120_000);
    // One update a round: the global model is that participant's, as f32 (every participant's is the same).
    const global = (await models.get(completed as number))?.model;
    expect(global?.length).toBe(WEIGHTS);
    expect(Array.from(global ?? [], Math.fround)).toEqual(Array.from(model));
    // Through nginx: full default chunks of exactly 1 MiB, and no request refused for its size.
    const posts = nginx
      .accessLog()
      .slice(before)
      .filter((line) => line.startsWith('POST /message '));
    expect(posts.some((line) => line.endsWith(` ${MIB}`))).toBe(true);
    expect(posts.filter((line) => line.split(' ')[2] === '413')).toEqual([]);
  }, 150_000);
});
