/**
 * Headless demo participants: `tsx apps/web/node/participants.ts --url <coordinator>
 * [--first-shard 3] [--count 5] [--shards 8]`. Each trains the demo model
 * (src/model.ts) with `TfjsParticipant` on its own MNIST shard — the shards
 * after the browser tabs' — on the wasm backend (cpu when wasm cannot start),
 * and joins the rounds with the SDK like a tab does. `npm start` runs them so
 * three tabs are enough for rounds to complete (an update phase needs at
 * least 3 update participants, and some participants draw the sum task).
 * Prints one line per global model with its accuracy on the held-out test set.
 * In a training run (`GET /run` names one, docs/learning.md) each holds out a slice of its shard
 * (demo.ts EVALUATION_SHARE) and `TfjsParticipant`'s `run` option sends its update and its
 * evaluation of the global model on that slice.
 * `--report` also prints each participant's snapshot whenever it changes, one
 * `PETFL-SNAPSHOT {"k":…,"snapshot":…}` line each (for e2e/support/node-participants.ts).
 */

import { parseArgs } from 'node:util';
import { decodeGlobalModel } from '@petfl/core';
import { fetchRunInfo, spawnParticipant, splitGlobal } from '@petfl/sdk';
import { selectBackend, TfjsParticipant } from '@petfl/tfjs';
import {
  BATCH_SIZE,
  DEFAULT_EPOCHS,
  DEMO_NODE_PARTICIPANTS,
  DEMO_SHARDS,
  DEMO_TABS,
  EVALUATION_SHARE,
  LAYERS,
} from '../src/demo.ts';
import { accuracy } from '../src/evaluate.ts';
import { decodeMnist, holdOut, shardIndices, splitTestPool } from '../src/mnist.ts';
import { loadPackedMnist } from '../src/mnist-files.ts';
import { buildModel, toTensors } from '../src/model.ts';
import { nodeWasmPaths } from './initial-model.ts';

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

const { backend } = await selectBackend(['wasm', 'cpu'], { wasmPaths: nodeWasmPaths() });
const data = decodeMnist(loadPackedMnist());
const { test, pool } = splitTestPool(data);
// The coordinator is up (npm start and the e2e tests start it first): one answer decides.
const run = await fetchRunInfo(values.url);

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const controller = new AbortController();
process.on('SIGINT', () => controller.abort());
process.on('SIGTERM', () => controller.abort());

let reported = -1;
const handles = await Promise.all(
  Array.from({ length: count }, async (_, k) => {
    const shard = first + k;
    const indices = shardIndices(data, pool, shard, shards, split);
    // In a run a slice of the shard is held out: the global models are evaluated on it, never trained on.
    const { train, evaluation } =
      run === null ? { train: indices, evaluation: [] } : holdOut(indices, EVALUATION_SHARE);
    const tensors = toTensors(data, train);
    const participant = new (class extends TfjsParticipant {
      override onNewGlobalModel(global: Float32Array | Float64Array | null): void {
        // One line per global model, from the first participant, with the round that produced it.
        if (global === null || k !== 0) return;
        const model = run === null ? global : splitGlobal(run.layout, global).model;
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
    })({
      // model.evaluate computes the run's metrics: the compiled loss, and accuracy when asked for.
      model: buildModel(LAYERS, { metrics: run?.layout.metrics.filter((m) => m !== 'loss') ?? [] }),
      data: tensors,
      fit: { epochs: DEFAULT_EPOCHS, batchSize: BATCH_SIZE, shuffle: true },
      // The scalar the participant masks with: the evaluation entries are divided by it.
      ...(run === null
        ? {}
        : { run: { layout: run.layout, evaluationData: toTensors(data, evaluation), scalar: train.length } }),
    });
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
const runLine = run === null ? '' : `, training run: ${run.strategy}, each evaluating on its held-out slice`;
say(
  `[node participants] ${count} on ${backend}, shards ${first}..${first + count - 1} of ${shards} (${split}) → ${values.url}${runLine}`,
);
controller.signal.addEventListener('abort', () => {
  // Stop cleanly, but never hang the demo's Ctrl-C on it.
  const timeout = new Promise((resolve) => setTimeout(resolve, 2000).unref());
  void Promise.race([Promise.allSettled(handles.map((h) => h.stop())), timeout]).then(() => process.exit(0));
});
