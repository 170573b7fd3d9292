/**
 * The cue of crashing-ingest-worker.ts (an ingest worker for the pool's tests): a "message" whose
 * sealed bytes begin with CRASH_MARKER ends the worker thread that opens it.
 */

export const CRASH_MARKER = new TextEncoder().encode('petfl-test: crash the ingest worker');

export function crashes(bytes: Uint8Array): boolean {
  return bytes.length >= CRASH_MARKER.length && CRASH_MARKER.every((b, i) => bytes[i] === b);
}
