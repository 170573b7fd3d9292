/**
 * The platform clock: `Date.now()` and `setTimeout`, the one adapter of the
 * `Clock` port that real deployments use. The SDK compiles without DOM or Node
 * types, so the timer functions are looked up on `globalThis` structurally;
 * every JavaScript platform petfl targets has them.
 */

import type { Clock } from './state-machine/io.ts';

interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const timers = globalThis as unknown as Timers;

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = (): void => {
        timers.clearTimeout(handle);
        // Removed on both paths, so a long-running loop does not pile up abort listeners.
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const handle = timers.setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    });
  },
};
