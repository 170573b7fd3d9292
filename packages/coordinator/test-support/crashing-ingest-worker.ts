/**
 * An ingest worker (src/node/ingest-worker.ts) that crashes on cue, for the pool's tests: a
 * message whose sealed bytes begin with CRASH_MARKER (ingest-crash.ts) ends the worker thread
 * while it holds that message, as a fault in the thread would. Every other task is served as usual.
 */

import { parentPort } from 'node:worker_threads';
import { type IngestPort, moveIn, serveIngest } from '../src/node/ingest-serve.ts';
import { crashes } from './ingest-crash.ts';

const port = parentPort;
if (port === null) throw new Error('crashing-ingest-worker: runs as a worker thread');
const cued: IngestPort = {
  on: (event, listener) =>
    port.on(event, (task: Parameters<typeof listener>[0]) => {
      if (task.op === 'open' && crashes(moveIn(task.sealed))) process.exit(70);
      listener(task);
    }),
  postMessage: (answer, transfer) => port.postMessage(answer, transfer),
};
await serveIngest(cued);
