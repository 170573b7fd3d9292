/**
 * The Worker side of Worker mode: runs one participant runtime (runtime.ts)
 * — the protocol loop, masking, mask derivation, sealing, HTTP and the state
 * store (IndexedDB by default, in the Worker) — for the main-thread handle
 * that talks to it over `endpoint` (protocol.ts).
 *
 * The runtime's callbacks are the main thread's: `localModel` is a call
 * there (the app's ParticipantABC or AsyncParticipant answers, and the model
 * comes back transferred), new global models are sent there transferred,
 * and `onStop` runs there once the runtime has stopped. Options the app set
 * to its own objects (`store`, `fetch`, `logger`, `onError`, a `token`
 * function) are proxies to them.
 */

import type { RoundParameters } from '@petfl/core';
import type { FetchLike, RequestInitLike, ResponseLike } from '../client/http-client.ts';
import { ParticipantInitError, UninitializedParticipantError } from '../errors.ts';
import { createLog, type LoggerLike, type LogLevel } from '../logger.ts';
import type { ParticipantOptions } from '../options.ts';
import { createParticipantRuntime, type ParticipantRuntime, type RuntimeCallbacks } from '../runtime.ts';
import type { ParticipantSnapshot } from '../snapshot.ts';
import type { StateStore } from '../state-machine/io.ts';
import { Channel, type Endpoint, withTransfer } from './channel.ts';
import type {
  ErrorEvent,
  FetchAnswer,
  FetchRequest,
  GlobalModelEvent,
  LogEvent,
  ReportedError,
  RuntimeView,
  StartRequest,
  StoreOp,
} from './protocol.ts';
import { ownBuffer } from './transfer.ts';
import { fromWireError, toWireError } from './wire-error.ts';

const { TextDecoder } = globalThis as unknown as {
  TextDecoder: new () => { decode(bytes: Uint8Array): string };
};

/** Serves one participant runtime on `endpoint` (a Worker's global scope, a MessagePort). */
export function serveParticipantRuntime(endpoint: Endpoint): void {
  let runtime: ParticipantRuntime | undefined;
  let starting = false;
  /** Errors the main thread reported, rebuilt here: their tokens, so onError gets the originals there. */
  const tokens = new WeakMap<Error, number>();
  let published: { snapshot: ParticipantSnapshot; roundKey: string } | undefined;

  const running = (): ParticipantRuntime => {
    if (runtime === undefined) throw new UninitializedParticipantError('the participant Worker was not started');
    return runtime;
  };

  const channel: Channel = new Channel(
    endpoint,
    {
      async start(request: StartRequest): Promise<RuntimeView> {
        if (starting) throw new ParticipantInitError('this Worker runs a participant already');
        starting = true;
        runtime = await createParticipantRuntime({
          coordinatorUrl: request.coordinatorUrl,
          options: workerOptions(request, channel, tokens),
          callbacks: mainThreadCallbacks(channel),
        });
        const started = runtime;
        started.subscribe(() => publish(started));
        return publish(started);
      },
      async globalModel() {
        const global = await running().globalModel();
        if (global === undefined) return undefined;
        const model = global.model.slice();
        return withTransfer({ roundId: global.roundId, model }, [model.buffer]);
      },
      async stop() {
        const bytes = ownBuffer(await running().stop());
        await channel.call('onStop');
        return withTransfer(bytes, [bytes.buffer]);
      },
    },
    (name, payload) => {
      if (runtime === undefined) return;
      try {
        onEvent(runtime, name, payload);
      } catch (error) {
        // Not thrown on: an uncaught error here would come back as a Worker 'error' event, and be reported here again.
        const message = error instanceof Error ? error.message : String(error);
        createLog('error', undefined).error(`the participant Worker could not handle '${name}': ${message}`);
      }
    },
  );

  function onEvent(current: ParticipantRuntime, name: string, payload: unknown): void {
    switch (name) {
      case 'setTraining':
        current.setTraining(payload === true);
        return;
      case 'wake':
        current.wake();
        return;
      case 'reportError': {
        const { error, context, token } = payload as ReportedError;
        const rebuilt = fromWireError(error);
        tokens.set(rebuilt, token);
        current.reportError(rebuilt, context);
        return;
      }
    }
  }

  /** Sends the view when the snapshot or the round changed (not the first time: `start` returns it). */
  function publish(current: ParticipantRuntime): RuntimeView {
    const view: RuntimeView = { snapshot: current.getSnapshot(), round: current.round() };
    const roundKey = keyOf(view.round);
    if (published?.snapshot !== view.snapshot || published.roundKey !== roundKey) {
      const first = published === undefined;
      published = { snapshot: view.snapshot, roundKey };
      if (!first) channel.emit('view', view);
    }
    return view;
  }

  function mainThreadCallbacks(ch: Channel): RuntimeCallbacks {
    return {
      localModel: (roundId, rt) => {
        if (published !== undefined) publish(rt);
        return ch.call<ArrayLike<number> | null | undefined>('localModel', [roundId, rt.round()]);
      },
      onGlobalModel(global, rt) {
        if (published !== undefined) publish(rt);
        const model = global.model.slice();
        const event: GlobalModelEvent = { global: { roundId: global.roundId, model }, round: rt.round() };
        ch.emit('globalModel', event, [model.buffer]);
      },
      // onStop runs on the main thread once stop() is through (the 'stop' handler above).
    };
  }
}

/** The runtime's options: the portable ones, plus proxies to the app's objects on the main thread. */
function workerOptions(request: StartRequest, channel: Channel, tokens: WeakMap<Error, number>): ParticipantOptions {
  const { proxied } = request;
  const onError = (error: Error): void => {
    const event: ErrorEvent = { error: toWireError(error), token: tokens.get(error) };
    channel.emit('error', event);
  };
  return {
    ...request.options,
    ...(proxied.store ? { store: proxyStore(channel) } : {}),
    ...(proxied.fetch ? { fetch: proxyFetch(channel) } : {}),
    ...(proxied.logger ? { logger: proxyLogger(channel) } : {}),
    ...(proxied.onError ? { onError } : {}),
    ...(proxied.token ? { token: () => channel.call<string>('token') } : {}),
  };
}

function proxyStore(channel: Channel): StateStore {
  const op = (...args: StoreOp) => channel.call<unknown>('store', [args]);
  return {
    get: (key) => op('get', key),
    set: async (key, value) => {
      await op('set', key, value);
    },
    del: async (key) => {
      await op('del', key);
    },
  };
}

function proxyLogger(channel: Channel): LoggerLike {
  const at =
    (level: Exclude<LogLevel, 'silent'>) =>
    (...args: unknown[]): void => {
      const event: LogEvent = { level, message: args.map(String).join(' ') };
      channel.emit('log', event);
    };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/**
 * The app's fetch, called on the main thread. An abort (stop) settles the request here at once;
 * the main thread's request runs to its end and its answer is dropped.
 */
function proxyFetch(channel: Channel): FetchLike {
  return async (url: string, init?: RequestInitLike): Promise<ResponseLike> => {
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    const body = init?.body;
    const request: FetchRequest = {
      url,
      method: init?.method ?? 'GET',
      headers: plainHeaders(init?.headers),
      body: body instanceof Uint8Array || typeof body === 'string' ? body : null,
    };
    const answer = channel.call<FetchAnswer>('fetch', [request]);
    const settled =
      signal === undefined
        ? await answer
        : await new Promise<FetchAnswer>((resolve, reject) => {
            const onAbort = (): void => reject(signal.reason ?? new Error('aborted'));
            signal.addEventListener('abort', onAbort, { once: true });
            answer.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
          });
    const bytes = settled.body;
    const { retryAfter } = settled;
    return {
      status: settled.status,
      headers: { get: (name: string) => (name.toLowerCase() === 'retry-after' ? retryAfter : null) },
      text: async () => new TextDecoder().decode(new Uint8Array(bytes)),
      arrayBuffer: async () => bytes,
    };
  };
}

function plainHeaders(headers: object | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  const entries =
    typeof (headers as { forEach?: unknown }).forEach === 'function' && !Array.isArray(headers)
      ? collect(headers as { forEach(cb: (value: string, key: string) => void): void })
      : Object.entries(headers);
  for (const [key, value] of entries) out[key] = String(value);
  return out;
}

function collect(headers: { forEach(cb: (value: string, key: string) => void): void }): [string, string][] {
  const out: [string, string][] = [];
  headers.forEach((value, key) => {
    out.push([key, value]);
  });
  return out;
}

/** Identifies a round's parameters: its id and its round key. */
function keyOf(round: RoundParameters | undefined): string {
  if (round === undefined) return '';
  return `${round.roundId}:${Array.from(round.coordinatorPk).join(',')}`;
}
