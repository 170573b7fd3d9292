/**
 * Test support: a request body the test holds open. `reading` resolves when
 * the server first asks for bytes (so the request got past every check made
 * before the body), `pulled` tells whether it ever did, and `finish` sends
 * the bytes and ends the body. Waits on that state, never on time.
 */

export interface HeldBody {
  readonly stream: ReadableStream<Uint8Array>;
  /** Resolves when the server starts reading the body. */
  readonly reading: Promise<void>;
  readonly pulled: boolean;
  finish(bytes: Uint8Array): void;
}

export function heldBody(): HeldBody {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let started: () => void = () => undefined;
  let pulled = false;
  const reading = new Promise<void>((resolve) => {
    started = resolve;
  });
  // highWaterMark 0: nothing is pulled until somebody reads.
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        pulled = true;
        started();
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    reading,
    get pulled() {
      return pulled;
    },
    finish(bytes) {
      controller?.enqueue(bytes);
      controller?.close();
    },
  };
}

/** `POST /message` with a held body (a stream body needs `duplex: 'half'`). */
export function postInit(body: ReadableStream<Uint8Array> | Uint8Array, headers: Record<string, string> = {}) {
  return { method: 'POST', body, headers, duplex: 'half' } as RequestInit;
}

/**
 * The response to a request with a held body, which must come without the body being read.
 * Fails at once (instead of waiting forever on the held body) when the server starts reading it.
 */
export async function answeredUnread(body: HeldBody, response: Promise<Response> | Response): Promise<Response> {
  const read = Symbol('read');
  const first = await Promise.race([response, body.reading.then(() => read)]);
  if (first === read) {
    body.finish(new Uint8Array(0));
    await response;
    throw new Error('expected an answer without reading the body, but the server read it');
  }
  return first as Response;
}
