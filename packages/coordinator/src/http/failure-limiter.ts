/**
 * Failed authentications per client address in a fixed one-minute window
 * (docs/security.md §4): once an address has failed `perMinute` times, every
 * request from it is refused — even one with the right token — until its
 * window has passed, so guessing the admin token costs a minute per
 * `perMinute` guesses.
 *
 * Memory is bounded: at most `maxAddresses` windows are kept; beyond it,
 * expired windows are dropped first, then the oldest ones.
 */

export const FAILURE_WINDOW_MS = 60_000;

interface Window {
  readonly startedAt: number;
  failures: number;
}

export type FailureVerdict = { readonly kind: 'allowed' } | { readonly kind: 'limited'; readonly retryAfterMs: number };

export class FailureLimiter {
  private readonly windows = new Map<string, Window>();

  private readonly perMinute: number;
  private readonly now: () => number;
  private readonly maxAddresses: number;

  constructor(perMinute: number, now: () => number, maxAddresses = 10_000) {
    this.perMinute = perMinute;
    this.now = now;
    this.maxAddresses = maxAddresses;
  }

  /** Whether `address` may try now. */
  check(address: string): FailureVerdict {
    const window = this.live(address);
    if (window === undefined || window.failures < this.perMinute) return { kind: 'allowed' };
    return { kind: 'limited', retryAfterMs: window.startedAt + FAILURE_WINDOW_MS - this.now() };
  }

  /** Records a failed attempt from `address`. */
  fail(address: string): void {
    const window = this.live(address);
    if (window !== undefined) {
      window.failures++;
      return;
    }
    if (this.windows.size >= this.maxAddresses) this.evict();
    this.windows.set(address, { startedAt: this.now(), failures: 1 });
  }

  /** How many addresses have a window now (for tests and bounds). */
  size(): number {
    return this.windows.size;
  }

  private live(address: string): Window | undefined {
    const window = this.windows.get(address);
    if (window !== undefined && this.now() - window.startedAt >= FAILURE_WINDOW_MS) {
      this.windows.delete(address);
      return undefined;
    }
    return window;
  }

  private evict(): void {
    const now = this.now();
    for (const [address, window] of this.windows) {
      if (now - window.startedAt >= FAILURE_WINDOW_MS) this.windows.delete(address);
    }
    // Still full: drop the oldest (a Map iterates in insertion order).
    for (const address of this.windows.keys()) {
      if (this.windows.size < this.maxAddresses) break;
      this.windows.delete(address);
    }
  }
}
