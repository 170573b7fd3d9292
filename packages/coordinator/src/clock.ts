/**
 * The clock port: time and timers behind an interface, so tests can drive
 * phase deadlines by hand instead of sleeping. The system
 * clock is web-standard (`Date.now`, `setTimeout`); test clocks live in
 * `test-support/`, outside the public API.
 */

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a function that cancels it. */
  setTimer(ms: number, fn: () => void): () => void;
}

/**
 * Lets the process exit while `handle` is pending, where the runtime's timer handles can say so
 * (Node's `unref()`); elsewhere `setTimeout` returns a plain number and there is nothing to do.
 */
function unref(handle: unknown): void {
  if (typeof handle === 'object' && handle !== null && 'unref' in handle && typeof handle.unref === 'function') {
    handle.unref();
  }
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    const handle = setTimeout(fn, Math.max(0, ms));
    // A pending phase deadline must not keep a process alive that is otherwise done.
    unref(handle);
    return () => clearTimeout(handle);
  },
};
