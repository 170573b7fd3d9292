/**
 * The e2e coordinator's clock: real time that a test can stop, and that the phase driver
 * (support/phase-driver.ts) runs by hand.
 *
 * - `hold()` / `release()` (counted: each hold needs its release): while any hold is on,
 *   `now()` stands still and no timer fires, so a phase stays open however long the
 *   test's own steps take on a loaded machine (a reload, a restart, a volley). Time then
 *   runs on from where it stopped (the held span never happened, as far as the
 *   coordinator can tell) and what fell due meanwhile fires.
 * - `drive()`: time stands still from then on except when the driver lets it go:
 *   `runFrom(at)` moves it forward to `at` (firing what fell due) and lets it run until
 *   the coordinator's next phase boundary (`boundary()`, called from its `phaseEnded` and
 *   `roundEnded` events), where it stops again. So every phase opens with its clock
 *   stopped, and ends when the driver decides, never because the machine was slow.
 */

import type { Clock } from '@petfl/coordinator';

interface Timer {
  readonly at: number;
  readonly fn: () => void;
  handle: ReturnType<typeof setTimeout> | undefined;
}

export class HoldClock implements Clock {
  /** Milliseconds subtracted from the wall clock: the stopped spans so far, less what was skipped. */
  private offset = 0;
  /** Wall-clock time at which time stopped, or undefined while it runs. */
  private stoppedAt: number | undefined;
  private holds = 0;
  private driven = false;
  /** Driven: whether the driver let time run (until the next phase boundary). */
  private letGo = false;
  private readonly timers = new Set<Timer>();

  now(): number {
    return (this.stoppedAt ?? Date.now()) - this.offset;
  }

  /** Whether a test holds the clock (`hold()` without its `release()` yet). */
  get held(): boolean {
    return this.holds > 0;
  }

  /** Whether time runs now. */
  get running(): boolean {
    return this.stoppedAt === undefined;
  }

  /** Whether the phase driver runs this clock (`drive()`). */
  get isDriven(): boolean {
    return this.driven;
  }

  /**
   * Driven: whether the driver let time go to end the phase in progress (`runFrom`, until
   * the phase boundary). A test that holds the clock to keep a phase open must check it:
   * the phase may be ending already.
   */
  get ending(): boolean {
    return this.driven && this.letGo;
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

  /** Stops time until the matching `release()`; phase deadlines wait meanwhile. */
  hold(): void {
    this.holds++;
    this.update();
  }

  release(): void {
    if (this.holds === 0) throw new Error('HoldClock.release() without a hold');
    this.holds--;
    this.update();
  }

  /** From now on time stands still but where `runFrom` lets it go. */
  drive(): void {
    this.driven = true;
    this.letGo = false;
    this.update();
  }

  /**
   * Driven, not held: moves time forward to `at` (if it is not there yet) and lets it run
   * until the next `boundary()`. What fell due fires (asynchronously, in order).
   */
  runFrom(at: number): void {
    if (!this.driven || this.held) throw new Error('HoldClock.runFrom: only for a driven clock nobody holds');
    if (this.stoppedAt !== undefined && at > this.now()) this.offset -= at - this.now();
    this.letGo = true;
    this.update();
  }

  /** A phase ended or a round ended (the coordinator's events): a driven clock stops here. */
  boundary(): void {
    if (!this.driven || !this.letGo) return;
    this.letGo = false;
    this.update();
  }

  private update(): void {
    const stop = this.holds > 0 || (this.driven && !this.letGo);
    if (stop && this.stoppedAt === undefined) {
      this.stoppedAt = Date.now();
      for (const timer of this.timers) clearTimeout(timer.handle);
    } else if (!stop && this.stoppedAt !== undefined) {
      this.offset += Date.now() - this.stoppedAt;
      this.stoppedAt = undefined;
      for (const timer of [...this.timers].sort((a, b) => a.at - b.at)) this.arm(timer);
    }
  }

  private arm(timer: Timer): void {
    if (!this.running) return;
    clearTimeout(timer.handle);
    timer.handle = setTimeout(
      () => {
        if (!this.running) return;
        // A timer can wake a little early by the wall clock once time was stopped: wait out the rest.
        if (this.now() < timer.at) return this.arm(timer);
        this.timers.delete(timer);
        timer.fn();
      },
      Math.max(0, timer.at - this.now()),
    );
    timer.handle.unref?.();
  }
}
