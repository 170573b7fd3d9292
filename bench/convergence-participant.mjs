/**
 * One participant process of `npm run bench:convergence` (bench/convergence.bench.ts): a few
 * participants of a training run, each a `BenchParticipant` (bench/convergence-client.mjs: a
 * `TfjsParticipant` on its MNIST shard) spawned with `spawnParticipant` — plain Node on the
 * *built* `@petfl/sdk` and `@petfl/tfjs`, no tsx, no source condition: what an app that installed
 * the packages runs. It reads the run's layout with `fetchRunInfo` and reports as JSON lines on
 * stdout what the bench needs to replay the run without secure aggregation:
 *
 *   {"e":"ready","n":COUNT,"backend":"wasm"}
 *   {"e":"task","p":i,"r":roundId,"task":"sum"|"update"}      its task is known
 *   {"e":"trained","p":i,"r":roundId,"h":hash,"ms":ms}        a local training ended (h: the global model it started from)
 *   {"e":"sent","p":i,"r":roundId,"task":…}                   a message of its task was accepted
 *   {"e":"error","p":i,"r":roundId,"code":…,"message":…}
 *
 * It stops cleanly on SIGTERM. Environment: CONVERGENCE_PARTICIPANT, one JSON object
 * { url, participants: [{ index, shard (a file), scalar }], algorithm, learningRate, batchSize, seed }.
 */

import { readFileSync } from 'node:fs';
import { fetchRunInfo, spawnParticipant } from '@petfl/sdk';
import { BenchParticipant, decodeShard, initBackend } from './convergence-client.mjs';

const config = JSON.parse(process.env.CONVERGENCE_PARTICIPANT ?? 'null');
if (config === null) throw new Error('CONVERGENCE_PARTICIPANT is not set');
const { url } = config;

const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
process.stdout.on('error', () => process.exit(0)); // the bench went away

const backend = await initBackend();
const run = await fetchRunInfo(url);
if (run === null) throw new Error(`${url} runs no training run (GET /run)`);
const stopping = new AbortController();
const handles = [];

async function start({ index: p, shard, scalar }) {
  let handle;
  /** The round of the update task being trained: taken when the SDK asks, before training starts. */
  let taskRound = null;
  const participant = new (class extends BenchParticipant {
    participateInUpdateTask() {
      taskRound = handle?.getSnapshot().roundId ?? null;
      return true;
    }
  })({
    index: p,
    shard: decodeShard(readFileSync(shard)),
    layout: run.layout,
    algorithm: config.algorithm,
    scalar,
    learningRate: config.learningRate,
    batchSize: config.batchSize,
    seed: config.seed,
    roundOf: () => taskRound,
    onTrained: ({ round, inputHash }) => emit({ e: 'trained', p, r: round, h: inputHash, t: Date.now() }),
  });
  await participant.warmUp();
  handle = await spawnParticipant(url, participant, {
    scalar,
    storeKey: `convergence-${p}`,
    logLevel: 'error',
    signal: stopping.signal,
    pollMs: 100,
    maxPollMs: 500,
    onError: (error) =>
      emit({
        e: 'error',
        p,
        r: handle?.getSnapshot().roundId ?? null,
        code: error.code ?? error.name,
        message: error.message,
      }),
  });
  let last = { round: null, task: 'none', phase: '' };
  const follow = () => {
    const s = handle.getSnapshot();
    if (s.task !== 'none' && (s.roundId !== last.round || s.task !== last.task)) {
      emit({ e: 'task', p, r: s.roundId, task: s.task });
    }
    const failed = s.lastError !== null && s.lastError.roundId === last.round;
    if (last.phase === 'sending' && s.phase !== 'sending' && !failed)
      emit({ e: 'sent', p, r: last.round, task: last.task });
    last = { round: s.roundId, task: s.task, phase: s.phase };
  };
  handle.subscribe(follow);
  follow();
  handles.push(handle);
}

process.on('SIGTERM', () => {
  stopping.abort();
  const timeout = new Promise((resolve) => setTimeout(resolve, 3000).unref());
  void Promise.race([Promise.allSettled(handles.map((h) => h.stop())), timeout]).then(() => process.exit(0));
});

for (const participant of config.participants) await start(participant);
emit({ e: 'ready', n: config.participants.length, backend });
