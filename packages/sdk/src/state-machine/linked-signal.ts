import type { AbortSignalLike } from './io.ts';

/**
 * An abortable signal that also aborts when its parent does: the wake-up of one poll wait, or
 * the end of the sleep that lost a race. `detach()` (or aborting) unhooks it from the parent, so
 * a long-running loop does not pile up listeners on its stop signal.
 */
export class LinkedSignal implements AbortSignalLike {
  aborted = false;
  reason: unknown;
  private readonly listeners = new Set<() => void>();

  private readonly parent: AbortSignalLike | undefined;

  constructor(parent: AbortSignalLike | undefined) {
    this.parent = parent;
    if (parent?.aborted) this.aborted = true;
    else parent?.addEventListener('abort', this.fire, { once: true });
  }

  get signal(): AbortSignalLike {
    return this;
  }

  readonly fire = (): void => {
    if (this.aborted) return;
    this.aborted = true;
    this.detach();
    for (const listener of [...this.listeners]) listener();
    this.listeners.clear();
  };

  abort(reason?: unknown): void {
    this.reason = reason;
    this.fire();
  }

  detach(): void {
    this.parent?.removeEventListener('abort', this.fire);
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    this.listeners.add(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    this.listeners.delete(listener);
  }
}

export interface AbortControllerLike {
  readonly signal: AbortSignalLike;
  abort(reason?: unknown): void;
}

/** The platform's AbortController (fetch accepts only its signals), or undefined where there is none. */
export function platformAbortController(): AbortControllerLike | undefined {
  const Platform = (globalThis as { AbortController?: new () => AbortControllerLike }).AbortController;
  return Platform === undefined ? undefined : new Platform();
}
