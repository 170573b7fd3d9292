/**
 * The e2e coordinator's clock: real time that a test can stop. While held, `now()`
 * stands still and no phase timer fires, so a phase stays open however long the test's
 * own steps take on a loaded machine (a reload, a restart); `release()` lets time run
 * again from where it stopped (the held span never happened, as far as the coordinator
 * can tell) and fires what fell due meanwhile.
 */

import type { Clock } from '@petfl/coordinator';

interface Timer {
  readonly at: number;
  readonly fn: () => void;
  handle: ReturnType<typeof setTimeout> | undefined;
}

export class HoldClock implements Clock {
  /** Milliseconds held so far, subtracted from the wall clock. */
  private heldTotal = 0;
  /** Wall-clock time the current hold began, or undefined when time runs. */
  private heldSince: number | undefined;
  private readonly timers = new Set<Timer>();

  now(): number {
    return (this.heldSince ?? Date.now()) - this.heldTotal;
  }

  get held(): boolean {
    return this.heldSince !== undefined;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const timer: Timer = { at: this.now() + Math.max(0, ms), fn, handle: undefined };
    this.timers.add(timer);
    this.arm(timer);
    return () => {
      clearTimeout(timer.handle);
      this.timers.delete(timer);
    };
  }

  /** Stops time; phase deadlines wait until `release`. */
  hold(): void {
    if (this.heldSince !== undefined) return;
    this.heldSince = Date.now();
    for (const timer of this.timers) clearTimeout(timer.handle);
  }

  release(): void {
    if (this.heldSince === undefined) return;
    this.heldTotal += Date.now() - this.heldSince;
    this.heldSince = undefined;
    for (const timer of this.timers) this.arm(timer);
  }

  private arm(timer: Timer): void {
    if (this.held) return;
    timer.handle = setTimeout(
      () => {
        if (this.held) return;
        // A timer can wake a little early by the wall clock once time was held: wait out the rest.
        if (this.now() < timer.at) return this.arm(timer);
        this.timers.delete(timer);
        timer.fn();
      },
      Math.max(0, timer.at - this.now()),
    );
    timer.handle.unref?.();
  }
}
