/**
 * The entry of one ingest worker thread (ingest-pool.ts starts it): serves open and decode tasks
 * from the coordinator's thread (ingest-serve.ts) until the pool ends it.
 */

import { parentPort } from 'node:worker_threads';
import { serveIngest } from './ingest-serve.ts';

if (parentPort === null) throw new Error('ingest-worker: runs as a worker thread of the ingest pool (ingest-pool.ts)');
await serveIngest(parentPort);
