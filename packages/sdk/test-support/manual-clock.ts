/**
 * A `Clock` the test moves by hand (architecture.md §7.7: fake timers, no
 * sleeps). `sleep` records the requested delay and waits until `advance`
 * passes it or the signal aborts; `untilSleeping` lets a test wait for a
 * loop to reach its next wait, i.e. to have done all it could.
 */

import type { AbortSignalLike, Clock } from '../src/state-machine/io.ts';

interface Timer {
  readonly at: number;
  readonly wake: () => void;
}

export class ManualClock implements Clock {
  /** Every delay asked for, in order. */
  readonly sleeps: number[] = [];
  private time = 0;
  private timers: Timer[] = [];
  private sleepWaiters: (() => void)[] = [];

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignalLike): Promise<void> {
    this.sleeps.push(ms);
    const slept = new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer: Timer = {
        at: this.time + ms,
        wake: () => {
          this.timers = this.timers.filter((t) => t !== timer);
          signal?.removeEventListener('abort', timer.wake);
          resolve();
        },
      };
      this.timers.push(timer);
      signal?.addEventListener('abort', timer.wake, { once: true });
    });
    for (const wake of this.sleepWaiters.splice(0)) wake();
    return slept;
  }

  /** Number of sleeps not yet woken. */
  get sleeping(): number {
    return this.timers.length;
  }

  /** Resolves once something sleeps on this clock (at once if something already does). */
  untilSleeping(): Promise<void> {
    if (this.timers.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.sleepWaiters.push(resolve));
  }

  /** Moves time forward by `ms` and wakes every sleep that is due. */
  advance(ms: number): void {
    this.time += ms;
    for (const timer of this.timers.filter((t) => t.at <= this.time)) timer.wake();
  }
}
