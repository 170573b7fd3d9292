/**
 * Calls and events over a `postMessage` endpoint (a Worker, the Worker's
 * global scope, a MessagePort): the one transport between the main-thread
 * handle and the participant runtime in the Worker.
 *
 * - `call(method, args)` → a Promise of the other side's handler result; a
 *   handler that throws rejects it with the error rebuilt as its named class
 *   (wire-error.ts).
 * - `emit(name, payload)` → a fire-and-forget event.
 * Messages arrive in the order they were posted, so an event emitted before
 * a reply is seen before it. Large buffers (models, states) are moved, not
 * copied: pass them as `transfer`, or return `withTransfer(value, buffers)`
 * from a handler. Messages without the channel's tag are ignored.
 */

import { fromWireError, toWireError, type WireError } from './wire-error.ts';

/** What `postMessage` delivers to a 'message' listener. */
export interface MessageEventLike {
  readonly data: unknown;
}

/** A Worker, a DedicatedWorkerGlobalScope or a MessagePort, structurally. */
export interface Endpoint {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(type: 'message', listener: (event: MessageEventLike) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEventLike) => void): void;
}

/** A call handler; its arguments are what the other side passed (protocol.ts says which). */
export type Handler = (...args: never[]) => unknown;

const TAG = 'petfl/worker@1';

type Envelope =
  | {
      readonly tag: typeof TAG;
      readonly kind: 'call';
      readonly id: number;
      readonly method: string;
      readonly args: readonly unknown[];
    }
  | { readonly tag: typeof TAG; readonly kind: 'result'; readonly id: number; readonly value: unknown }
  | { readonly tag: typeof TAG; readonly kind: 'error'; readonly id: number; readonly error: WireError }
  | { readonly tag: typeof TAG; readonly kind: 'event'; readonly name: string; readonly payload: unknown };

const TRANSFER = Symbol('petfl/transfer');

/** A handler result whose buffers are moved to the caller instead of copied. */
export interface Transferring<T> {
  readonly [TRANSFER]: readonly ArrayBuffer[];
  readonly value: T;
}

export function withTransfer<T>(value: T, transfer: readonly ArrayBuffer[]): Transferring<T> {
  return { [TRANSFER]: transfer, value };
}

function isTransferring(value: unknown): value is Transferring<unknown> {
  return typeof value === 'object' && value !== null && TRANSFER in value;
}

export class Channel {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private closedWith: Error | undefined;
  private readonly listener = (event: MessageEventLike): void => this.receive(event.data);

  private readonly endpoint: Endpoint;
  private readonly handlers: Readonly<Record<string, Handler>>;
  private readonly onEvent: (name: string, payload: unknown) => void;

  constructor(
    endpoint: Endpoint,
    handlers: Readonly<Record<string, Handler>>,
    onEvent: (name: string, payload: unknown) => void = () => {},
  ) {
    this.endpoint = endpoint;
    this.handlers = handlers;
    this.onEvent = onEvent;
    endpoint.addEventListener('message', this.listener);
  }

  call<T>(method: string, args: readonly unknown[] = [], transfer: readonly ArrayBuffer[] = []): Promise<T> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      try {
        this.post({ tag: TAG, kind: 'call', id, method, args }, transfer);
      } catch (error) {
        this.pending.delete(id);
        reject(error);
      }
    });
  }

  emit(name: string, payload: unknown, transfer: readonly ArrayBuffer[] = []): void {
    if (this.closedWith !== undefined) return;
    this.post({ tag: TAG, kind: 'event', name, payload }, transfer);
  }

  /** Stops listening; calls still waiting (and any later ones) reject with `reason`. */
  close(reason: Error): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = reason;
    this.endpoint.removeEventListener('message', this.listener);
    for (const { reject } of this.pending.values()) reject(reason);
    this.pending.clear();
  }

  private post(envelope: Envelope, transfer: readonly ArrayBuffer[]): void {
    this.endpoint.postMessage(envelope, [...transfer]);
  }

  private receive(data: unknown): void {
    if (typeof data !== 'object' || data === null || (data as { tag?: unknown }).tag !== TAG) return;
    const envelope = data as Envelope;
    switch (envelope.kind) {
      case 'call':
        void this.answer(envelope.id, envelope.method, envelope.args);
        return;
      case 'result':
      case 'error': {
        const waiting = this.pending.get(envelope.id);
        if (waiting === undefined) return;
        this.pending.delete(envelope.id);
        if (envelope.kind === 'result') waiting.resolve(envelope.value);
        else waiting.reject(fromWireError(envelope.error));
        return;
      }
      case 'event':
        this.onEvent(envelope.name, envelope.payload);
        return;
    }
  }

  private async answer(id: number, method: string, args: readonly unknown[]): Promise<void> {
    let result: unknown;
    try {
      const handler = Object.hasOwn(this.handlers, method) ? this.handlers[method] : undefined;
      if (handler === undefined) throw new TypeError(`petfl worker channel: no handler for '${method}'`);
      result = await (handler as (...passed: readonly unknown[]) => unknown)(...args);
    } catch (error) {
      if (this.closedWith === undefined) this.post({ tag: TAG, kind: 'error', id, error: toWireError(error) }, []);
      return;
    }
    if (this.closedWith !== undefined) return;
    const { value, transfer } = isTransferring(result)
      ? { value: result.value, transfer: result[TRANSFER] }
      : { value: result, transfer: [] };
    try {
      this.post({ tag: TAG, kind: 'result', id, value }, transfer);
    } catch (error) {
      // The value does not clone (a function, a class instance with private fields, …).
      this.post({ tag: TAG, kind: 'error', id, error: toWireError(error) }, []);
    }
  }
}
