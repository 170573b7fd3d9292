/**
 * A "Worker" for Node tests: a MessageChannel whose far port is served by
 * serveParticipantRuntime in this same thread. Messages still go through
 * structured clone and transfer lists, so the whole Worker-mode protocol —
 * proxies, errors by class, moved buffers — runs as in a browser; only the
 * second thread is missing (the browser tests have it).
 */

import { MessageChannel } from 'node:worker_threads';
import type { Endpoint, MessageEventLike } from '../src/worker/channel.ts';
import type { WorkerLike } from '../src/worker/create-worker.ts';
import { serveParticipantRuntime } from '../src/worker/serve-runtime.ts';

export interface PortWorker extends WorkerLike {
  readonly terminated: boolean;
}

export function portWorker(): PortWorker {
  const { port1, port2 } = new MessageChannel();
  serveParticipantRuntime(port2 as unknown as Endpoint);
  let terminated = false;
  const main = port1 as unknown as Endpoint;
  // A port has no 'error' events: only 'message' listeners go to it.
  type Listener = (event: MessageEventLike) => void;
  return {
    postMessage: (message, transfer) => port1.postMessage(message, transfer),
    addEventListener(type: string, listener: (event: never) => void) {
      if (type === 'message') main.addEventListener('message', listener as Listener);
    },
    removeEventListener(type: string, listener: (event: never) => void) {
      if (type === 'message') main.removeEventListener('message', listener as Listener);
    },
    terminate() {
      terminated = true;
      port1.close();
      port2.close();
    },
    get terminated() {
      return terminated;
    },
  };
}
