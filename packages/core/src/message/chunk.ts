/**
 * Multipart messages (protocol.md §3.7).
 *
 * A payload too large for one message is split into chunks; each chunk is
 * the payload of a full, signed and sealed message with the original tag and
 * the multipart flag. The chunk header names the chunk's place (index), the
 * message it belongs to (message id, chosen by the participant) and whether
 * it is the last one.
 *
 * ```text
 *   0             2              4       5           8
 *   +-------------+--------------+-------+-----------+-------------------+
 *   | index u16BE | messageId u16| flags | 0 0 0     | chunk data        |
 *   |             |      BE      | LAST  | reserved  |                   |
 *   +-------------+--------------+-------+-----------+-------------------+
 * ```
 *
 * The coordinator reassembles chunks with a `ChunkAssembler`, which bounds
 * the bytes held per participant and in total and drops every incomplete
 * message at the end of a phase.
 */

import { ByteReader, ByteWriter, joinBytes } from '../bytes.ts';
import { PetError } from '../errors.ts';

export const CHUNK_HEADER_BYTES = 8;
/** Chunk flags bit 0: this is the message's last chunk. */
export const CHUNK_FLAG_LAST = 0x01;
/** A u16 index allows at most 65536 chunks per message. */
export const MAX_CHUNKS = 0x1_0000;
/**
 * The least a held chunk is charged, in bytes: a chunk costs its map entry and buffer besides its
 * data, so thousands of tiny chunks must not hold more memory than the budget says.
 */
export const MIN_CHUNK_COST = 256;

export interface Chunk {
  readonly index: number;
  readonly messageId: number;
  readonly last: boolean;
  readonly data: Uint8Array;
}

function checkU16(value: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new PetError('out-of-range', `${field}: expected an integer in 0..65535, got ${value}`);
  }
}

export function encodeChunk(chunk: Chunk): Uint8Array {
  return writeChunk(new ByteWriter(CHUNK_HEADER_BYTES + chunk.data.length), chunk).done();
}

/** Writes the chunk payload (header, then data) at the writer's position; returns the writer. */
export function writeChunk(writer: ByteWriter, chunk: Chunk): ByteWriter {
  checkU16(chunk.index, 'chunk.index');
  checkU16(chunk.messageId, 'chunk.messageId');
  return writer
    .u16(chunk.index)
    .u16(chunk.messageId)
    .u8(chunk.last ? CHUNK_FLAG_LAST : 0)
    .skip(3) // reserved, zero
    .put(chunk.data);
}

/** Decodes a chunk payload; `data` is a view into `bytes`. */
export function decodeChunk(bytes: Uint8Array): Chunk {
  const reader = new ByteReader(bytes, 'chunk');
  const index = reader.u16('index');
  const messageId = reader.u16('messageId');
  const flags = reader.u8('flags');
  if ((flags & ~CHUNK_FLAG_LAST) !== 0) {
    throw new PetError(
      'invalid-field',
      `chunk.flags: expected only bit 0 (last) to be set, got 0x${flags.toString(16).padStart(2, '0')}`,
    );
  }
  reader.zeros(3, 'reserved');
  const data = reader.take(reader.remaining, 'data');
  return { index, messageId, last: flags === CHUNK_FLAG_LAST, data };
}

/**
 * Splits a payload into chunk payloads of at most `maxChunkData` data bytes
 * each (an empty payload is one empty LAST chunk).
 */
export function splitPayload(payload: Uint8Array, maxChunkData: number, messageId: number): Uint8Array[] {
  return chunkRanges(payload.length, maxChunkData, messageId).map(({ index, last, start, end }) =>
    encodeChunk({ index, messageId, last, data: payload.subarray(start, end) }),
  );
}

/** Where each chunk of a payload of `length` bytes lies in it, as `splitPayload` splits it (same checks). */
export function chunkRanges(
  length: number,
  maxChunkData: number,
  messageId: number,
): { readonly index: number; readonly last: boolean; readonly start: number; readonly end: number }[] {
  if (!Number.isSafeInteger(maxChunkData) || maxChunkData < 1) {
    throw new PetError('invalid-field', `maxChunkData: expected a positive integer, got ${maxChunkData}`);
  }
  checkU16(messageId, 'messageId');
  const count = Math.max(1, Math.ceil(length / maxChunkData));
  if (count > MAX_CHUNKS) {
    throw new PetError(
      'oversized',
      `payload: expected at most ${MAX_CHUNKS} chunks of ${maxChunkData} bytes, got ${length} bytes (${count} chunks)`,
    );
  }
  return Array.from({ length: count }, (_, index) => ({
    index,
    last: index === count - 1,
    start: index * maxChunkData,
    end: Math.min(length, (index + 1) * maxChunkData),
  }));
}

export interface ChunkLimits {
  /** Bytes one participant may have held in incomplete messages at once. */
  readonly maxBytesPerParticipant: number;
  /** Bytes all participants together may have held at once. */
  readonly maxTotalBytes: number;
  /** Chunks one message may have (default and at most 65536). */
  readonly maxChunksPerMessage?: number;
}

/** One incomplete message. */
interface PartialMessage {
  readonly tag: number;
  /** Chunk data by index (copies, or views into payloads handed over). */
  readonly chunks: Map<number, Uint8Array>;
  /** Index of the LAST chunk once it arrived. */
  last: number | undefined;
  /** Highest index received so far. */
  highest: number;
  /** Bytes charged to the budgets. */
  bytes: number;
}

/**
 * Reassembles multipart payloads, bounded in memory (protocol.md §3.7).
 *
 * A message starts with its chunk 0, which the caller admits first (`admitFirst`: signatures and
 * task eligibility, read from the payload's first bytes) before anything is held; later chunks of
 * a message that never started are refused. A participant holds at most one incomplete message:
 * a new chunk 0 replaces its earlier one. Each chunk is charged its full chunk payload size
 * (header included), at least `MIN_CHUNK_COST`, so the number of chunks held is bounded too. A
 * chunk sent again with the same bytes (a retry whose answer was lost) is accepted again and
 * changes nothing. A rejected chunk changes nothing, except that a chunk over a budget also
 * drops the partial message it belonged to (which can then never complete) and releases its
 * memory.
 */
export class ChunkAssembler {
  /** participant key → message id → partial message. */
  private readonly partials = new Map<string, Map<number, PartialMessage>>();
  private readonly heldBy = new Map<string, number>();
  private held = 0;
  private readonly maxChunks: number;

  private readonly limits: ChunkLimits;

  constructor(limits: ChunkLimits) {
    this.limits = limits;
    for (const key of ['maxBytesPerParticipant', 'maxTotalBytes'] as const) {
      const v = limits[key];
      if (!Number.isSafeInteger(v) || v < 0) {
        throw new PetError('invalid-field', `chunk limits.${key}: expected a non-negative integer, got ${v}`);
      }
    }
    this.maxChunks = limits.maxChunksPerMessage ?? MAX_CHUNKS;
    if (!Number.isSafeInteger(this.maxChunks) || this.maxChunks < 1 || this.maxChunks > MAX_CHUNKS) {
      throw new PetError(
        'invalid-field',
        `chunk limits.maxChunksPerMessage: expected 1..${MAX_CHUNKS}, got ${limits.maxChunksPerMessage}`,
      );
    }
  }

  /** Bytes currently held in incomplete messages. */
  get bytesHeld(): number {
    return this.held;
  }

  /** Number of incomplete messages currently held. */
  get pendingMessages(): number {
    let n = 0;
    for (const byId of this.partials.values()) n += byId.size;
    return n;
  }

  /**
   * Adds one chunk payload (as opened from a multipart message of `tag`) from
   * a participant; returns the reassembled payload when this chunk completes
   * its message, else undefined. The chunk's data is copied unless `handOver`: then the
   * caller gives up `chunkPayload` (nothing else holds or changes its buffer) and the data is
   * kept as a view into it, a megabyte less to copy for a 1 MiB chunk.
   */
  add(
    participantKey: string,
    tag: number,
    chunkPayload: Uint8Array,
    admitFirst?: (firstChunkData: Uint8Array) => void,
    handOver = false,
  ): Uint8Array | undefined {
    const parts = this.addPart(participantKey, tag, chunkPayload, admitFirst, handOver);
    return parts === undefined ? undefined : joinBytes(parts);
  }

  /**
   * As `add`, but a completed message comes back as its chunks' data in order, not joined
   * (`joinBytes` joins them): a caller that decodes on another thread (an ingest worker) joins
   * them there and saves its own a copy of the whole payload. With `handOver`, the parts are
   * views into the chunk payloads given.
   */
  addPart(
    participantKey: string,
    tag: number,
    chunkPayload: Uint8Array,
    admitFirst?: (firstChunkData: Uint8Array) => void,
    handOver = false,
  ): Uint8Array[] | undefined {
    const chunk = decodeChunk(chunkPayload);
    const { index, messageId } = chunk;
    const where = `chunk ${index} of message ${messageId}`;
    const existing = this.partials.get(participantKey)?.get(messageId);

    if (existing !== undefined && existing.tag !== tag) {
      throw new PetError('chunk-mismatch', `${where}: expected tag ${existing.tag} as its earlier chunks, got ${tag}`);
    }
    const held = existing?.chunks.get(index);
    if (held !== undefined) {
      if (sameBytes(held, chunk.data)) return undefined; // a retry of a chunk already held
      throw new PetError('chunk-mismatch', `${where}: expected a new chunk index, got ${index} again`);
    }
    if (existing === undefined) {
      if (index !== 0) {
        throw new PetError('chunk-mismatch', `${where}: expected chunk 0 first, to start message ${messageId}`);
      }
      admitFirst?.(chunk.data);
    }
    const last = existing?.last;
    if (chunk.last) {
      if (last !== undefined) {
        throw new PetError('chunk-mismatch', `${where}: expected one LAST chunk, got a second after chunk ${last}`);
      }
      if (existing !== undefined && existing.highest > index) {
        throw new PetError(
          'chunk-mismatch',
          `${where}: expected LAST at or after the highest index received, ${existing.highest}, got ${index}`,
        );
      }
    } else {
      if (last !== undefined && index > last) {
        throw new PetError('chunk-mismatch', `${where}: expected an index below the LAST chunk ${last}, got ${index}`);
      }
      if (index === MAX_CHUNKS - 1) {
        throw new PetError('chunk-mismatch', `${where}: expected chunk ${MAX_CHUNKS - 1} to be the LAST chunk`);
      }
    }

    if (index >= this.maxChunks) {
      if (existing !== undefined) this.drop(participantKey, messageId, existing);
      throw new PetError(
        'oversized',
        `${where}: expected at most ${this.maxChunks} chunks per message, got index ${index}`,
      );
    }
    const cost = Math.max(chunkPayload.length, MIN_CHUNK_COST);
    if (existing === undefined) {
      // One incomplete message per participant: a new message replaces the one it abandoned.
      for (const [id, other] of this.partials.get(participantKey) ?? []) this.drop(participantKey, id, other);
    }
    const participantHeld = this.heldBy.get(participantKey) ?? 0;
    if (participantHeld + cost > this.limits.maxBytesPerParticipant || this.held + cost > this.limits.maxTotalBytes) {
      if (existing !== undefined) this.drop(participantKey, messageId, existing);
      const perParticipant = participantHeld + cost > this.limits.maxBytesPerParticipant;
      throw new PetError(
        'oversized',
        perParticipant
          ? `${where}: expected at most ${this.limits.maxBytesPerParticipant} bytes held for this participant, got ${participantHeld + cost}`
          : `${where}: expected at most ${this.limits.maxTotalBytes} bytes held in total, got ${this.held + cost}`,
      );
    }

    // Accepted: from here on nothing throws.
    const partial: PartialMessage = existing ?? { tag, chunks: new Map(), last: undefined, highest: -1, bytes: 0 };
    partial.chunks.set(index, handOver ? chunk.data : chunk.data.slice());
    if (chunk.last) partial.last = index;
    partial.highest = Math.max(partial.highest, index);
    partial.bytes += cost;
    this.held += cost;
    this.heldBy.set(participantKey, participantHeld + cost);

    if (partial.last !== undefined && partial.chunks.size === partial.last + 1) {
      this.drop(participantKey, messageId, partial);
      return Array.from({ length: partial.last + 1 }, (_, i) => partial.chunks.get(i) as Uint8Array);
    }
    if (existing === undefined) {
      let byId = this.partials.get(participantKey);
      if (byId === undefined) {
        byId = new Map();
        this.partials.set(participantKey, byId);
      }
      byId.set(messageId, partial);
    }
    return undefined;
  }

  /** Drops every incomplete message (at the end of a phase); returns how many were dropped. */
  dropIncomplete(): number {
    const dropped = this.pendingMessages;
    this.partials.clear();
    this.heldBy.clear();
    this.held = 0;
    return dropped;
  }

  private drop(participantKey: string, messageId: number, partial: PartialMessage): void {
    const byId = this.partials.get(participantKey);
    byId?.delete(messageId);
    if (byId?.size === 0) this.partials.delete(participantKey);
    this.held -= partial.bytes;
    const left = (this.heldBy.get(participantKey) ?? 0) - partial.bytes;
    if (left > 0) this.heldBy.set(participantKey, left);
    else this.heldBy.delete(participantKey);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
