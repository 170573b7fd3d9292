/**
 * `npm run participants -- [--url http://127.0.0.1:8081] [--count 10]`: runs
 * Node participants (the SDK's protocol engine) against a running
 * coordinator, each with a random local model per round, and prints one line
 * per global model — so a person can watch rounds complete next to
 * `GET /admin/status`. Ctrl-C stops them.
 */

import { parseArgs } from 'node:util';
import { initCrypto } from '../packages/core/src/index.ts';
import { HttpCoordinatorClient } from '../packages/sdk/src/client/http-client.ts';
import { runParticipant } from '../packages/sdk/src/state-machine/run.ts';
import { createInitialState } from '../packages/sdk/src/state-machine/state.ts';
import { systemClock } from '../packages/sdk/src/system-clock.ts';

const { values } = parseArgs({
  options: { url: { type: 'string', default: 'http://127.0.0.1:8081' }, count: { type: 'string', default: '10' } },
});
const url = values.url;
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1) throw new Error(`--count: expected a positive integer, got ${values.count}`);

const crypto = await initCrypto();
const controller = new AbortController();
process.on('SIGINT', () => controller.abort());
process.on('SIGTERM', () => controller.abort());

const first = await fetch(`${url}/params`).catch((error: unknown) => {
  throw new Error(`no coordinator at ${url} (start one with npm start): ${(error as Error).message}`);
});
if (first.status !== 200) throw new Error(`GET ${url}/params answered ${first.status}: is the coordinator paused?`);
const { modelLength } = (await first.json()) as { modelLength: number };
const seen = new Set<number>();
console.log(`${count} participants → ${url} (Ctrl-C to stop)`);
await Promise.all(
  Array.from({ length: count }, (_, i) =>
    runParticipant({
      state: createInitialState(crypto, { scalar: 1 + (i % 3) }),
      io: {
        crypto,
        client: new HttpCoordinatorClient(url, { fetch: (u, init) => fetch(String(u), init as RequestInit) }),
        // A stand-in for local training: weights around a per-participant centre.
        localModel: () => Float32Array.from({ length: modelLength }, () => (i % 5) / 5 + (Math.random() - 0.5) / 10),
        onGlobalModel: (global) => {
          if (seen.has(global.roundId)) return;
          seen.add(global.roundId);
          let sum = 0;
          for (const w of global.model) sum += w;
          const mean = sum / global.model.length;
          console.log(
            `round ${global.roundId}: global model of ${global.model.length} weights, mean ${mean.toFixed(4)}`,
          );
        },
      },
      clock: systemClock,
      signal: controller.signal,
      pollMs: 100,
      maxPollMs: 1000,
    }),
  ),
);
console.log('stopped');
