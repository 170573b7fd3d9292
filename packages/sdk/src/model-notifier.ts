/**
 * The global-model notifier of an AsyncParticipant (architecture.md §5.2): a flag that
 * is set when a new global model arrives and cleared by `getGlobalModel()`
 * (or `clear()`), plus `wait()` for code that would rather await it than
 * poll `isSet()`.
 */

import type { AbortSignalLike } from './state-machine/io.ts';

export interface ModelNotifier {
  /** True while a global model newer than the last `getGlobalModel()` is available. */
  isSet(): boolean;
  /**
   * Resolves once the flag is set (at once if it is). Rejects with `signal.reason` when `signal`
   * aborts first, and with UninitializedParticipantError when the participant stops.
   */
  wait(signal?: AbortSignalLike): Promise<void>;
  clear(): void;
}

interface Waiter {
  resolve(): void;
  reject(reason: unknown): void;
}

export class GlobalModelNotifier implements ModelNotifier {
  private flag = false;
  private closed: Error | undefined;
  private readonly waiters = new Set<Waiter>();

  isSet(): boolean {
    return this.flag;
  }

  set(): void {
    this.flag = true;
    for (const waiter of [...this.waiters]) waiter.resolve();
  }

  clear(): void {
    this.flag = false;
  }

  /** The participant stopped: pending and later waits reject with `error` (unless the flag is set). */
  close(error: Error): void {
    this.closed = error;
    for (const waiter of [...this.waiters]) waiter.reject(error);
  }

  wait(signal?: AbortSignalLike): Promise<void> {
    if (this.flag) return Promise.resolve();
    if (this.closed !== undefined) return Promise.reject(this.closed);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => waiter.reject(abortReason(signal));
      const settle = (): void => {
        this.waiters.delete(waiter);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        resolve: () => {
          settle();
          resolve();
        },
        reject: (reason) => {
          settle();
          reject(reason);
        },
      };
      this.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function abortReason(signal: AbortSignalLike | undefined): unknown {
  return signal?.reason ?? new Error('aborted');
}
