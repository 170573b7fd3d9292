import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { joinBytes } from '../bytes.ts';
import { PetError } from '../errors.ts';
import { bytePattern, errorCode, fromHex, toHex } from '../testing/message-fixtures.ts';
import {
  CHUNK_FLAG_LAST,
  CHUNK_HEADER_BYTES,
  ChunkAssembler,
  decodeChunk,
  encodeChunk,
  MAX_CHUNKS,
  MIN_CHUNK_COST,
  splitPayload,
} from './chunk.ts';

const roomy = { maxBytesPerParticipant: 1 << 20, maxTotalBytes: 1 << 22 };

describe('chunk codec (protocol.md §3.7)', () => {
  it('encodes the golden vector and decodes it back', () => {
    const chunk = { index: 2, messageId: 0x1234, last: true, data: Uint8Array.of(0xaa, 0xbb, 0xcc) };
    const golden = [
      '0002', // index u16 BE
      '1234', // message id u16 BE
      '01', // flags: LAST
      '000000', // reserved
      'aabbcc', // chunk data
    ].join('');
    expect(CHUNK_FLAG_LAST).toBe(0x01);
    expect(toHex(encodeChunk(chunk))).toBe(golden);
    expect(decodeChunk(fromHex(golden))).toStrictEqual(chunk);
    expect(decodeChunk(fromHex('0000ffff00000000'))).toStrictEqual({
      index: 0,
      messageId: 0xffff,
      last: false,
      data: new Uint8Array(0),
    });
  });

  it('rejects a short header, unknown flags and nonzero reserved bytes', () => {
    const bytes = fromHex('00021234010000aabbcc');
    for (let n = 0; n < CHUNK_HEADER_BYTES; n++)
      expect(errorCode(() => decodeChunk(bytes.subarray(0, n)))).toBe('truncated');
    for (const [at, value, code] of [
      [4, 0x02, 'invalid-field'],
      [4, 0xff, 'invalid-field'],
      [5, 1, 'reserved-nonzero'],
      [7, 0x80, 'reserved-nonzero'],
    ] as const) {
      const b = bytes.slice();
      b[at] = value;
      expect(errorCode(() => decodeChunk(b))).toBe(code);
    }
  });

  it('splits the golden payload', () => {
    const chunks = splitPayload(bytePattern(5, 1), 2, 7).map(toHex);
    // index ‖ message id 7 ‖ flags ‖ reserved ‖ data (payload 01..05, 2 bytes per chunk)
    expect(chunks).toEqual(['00000007000000000102', '00010007000000000304', '000200070100000005']);
    expect(splitPayload(new Uint8Array(0), 10, 1).map(toHex)).toEqual(['0000000101000000']);
    expect(splitPayload(bytePattern(4, 0), 4, 1).length).toBe(1);
  });

  it('refuses more than 65536 chunks and bad parameters', () => {
    expect(splitPayload(new Uint8Array(MAX_CHUNKS), 1, 0).length).toBe(MAX_CHUNKS);
    expect(errorCode(() => splitPayload(new Uint8Array(MAX_CHUNKS + 1), 1, 0))).toBe('oversized');
    expect(errorCode(() => splitPayload(new Uint8Array(1), 0, 0))).toBe('invalid-field');
    expect(errorCode(() => splitPayload(new Uint8Array(1), 1, 0x1_0000))).toBe('out-of-range');
    expect(errorCode(() => encodeChunk({ index: -1, messageId: 0, last: true, data: new Uint8Array(0) }))).toBe(
      'out-of-range',
    );
  });
});

describe('ChunkAssembler (protocol.md §3.7)', () => {
  it('reassembles any payload from chunk 0 and then its other chunks in any order', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.infiniteStream(fc.nat()),
        (payload, maxChunkData, messageId, randoms) => {
          const chunks = splitPayload(payload, maxChunkData, messageId);
          const order = chunks.map((c, i) => ({ c, key: i === 0 ? -1 : (randoms.next().value as number), i }));
          order.sort((a, b) => a.key - b.key || a.i - b.i);
          const assembler = new ChunkAssembler(roomy);
          let out: Uint8Array | undefined;
          for (const [n, { c }] of order.entries()) {
            out = assembler.add('p', 2, c);
            if (n < order.length - 1) expect(out).toBeUndefined();
          }
          expect(out).toEqual(payload);
          expect(assembler.bytesHeld).toBe(0);
          expect(assembler.dropIncomplete()).toBe(0);
        },
      ),
    );
  });

  it('keeps the data of chunks handed over as views, and copies those that are not', () => {
    const payload = Uint8Array.from({ length: 250 }, (_, i) => (i * 7) & 0xff);
    const [first, second, third] = splitPayload(payload, 100, 9) as [Uint8Array, Uint8Array, Uint8Array];
    const assembler = new ChunkAssembler(roomy);
    assembler.add('p', 2, first, undefined, true);
    assembler.add('p', 2, second); // copied: changing the caller's buffer later changes nothing
    second.fill(0);
    // A chunk handed over is the assembler's now: kept, not copied (the caller broke its promise
    // here only to show it), and its bytes are what the payload holds.
    (first[first.length - 1] as number) ^= 0xff;
    const expected = payload.slice();
    (expected[99] as number) ^= 0xff;
    expect(assembler.add('p', 2, third, undefined, true)).toEqual(expected);
    // and the retry check reads the kept view: the same bytes again are a retry, others a mismatch.
    const again = new ChunkAssembler(roomy);
    const kept = splitPayload(payload, 100, 9)[0] as Uint8Array;
    again.add('q', 2, kept, undefined, true);
    expect(again.add('q', 2, kept.slice())).toBeUndefined();
    const changed = kept.slice();
    changed.set([(changed.at(-1) as number) ^ 1], changed.length - 1);
    expect(() => again.add('q', 2, changed)).toThrow('expected a new chunk index');
  });

  it('hands a completed message back as its parts, in order, views into the chunks handed over', () => {
    const payload = Uint8Array.from({ length: 250 }, (_, i) => (i * 11) & 0xff);
    const chunks = splitPayload(payload, 100, 4) as [Uint8Array, Uint8Array, Uint8Array];
    const assembler = new ChunkAssembler(roomy);
    expect(assembler.addPart('p', 2, chunks[0], undefined, true)).toBeUndefined();
    expect(assembler.addPart('p', 2, chunks[2], undefined, true)).toBeUndefined();
    const parts = assembler.addPart('p', 2, chunks[1], undefined, true);
    expect(parts?.map((part) => part.length)).toEqual([100, 100, 50]);
    for (const [i, part] of (parts ?? []).entries()) expect(part.buffer).toBe(chunks[i]?.buffer);
    expect(joinBytes(parts ?? [])).toEqual(payload);
    expect(assembler.bytesHeld).toBe(0);
  });

  it('keeps participants apart, interleaved', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 100 }), { minLength: 1, maxLength: 4 }),
        fc.infiniteStream(fc.boolean()),
        (payloads, coin) => {
          // Each participant sends its messages one after the other; the two streams interleave.
          const streams = ['alice', 'bob'].map((who) =>
            payloads.flatMap((payload, m) => splitPayload(payload, 7, m).map((c) => ({ who, m, c }))),
          );
          const assembler = new ChunkAssembler(roomy);
          const done: string[] = [];
          while (streams.some((s) => s.length > 0)) {
            const pick = streams[0]?.length === 0 ? 1 : streams[1]?.length === 0 ? 0 : coin.next().value ? 1 : 0;
            const next = (streams[pick] as { who: string; m: number; c: Uint8Array }[]).shift();
            if (next === undefined) throw new Error('no chunk left');
            const { who, m, c } = next;
            const out = assembler.add(who, 1, c);
            if (out) {
              expect(out).toEqual(payloads[m]);
              done.push(`${who}/${m}`);
            }
          }
          expect(done.length).toBe(2 * payloads.length);
          expect(assembler.bytesHeld).toBe(0);
        },
      ),
    );
  });

  it('requires chunk 0 first and admits it before holding anything', () => {
    const chunks = splitPayload(bytePattern(30, 0), 10, 5);
    const c = (i: number) => chunks[i] as Uint8Array;
    const assembler = new ChunkAssembler(roomy);
    expect(errorCode(() => assembler.add('p', 2, c(1)))).toBe('chunk-mismatch');
    expect(errorCode(() => assembler.add('p', 2, c(2)))).toBe('chunk-mismatch');
    expect(assembler.bytesHeld).toBe(0);
    const seen: Uint8Array[] = [];
    const refuse = (data: Uint8Array) => {
      seen.push(data.slice());
      throw new PetError('not-eligible', 'test: not eligible');
    };
    expect(errorCode(() => assembler.add('p', 2, c(0), refuse))).toBe('not-eligible');
    expect(seen).toEqual([bytePattern(10, 0)]); // the admission check sees chunk 0's data
    expect(assembler.bytesHeld).toBe(0);
    expect(assembler.pendingMessages).toBe(0);
    let admitted = 0;
    expect(assembler.add('p', 2, c(0), () => admitted++)).toBeUndefined();
    expect(assembler.add('p', 2, c(1), () => admitted++)).toBeUndefined();
    expect(admitted).toBe(1); // only a message's first chunk is admitted
  });

  it('holds one incomplete message per participant: a new chunk 0 replaces the old message', () => {
    const first = splitPayload(bytePattern(30, 0), 10, 1);
    const second = splitPayload(bytePattern(30, 7), 10, 2);
    const assembler = new ChunkAssembler(roomy);
    assembler.add('p', 2, first[0] as Uint8Array);
    assembler.add('p', 2, first[1] as Uint8Array);
    assembler.add('p', 2, second[0] as Uint8Array);
    expect(assembler.pendingMessages).toBe(1);
    expect(assembler.bytesHeld).toBe(Math.max(MIN_CHUNK_COST, (second[0] as Uint8Array).length));
    expect(errorCode(() => assembler.add('p', 2, first[2] as Uint8Array))).toBe('chunk-mismatch');
    assembler.add('p', 2, second[1] as Uint8Array);
    expect(assembler.add('p', 2, second[2] as Uint8Array)).toEqual(bytePattern(30, 7));
    expect(assembler.bytesHeld).toBe(0);
  });

  it('takes a chunk sent again with the same bytes as a retry, and refuses other bytes at its index', () => {
    const chunks = splitPayload(bytePattern(30, 0), 10, 5);
    const c = (i: number) => chunks[i] as Uint8Array;
    const assembler = new ChunkAssembler(roomy);
    assembler.add('p', 2, c(0));
    assembler.add('p', 2, c(1));
    const held = assembler.bytesHeld;
    expect(assembler.add('p', 2, c(1))).toBeUndefined();
    expect(assembler.bytesHeld).toBe(held);
    const other = encodeChunk({ index: 1, messageId: 5, last: false, data: bytePattern(10, 99) });
    expect(errorCode(() => assembler.add('p', 2, other))).toBe('chunk-mismatch');
    expect(assembler.add('p', 2, c(2))).toEqual(bytePattern(30, 0));
  });

  it('rejects inconsistent chunks with chunk-mismatch and keeps what it held', () => {
    const chunks = splitPayload(bytePattern(30, 0), 10, 5); // indices 0, 1, 2 (LAST)
    const c = (i: number) => chunks[i] as Uint8Array;
    const cost = (b: Uint8Array) => Math.max(MIN_CHUNK_COST, b.length);
    const assembler = new ChunkAssembler(roomy);
    expect(assembler.add('p', 2, c(0))).toBeUndefined();
    expect(assembler.bytesHeld).toBe(cost(c(0)));
    expect(errorCode(() => assembler.add('p', 3, c(1)))).toBe('chunk-mismatch'); // other tag
    expect(assembler.add('p', 2, c(2))).toBeUndefined();
    const beyond = encodeChunk({ index: 3, messageId: 5, last: false, data: Uint8Array.of(1) });
    expect(errorCode(() => assembler.add('p', 2, beyond))).toBe('chunk-mismatch'); // beyond LAST
    const secondLast = encodeChunk({ index: 1, messageId: 5, last: true, data: Uint8Array.of(1) });
    expect(errorCode(() => assembler.add('p', 2, secondLast))).toBe('chunk-mismatch'); // second LAST
    expect(assembler.bytesHeld).toBe(cost(c(0)) + cost(c(2)));
    expect(assembler.add('p', 2, c(1))).toEqual(bytePattern(30, 0));
    expect(assembler.bytesHeld).toBe(0);

    // A LAST below an index already received.
    const early = new ChunkAssembler(roomy);
    early.add('p', 2, c(0));
    early.add('p', 2, c(2));
    expect(errorCode(() => early.add('p', 2, encodeChunk({ index: 1, messageId: 5, last: true, data: c(1) })))).toBe(
      'chunk-mismatch',
    );
    // A malformed chunk header changes nothing.
    expect(errorCode(() => early.add('p', 2, Uint8Array.of(0, 1)))).toBe('truncated');
    expect(early.bytesHeld).toBe(cost(c(0)) + cost(c(2)));
    expect(early.pendingMessages).toBe(1);
  });

  it('enforces the per-participant and total budgets, dropping the offending message', () => {
    const limits = { maxBytesPerParticipant: 2 * MIN_CHUNK_COST, maxTotalBytes: 3 * MIN_CHUNK_COST + 10 };
    const chunk = (index: number, messageId: number) =>
      encodeChunk({ index, messageId, last: false, data: new Uint8Array(12) }); // 20 bytes, charged MIN_CHUNK_COST
    const assembler = new ChunkAssembler(limits);
    assembler.add('alice', 1, chunk(0, 1));
    assembler.add('alice', 1, chunk(1, 1));
    expect(assembler.bytesHeld).toBe(2 * MIN_CHUNK_COST);
    expect(errorCode(() => assembler.add('alice', 1, chunk(2, 1)))).toBe('oversized');
    expect(assembler.bytesHeld).toBe(0); // alice's message dropped
    expect(assembler.pendingMessages).toBe(0);
    assembler.add('alice', 1, chunk(0, 2));
    assembler.add('bob', 1, chunk(0, 1));
    assembler.add('bob', 1, chunk(1, 1));
    expect(assembler.bytesHeld).toBe(3 * MIN_CHUNK_COST);
    expect(errorCode(() => assembler.add('carol', 1, chunk(0, 1)))).toBe('oversized'); // total
    expect(assembler.bytesHeld).toBe(3 * MIN_CHUNK_COST); // carol had nothing; nothing else touched
    expect(errorCode(() => assembler.add('bob', 1, chunk(2, 1)))).toBe('oversized'); // both budgets
    expect(assembler.bytesHeld).toBe(MIN_CHUNK_COST); // bob's message dropped
    expect(assembler.dropIncomplete()).toBe(1);
    expect(assembler.bytesHeld).toBe(0);
    expect(assembler.pendingMessages).toBe(0);
  });

  it('bounds chunks per message and charges even empty chunks at least MIN_CHUNK_COST', () => {
    const assembler = new ChunkAssembler({ ...roomy, maxChunksPerMessage: 2 });
    const empty = (index: number) => encodeChunk({ index, messageId: 0, last: false, data: new Uint8Array(0) });
    assembler.add('p', 1, empty(0));
    expect(assembler.bytesHeld).toBe(MIN_CHUNK_COST);
    expect(CHUNK_HEADER_BYTES).toBeLessThan(MIN_CHUNK_COST);
    expect(errorCode(() => assembler.add('p', 1, empty(2)))).toBe('oversized');
    expect(assembler.bytesHeld).toBe(0);
    expect(errorCode(() => new ChunkAssembler({ ...roomy, maxChunksPerMessage: 0 }))).toBe('invalid-field');
    expect(errorCode(() => new ChunkAssembler({ ...roomy, maxTotalBytes: -1 }))).toBe('invalid-field');
  });

  it('drops incomplete messages at phase end', () => {
    const assembler = new ChunkAssembler(roomy);
    for (const who of ['a', 'b', 'c']) assembler.add(who, 2, splitPayload(bytePattern(20, 0), 10, 9)[0] as Uint8Array);
    expect(assembler.pendingMessages).toBe(3);
    expect(assembler.dropIncomplete()).toBe(3);
    expect(assembler.bytesHeld).toBe(0);
    // Chunks of a dropped message cannot continue it: a message starts again with chunk 0.
    expect(errorCode(() => assembler.add('a', 2, splitPayload(bytePattern(20, 0), 10, 9)[1] as Uint8Array))).toBe(
      'chunk-mismatch',
    );
  });
});
