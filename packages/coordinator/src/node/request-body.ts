/**
 * Reads a `POST /message` body on Node.js into one array of its stated length
 * (docs/architecture.md §4, "Request bodies").
 *
 * @hono/node-server's `arrayBuffer()` keeps every socket chunk, joins them with `Buffer.concat`
 * and then copies the result once more into an `ArrayBuffer` of its own (`buffer.slice`): two
 * allocations and two copies of the whole body besides the socket's. Here a body that states its
 * `Content-Length` (and no `Transfer-Encoding`) is copied chunk by chunk into one array of that
 * length, which the coordinator then owns outright (it may move it to an ingest worker). Any
 * other request, or one whose body something has started to read, goes the web way.
 *
 * The length was judged against `api.max_body_bytes` before (http/body-limit.ts), and Node's HTTP
 * parser delivers exactly the stated bytes, never more; a connection that closes before all have
 * come rejects, as `arrayBuffer()` does.
 */

import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** The body as its own array: a stated length is read straight from the request, else the web way. */
export async function readNodeRequestBody(c: Context): Promise<Uint8Array> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const length = incoming === undefined ? undefined : statedLength(incoming);
  // A body already being read, or decoded to text (`setEncoding`), is not the socket's bytes any more.
  if (
    incoming === undefined ||
    length === undefined ||
    incoming.readableDidRead ||
    incoming.readableEncoding !== null
  ) {
    return new Uint8Array(await c.req.arrayBuffer());
  }
  return readExactly(incoming, length);
}

/** `Content-Length` as a number when the request states one and no `Transfer-Encoding`. */
function statedLength(incoming: IncomingMessage): number | undefined {
  const header = incoming.headers['content-length'];
  if (header === undefined || incoming.headers['transfer-encoding'] !== undefined) return undefined;
  if (!/^\d{1,15}$/.test(header)) return undefined; // Node's parser refuses these; leave it to the web way
  return Number(header);
}

/** The next `length` bytes of `incoming`, which must end there. */
function readExactly(incoming: IncomingMessage, length: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    // Not zeroed: every byte is written before the array is handed out. Never from Node's shared
    // pool (allocUnsafe's, for small sizes): the array must own its buffer, which may be transferred.
    const buffer = Buffer.allocUnsafeSlow(length);
    const body = new Uint8Array(buffer.buffer, buffer.byteOffset, length);
    let received = 0;
    const onData = (chunk: Buffer) => {
      if (received + chunk.length > length) {
        settle(new Error(`request body: more than the stated ${length} bytes`));
        return;
      }
      body.set(chunk, received);
      received += chunk.length;
    };
    const onEnd = () => {
      settle(received === length ? undefined : new Error(`request body: ${received} of ${length} bytes`));
    };
    const onError = (error: Error) => settle(error);
    const onClose = () => {
      if (!incoming.readableEnded) settle(new Error('request body: the connection closed before the body ended'));
    };
    const settle = (error: Error | undefined) => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
      if (error === undefined) resolve(body);
      else reject(error);
    };
    incoming.on('data', onData);
    incoming.once('end', onEnd);
    incoming.once('error', onError);
    incoming.once('close', onClose);
  });
}
