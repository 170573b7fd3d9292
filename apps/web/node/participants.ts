/**
 * Headless demo participants: `tsx apps/web/node/participants.ts --url <coordinator>
 * [--first-shard 3] [--count 5] [--shards 8]`. Each trains the demo model
 * (src/model.ts) with `TfjsParticipant` on its own MNIST shard — the shards
 * after the browser tabs' — on the wasm backend (cpu when wasm cannot start),
 * and joins the rounds with the SDK like a tab does. `npm start` runs them so
 * three tabs are enough for rounds to complete (an update phase needs at
 * least 3 update participants, and some participants draw the sum task).
 * Prints one line per global model with its accuracy on the held-out test set.
 * `--report` also prints each participant's snapshot whenever it changes, one
 * `PETFL-SNAPSHOT {"k":…,"snapshot":…}` line each (for e2e/support/node-participants.ts).
 */

import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeGlobalModel } from '@petfl/core';
import { spawnParticipant } from '@petfl/sdk';
import { selectBackend, TfjsParticipant } from '@petfl/tfjs';
import { BATCH_SIZE, DEFAULT_EPOCHS, DEMO_NODE_PARTICIPANTS, DEMO_SHARDS, DEMO_TABS, LAYERS } from '../src/demo.ts';
import { accuracy } from '../src/evaluate.ts';
import { decodeMnist, shardIndices, splitTestPool } from '../src/mnist.ts';
import { loadPackedMnist } from '../src/mnist-files.ts';
import { buildModel, toTensors } from '../src/model.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8081' },
    'first-shard': { type: 'string', default: String(DEMO_TABS) },
    count: { type: 'string', default: String(DEMO_NODE_PARTICIPANTS) },
    shards: { type: 'string', default: String(DEMO_SHARDS) },
    split: { type: 'string', default: 'iid' },
    report: { type: 'boolean', default: false },
  },
});
const first = Number(values['first-shard']);
const count = Number(values.count);
const shards = Number(values.shards);
const split = values.split === 'noniid' ? 'noniid' : 'iid';

const wasmPaths = `${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`;
const { backend } = await selectBackend(['wasm', 'cpu'], { wasmPaths });
const data = decodeMnist(loadPackedMnist());
const { test, pool } = splitTestPool(data);

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const controller = new AbortController();
process.on('SIGINT', () => controller.abort());
process.on('SIGTERM', () => controller.abort());

let reported = -1;
const handles = await Promise.all(
  Array.from({ length: count }, async (_, k) => {
    const shard = first + k;
    const train = shardIndices(data, pool, shard, shards, split);
    const tensors = toTensors(data, train);
    const participant = new (class extends TfjsParticipant {
      override onNewGlobalModel(model: Float32Array | Float64Array | null): void {
        // One line per global model, from the first participant, with the round that produced it.
        if (model === null || k !== 0) return;
        const score = accuracy(model, LAYERS, data, test).toFixed(4);
        void fetch(`${values.url}/model`)
          .then(async (res) =>
            res.status === 200 ? decodeGlobalModel(new Uint8Array(await res.arrayBuffer())).roundId : -1,
          )
          .catch(() => -1)
          .then((round) => {
            if (round <= reported) return;
            reported = round;
            say(`[node participants] global model of round ${round}: test accuracy ${score}`);
          });
      }
    })({ model: buildModel(), data: tensors, fit: { epochs: DEFAULT_EPOCHS, batchSize: BATCH_SIZE, shuffle: true } });
    return spawnParticipant(values.url, participant, {
      scalar: train.length,
      signal: controller.signal,
      pollMs: 100,
      maxPollMs: 1000,
      logLevel: 'error',
    });
  }),
);
if (values.report) {
  handles.forEach((handle, k) => {
    const report = () => say(`PETFL-SNAPSHOT ${JSON.stringify({ k, snapshot: handle.getSnapshot() })}`);
    handle.subscribe(report);
    report();
  });
}
say(
  `[node participants] ${count} on ${backend}, shards ${first}..${first + count - 1} of ${shards} (${split}) → ${values.url}`,
);
controller.signal.addEventListener('abort', () => {
  // Stop cleanly, but never hang the demo's Ctrl-C on it.
  const timeout = new Promise((resolve) => setTimeout(resolve, 2000).unref());
  void Promise.race([Promise.allSettled(handles.map((h) => h.stop())), timeout]).then(() => process.exit(0));
});
