/**
 * The participant's HTTP transport on Node.js: `FetchLike` over `node:http` / `node:https`, the
 * default there when the app passes no `fetch` (chosen in runtime.ts; docs/decisions/0015-node-http-transport.md).
 *
 * Node's own `fetch` (undici) builds WHATWG Request, Response, Headers and stream objects for
 * every request and copies each body into a stream of its own. A participant sends about ten
 * requests a round, most of them small, and its Update (6.4 MB at a million weights) in 1 MiB
 * chunks; measured on loopback (`npm run bench:transport`), undici took 1.5–1.7× the client CPU
 * of `node:http` for a GET and 5.7–7.5× for a POST of 640 KB–1 MiB. The client reads only the
 * status, two headers and the body (`ResponseLike`), so this transport gives exactly that and
 * nothing more:
 *
 * - the body is read whole before the promise resolves (the client reads every body it is
 *   given at once; an answer cut off mid-body rejects, as a network error does);
 * - connections are kept alive, unreferenced while idle (they hold no process open), through an
 *   agent of this module's own: an idle connection is kept as long as the server's `Keep-Alive:
 *   timeout=` hint says, less a second (at most 600 s), as undici keeps it, and 5 s without a
 *   hint. Node's global agent keeps one at most 5 s whatever the server says: the coordinator's
 *   65 s (docs/operations.md, "Many participants at once") kept a participant's second
 *   connection open between polls under undici, and closed it under that agent;
 * - redirects are followed as `fetch` follows them (at most 20; 303, and 301/302 of a POST, go
 *   on as a GET without a body), and the `authorization` header is dropped when one leads to
 *   another origin, so an admission token never goes where it was not sent;
 * - a request aborts with its signal (an `AbortError`, as `fetch`), and one that moves no byte
 *   for 300 s fails (undici's default header and body timeouts);
 * - failures reject with a TypeError whose cause is Node's error, as `fetch` does.
 *
 * It is reached through `process.getBuiltinModule` (Node.js ≥ 20.16), never an import, so a bundle
 * for the browser or React Native neither contains nor asks for `node:http`: there
 * `nodeHttpFetch()` is undefined and the platform's `fetch` stays the default.
 */

import { concatBytes } from '@petfl/core';
import type { AbortSignalLike } from '../state-machine/io.ts';
import type { FetchLike, RequestInitLike, ResponseLike } from './http-client.ts';

/** The most a server's Keep-Alive hint keeps an idle connection (undici's `keepAliveMaxTimeout`). */
const KEEP_ALIVE_MAX_MS = 600_000;
/** How long an idle connection is kept without a hint from the server (Node's global agent's). */
const KEEP_ALIVE_DEFAULT_MS = 5_000;

/** The platform's `URL`, as far as it is used here. */
interface UrlLike {
  readonly protocol: string;
  readonly origin: string;
}

/** What the transport takes from Node.js: its HTTP modules and three globals. */
interface Platform {
  /** By URL protocol ('http:', 'https:'): the module and its agent (`hintedAgent`). */
  readonly schemes: ReadonlyMap<string, { readonly module: NodeHttpModule; readonly agent: unknown }>;
  /** The idle time each connection's last answer asked for (`keepAliveHint`). */
  readonly hints: WeakMap<object, number>;
  readonly URL: new (url: string, base?: UrlLike) => UrlLike;
  readonly encoder: { encode(text: string): Uint8Array };
  readonly decoder: { decode(bytes: Uint8Array): string };
}

/** The subset of `node:http` (and `node:https`) used here. */
interface NodeHttpModule {
  request(
    url: UrlLike,
    options: { method: string; headers: Record<string, string>; agent: unknown },
    callback: (response: NodeIncoming) => void,
  ): NodeOutgoing;
  readonly Agent: new (options: {
    keepAlive: boolean;
    timeout: number;
    scheduling: 'lifo';
    maxFreeSockets: number;
  }) => NodeAgent;
}

/** `http.Agent`, as far as it is used here: `keepSocketAlive` is its documented hook for subclasses. */
interface NodeAgent {
  keepSocketAlive(socket: NodeSocket): boolean;
}

interface NodeSocket {
  setTimeout(ms: number): unknown;
}

interface NodeIncoming {
  readonly socket?: NodeSocket | null;
  readonly statusCode?: number;
  readonly headers: Record<string, string | string[] | undefined>;
  on(event: 'data', listener: (chunk: Uint8Array) => void): this;
  on(event: 'end', listener: () => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'aborted', listener: () => void): this;
  resume(): void;
}

interface NodeOutgoing {
  on(event: 'error', listener: (error: Error) => void): this;
  setTimeout(ms: number, listener: () => void): this;
  destroy(error?: Error): void;
  end(body?: Uint8Array | string): void;
}

/** Idle time after which a request fails: undici's default headers and body timeouts. */
export const NODE_HTTP_IDLE_TIMEOUT_MS = 300_000;
const MAX_REDIRECTS = 20;

function loadPlatform(): Platform | undefined {
  const platform = globalThis as {
    process?: { getBuiltinModule?: (id: string) => unknown };
    URL?: Platform['URL'];
    TextEncoder?: new () => Platform['encoder'];
    TextDecoder?: new () => Platform['decoder'];
  };
  const { URL, TextEncoder, TextDecoder } = platform;
  if (typeof URL !== 'function' || typeof TextEncoder !== 'function' || typeof TextDecoder !== 'function') {
    return undefined;
  }
  try {
    const http = platform.process?.getBuiltinModule?.('node:http') as Partial<NodeHttpModule> | undefined;
    const https = platform.process?.getBuiltinModule?.('node:https') as Partial<NodeHttpModule> | undefined;
    if (typeof http?.request !== 'function' || typeof https?.request !== 'function') return undefined;
    if (typeof http.Agent !== 'function' || typeof https.Agent !== 'function') return undefined;
    const hints = new WeakMap<object, number>();
    const scheme = (module: NodeHttpModule) => ({ module, agent: hintedAgent(module, hints) });
    return {
      schemes: new Map([
        ['http:', scheme(http as NodeHttpModule)],
        ['https:', scheme(https as NodeHttpModule)],
      ]),
      hints,
      URL,
      encoder: new TextEncoder(),
      decoder: new TextDecoder(),
    };
  } catch {
    return undefined;
  }
}

let loaded: { readonly fetch: FetchLike | undefined } | undefined;

/** The `node:http` transport where this is Node.js, else undefined (loaded once). */
export function nodeHttpFetch(): FetchLike | undefined {
  if (loaded === undefined) {
    const platform = loadPlatform();
    loaded = { fetch: platform === undefined ? undefined : transportOn(platform) };
  }
  return loaded.fetch;
}

/**
 * A keep-alive agent that keeps each idle connection as long as its last answer's `Keep-Alive`
 * hint allows (`keepAliveHint`), else `KEEP_ALIVE_DEFAULT_MS`. The base class has already applied
 * a hint shorter than that, or closed the connection for a hint under a second.
 */
function hintedAgent(module: NodeHttpModule, hints: WeakMap<object, number>): unknown {
  class HintedAgent extends module.Agent {
    override keepSocketAlive(socket: NodeSocket): boolean {
      if (!super.keepSocketAlive(socket)) return false;
      const hint = hints.get(socket);
      if (hint !== undefined && hint > KEEP_ALIVE_DEFAULT_MS) socket.setTimeout(hint);
      return true;
    }
  }
  // Any number of idle connections: a process may run hundreds of participants, two each; each
  // closes at its hint, and the server bounds how many it holds (api.max_connections).
  return new HintedAgent({
    keepAlive: true,
    timeout: KEEP_ALIVE_DEFAULT_MS,
    scheduling: 'lifo',
    maxFreeSockets: Number.POSITIVE_INFINITY,
  });
}

/** Milliseconds to keep a connection idle by a `Keep-Alive: timeout=N` header: N s less one, at most 600 s. */
export function keepAliveHint(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const seconds = value === undefined ? undefined : /(?:^|[\s,])timeout=(\d+)/i.exec(value)?.[1];
  if (seconds === undefined) return undefined;
  return Math.min(Number(seconds) * 1000 - 1000, KEEP_ALIVE_MAX_MS);
}

function transportOn(platform: Platform): FetchLike {
  return async (url: string, init?: RequestInitLike) => send(platform, new platform.URL(url), init ?? {}, 0);
}

async function send(platform: Platform, url: UrlLike, init: RequestInitLike, redirects: number): Promise<ResponseLike> {
  const method = (init.method ?? 'GET').toUpperCase();
  const headers = plainHeaders(init.headers);
  const body = init.body ?? null;
  if (body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw new TypeError('node:http transport: a body must be a string or a Uint8Array');
  }
  const answer = await exchange(platform, url, method, headers, body, init.signal ?? undefined);
  const location = answer.headers?.get('location') ?? null;
  if (![301, 302, 303, 307, 308].includes(answer.status) || location === null) return answer;
  if (redirects >= MAX_REDIRECTS) throw new TypeError(`fetch failed: more than ${MAX_REDIRECTS} redirects`);
  const next = new platform.URL(location, url);
  const asGet = answer.status === 303 || ((answer.status === 301 || answer.status === 302) && method === 'POST');
  const nextHeaders: Record<string, string> = { ...headers };
  // SECURITY: a redirect to another origin does not carry the admission token there.
  if (next.origin !== url.origin) delete nextHeaders['authorization'];
  if (asGet) {
    delete nextHeaders['content-type'];
    delete nextHeaders['content-length'];
  }
  const nextInit: RequestInitLike = {
    method: asGet && method !== 'HEAD' ? 'GET' : method,
    headers: nextHeaders,
    body: asGet ? null : body,
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  };
  return send(platform, next, nextInit, redirects + 1);
}

function exchange(
  platform: Platform,
  url: UrlLike,
  method: string,
  headers: Record<string, string>,
  body: Uint8Array | string | null,
  signal: AbortSignalLike | undefined,
): Promise<ResponseLike> {
  return new Promise<ResponseLike>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const scheme = platform.schemes.get(url.protocol);
    if (scheme === undefined) {
      reject(new TypeError(`fetch failed: unsupported protocol ${url.protocol}`));
      return;
    }
    const bytes = typeof body === 'string' ? platform.encoder.encode(body) : body;
    const length = bytes === null ? 0 : bytes.byteLength;
    const sent =
      body === null && (method === 'GET' || method === 'HEAD')
        ? headers
        : { ...headers, 'content-length': `${length}` };
    let settled = false;
    const onAbort = (): void => request.destroy(abortError());
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const fail = (error: Error): void =>
      finish(() => reject(error.name === 'AbortError' ? error : new TypeError('fetch failed', { cause: error })));
    const request = scheme.module.request(url, { method, headers: sent, agent: scheme.agent }, (response) => {
      const hint = keepAliveHint(response.headers['keep-alive']);
      if (response.socket) {
        if (hint === undefined) platform.hints.delete(response.socket);
        else platform.hints.set(response.socket, hint);
      }
      const chunks: Uint8Array[] = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('aborted', () => fail(new Error('the answer was cut off')));
      response.on('error', fail);
      response.on('end', () => finish(() => resolve(answerOf(platform, response, concatBytes(...chunks)))));
    });
    request.on('error', fail);
    request.setTimeout(NODE_HTTP_IDLE_TIMEOUT_MS, () =>
      request.destroy(new Error(`no byte moved for ${NODE_HTTP_IDLE_TIMEOUT_MS / 1000} s`)),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    request.end(bytes === null ? undefined : bytes);
  });
}

function answerOf(platform: Platform, response: NodeIncoming, body: Uint8Array): ResponseLike {
  const { headers } = response;
  return {
    status: response.statusCode ?? 0,
    headers: {
      get(name: string): string | null {
        const value = headers[name.toLowerCase()];
        if (value === undefined) return null;
        return Array.isArray(value) ? value.join(', ') : value;
      },
    },
    // The body is the answer's own (concatBytes copies the chunks into a new buffer), so it is handed out as is.
    arrayBuffer: async () => body.buffer as ArrayBuffer,
    text: async () => platform.decoder.decode(body),
  };
}

/** Headers as given (a plain record, the client's only form; or a Headers-like with forEach), lower-cased. */
function plainHeaders(headers: object | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  const iterable = headers as { forEach?: (callback: (value: string, name: string) => void) => void };
  if (typeof iterable.forEach === 'function' && !Array.isArray(headers)) {
    iterable.forEach((value, name) => {
      out[name.toLowerCase()] = String(value);
    });
    return out;
  }
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = String(value);
  return out;
}

function abortError(): Error {
  const error = new Error('This operation was aborted');
  error.name = 'AbortError';
  return error;
}
