/**
 * Plain data as bytes (architecture.md §7.4): the values persisted state is
 * made of — undefined, null, booleans, numbers, strings, Uint8Array, arrays
 * and plain objects — in a small tagged, self-delimiting encoding, so the
 * state codec and the stores that need bytes (the encrypted IndexedDB store,
 * the file store) do not depend on a platform's structured clone.
 *
 * ```text
 *   value  = tag u8 ‖ body
 *   0 undefined | 1 null | 2 false | 3 true          (no body)
 *   4 number     f64 LE (8 B)
 *   5 string     length u32 BE ‖ UTF-8 bytes
 *   6 Uint8Array length u32 BE ‖ bytes
 *   7 array      count u32 BE ‖ count × value
 *   8 object     count u32 BE ‖ count × (key: length u32 BE ‖ UTF-8 ‖ value)
 * ```
 *
 * A framed value adds a header for things kept at rest:
 *
 * ```text
 *   0        4          5              9           13
 *   +--------+----------+--------------+-----------+-----------------+
 *   | magic  | format   | length u32   | CRC-32    | plain data      |
 *   | 4 B    | u8 (= 1) | BE (payload) | u32 BE    | (length bytes)  |
 *   +--------+----------+--------------+-----------+-----------------+
 * ```
 *
 * Decoding never trusts the input: every count is bounded by the bytes
 * left, nesting is limited, and any defect is a ParticipantRestoreError.
 */

import { ParticipantRestoreError } from './errors.ts';

export const PLAIN_DATA_FORMAT = 1;
export const FRAME_HEADER_BYTES = 13;
const MAX_DEPTH = 32;

const TAG = {
  undefined: 0,
  null: 1,
  false: 2,
  true: 3,
  number: 4,
  string: 5,
  bytes: 6,
  array: 7,
  object: 8,
} as const;

/** Encodes plain data; throws a TypeError naming the path of anything else (a function, a Date, …). */
export function encodePlainData(value: unknown): Uint8Array {
  const writer = new Writer();
  writeValue(writer, value, 'value', 0);
  return writer.done();
}

/** Decodes what `encodePlainData` wrote; `what` names the input in error messages. */
export function decodePlainData(bytes: Uint8Array, what = 'plain data'): unknown {
  const reader = new Reader(bytes, what);
  const value = reader.value(0);
  if (reader.remaining !== 0) throw reader.fail(`${reader.remaining} trailing bytes`);
  return value;
}

/** Plain data behind a 4-character magic, the format version, its length and a CRC-32. */
export function encodeFramed(magic: string, value: unknown): Uint8Array {
  const payload = encodePlainData(value);
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  out.set(magicBytes(magic), 0);
  out[4] = PLAIN_DATA_FORMAT;
  view.setUint32(5, payload.length);
  view.setUint32(9, crc32(payload));
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** The value of a framed buffer; foreign, truncated, corrupt or future-format input throws. */
export function decodeFramed(magic: string, bytes: unknown, what: string): unknown {
  if (!(bytes instanceof Uint8Array)) {
    throw new ParticipantRestoreError(`${what}: expected a Uint8Array, got ${describe(bytes)}`);
  }
  if (bytes.length < FRAME_HEADER_BYTES) {
    throw new ParticipantRestoreError(`${what}: expected at least ${FRAME_HEADER_BYTES} bytes, got ${bytes.length}`);
  }
  const expected = magicBytes(magic);
  if (expected.some((b, i) => bytes[i] !== b)) {
    throw new ParticipantRestoreError(`${what}: not a petfl ${what} (expected the magic '${magic}')`);
  }
  const format = bytes[4] as number;
  if (format !== PLAIN_DATA_FORMAT) {
    const newer = format > PLAIN_DATA_FORMAT ? ' (written by a newer SDK)' : '';
    throw new ParticipantRestoreError(`${what}.format: expected ${PLAIN_DATA_FORMAT}, got ${format}${newer}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(5);
  const payload = bytes.subarray(FRAME_HEADER_BYTES);
  if (payload.length !== length) {
    throw new ParticipantRestoreError(`${what}: expected ${length} payload bytes, got ${payload.length}`);
  }
  const checksum = view.getUint32(9);
  if (crc32(payload) !== checksum) throw new ParticipantRestoreError(`${what}: checksum mismatch (corrupt)`);
  return decodePlainData(payload, what);
}

function writeValue(writer: Writer, value: unknown, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new TypeError(`${path}: nested deeper than ${MAX_DEPTH} levels`);
  if (value === undefined) {
    writer.u8(TAG.undefined);
  } else if (value === null) {
    writer.u8(TAG.null);
  } else if (typeof value === 'boolean') {
    writer.u8(value ? TAG.true : TAG.false);
  } else if (typeof value === 'number') {
    writer.u8(TAG.number);
    writer.f64(value);
  } else if (typeof value === 'string') {
    writer.u8(TAG.string);
    writer.string(value);
  } else if (value instanceof Uint8Array) {
    writer.u8(TAG.bytes);
    writer.u32(value.length);
    writer.bytes(value);
  } else if (Array.isArray(value)) {
    writer.u8(TAG.array);
    writer.u32(value.length);
    for (let i = 0; i < value.length; i++) writeValue(writer, value[i], `${path}[${i}]`, depth + 1);
  } else if (typeof value === 'object' && isPlainObject(value)) {
    const entries = Object.entries(value);
    writer.u8(TAG.object);
    writer.u32(entries.length);
    for (const [key, item] of entries) {
      writer.string(key);
      writeValue(writer, item, `${path}.${key}`, depth + 1);
    }
  } else {
    throw new TypeError(`${path}: not plain data (${describe(value)})`);
  }
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

class Writer {
  private buffer = new Uint8Array(256);
  private view = new DataView(this.buffer.buffer);
  private length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  u8(value: number): void {
    this.reserve(1);
    this.buffer[this.length++] = value;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value);
    this.length += 4;
  }

  f64(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  bytes(value: Uint8Array): void {
    this.reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  string(value: string): void {
    const utf8 = encodeUtf8(value);
    this.u32(utf8.length);
    this.bytes(utf8);
  }

  done(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

class Reader {
  private offset = 0;
  private readonly view: DataView;

  private readonly input: Uint8Array;
  private readonly what: string;

  constructor(input: Uint8Array, what: string) {
    this.input = input;
    this.what = what;
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  get remaining(): number {
    return this.input.length - this.offset;
  }

  fail(problem: string): ParticipantRestoreError {
    return new ParticipantRestoreError(`${this.what}: ${problem} at offset ${this.offset}`);
  }

  private need(n: number, field: string): void {
    if (this.remaining < n) throw this.fail(`truncated: ${field} needs ${n} bytes, ${this.remaining} left`);
  }

  private u32(field: string): number {
    this.need(4, field);
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  private take(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.input.slice(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  private string(field: string): string {
    const length = this.u32(`${field} length`);
    const text = decodeUtf8(this.take(length, field));
    if (text === undefined) throw this.fail(`${field}: invalid UTF-8`);
    return text;
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) throw this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.need(1, 'tag');
    const tag = this.input[this.offset++] as number;
    switch (tag) {
      case TAG.undefined:
        return undefined;
      case TAG.null:
        return null;
      case TAG.false:
        return false;
      case TAG.true:
        return true;
      case TAG.number: {
        this.need(8, 'number');
        const value = this.view.getFloat64(this.offset, true);
        this.offset += 8;
        return value;
      }
      case TAG.string:
        return this.string('string');
      case TAG.bytes:
        return this.take(this.u32('bytes length'), 'bytes');
      case TAG.array: {
        const count = this.u32('array count');
        // Each element takes at least its tag byte: a larger count is corrupt, not a reason to allocate.
        if (count > this.remaining) throw this.fail(`array count ${count} exceeds the ${this.remaining} bytes left`);
        const out: unknown[] = [];
        for (let i = 0; i < count; i++) out.push(this.value(depth + 1));
        return out;
      }
      case TAG.object: {
        const count = this.u32('object count');
        if (count > this.remaining) throw this.fail(`object count ${count} exceeds the ${this.remaining} bytes left`);
        const out: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) {
          const key = this.string('key');
          if (Object.hasOwn(out, key) || key === '__proto__') throw this.fail(`duplicate or reserved key '${key}'`);
          out[key] = this.value(depth + 1);
        }
        return out;
      }
      default:
        this.offset--;
        throw this.fail(`unknown tag ${tag}`);
    }
  }
}

/** UTF-8 by hand: the SDK compiles without DOM/Node types, and TextEncoder is not in ES2022. */
function encodeUtf8(text: string): Uint8Array {
  const out: number[] = [];
  for (const char of text) {
    let cp = char.codePointAt(0) as number;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // a lone surrogate
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return Uint8Array.from(out);
}

/** Strict UTF-8 decoding; undefined for malformed input (overlong forms, surrogates, truncation). */
function decodeUtf8(bytes: Uint8Array): string | undefined {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i] as number;
    const size = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (size === 0 || i + size > bytes.length) return undefined;
    let cp = size === 1 ? b : b & (0xff >> (size + 1));
    for (let k = 1; k < size; k++) {
      const next = bytes[i + k] as number;
      if ((next & 0xc0) !== 0x80) return undefined;
      cp = (cp << 6) | (next & 63);
    }
    const min = [0, 0, 0x80, 0x800, 0x10000][size] as number;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
    out += String.fromCodePoint(cp);
    i += size;
  }
  return out;
}

function magicBytes(magic: string): Uint8Array {
  const bytes = encodeUtf8(magic);
  if (bytes.length !== 4) throw new TypeError(`magic: expected 4 ASCII characters, got '${magic}'`);
  return bytes;
}

let crcTables: Uint32Array[] | undefined;

/**
 * CRC-32 (IEEE 802.3, as in zip and PNG): catches accidental corruption, not tampering. Eight
 * bytes per step through eight tables ("slicing-by-8"): a framed 6.4 MB payload is checked in
 * about half the time of the byte-at-a-time loop (bench/results/plain-data.json).
 */
export function crc32(bytes: Uint8Array): number {
  crcTables ??= crc32Tables();
  const [t0, t1, t2, t3, t4, t5, t6, t7] = crcTables as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];
  let crc = 0xffffffff;
  let i = 0;
  const whole = bytes.length - (bytes.length % 8);
  for (; i < whole; i += 8) {
    const lo =
      (crc ^
        ((bytes[i] as number) |
          ((bytes[i + 1] as number) << 8) |
          ((bytes[i + 2] as number) << 16) |
          ((bytes[i + 3] as number) << 24))) >>>
      0;
    crc =
      (t7[lo & 0xff] as number) ^
      (t6[(lo >>> 8) & 0xff] as number) ^
      (t5[(lo >>> 16) & 0xff] as number) ^
      (t4[lo >>> 24] as number) ^
      (t3[bytes[i + 4] as number] as number) ^
      (t2[bytes[i + 5] as number] as number) ^
      (t1[bytes[i + 6] as number] as number) ^
      (t0[bytes[i + 7] as number] as number);
  }
  for (; i < bytes.length; i++) crc = (t0[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Table k maps a byte to its CRC contribution k bytes further on (table 0: the classic table). */
function crc32Tables(): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const t0 = tables[0] as Uint32Array;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t0[n] = c >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    const prev = tables[k - 1] as Uint32Array;
    const table = tables[k] as Uint32Array;
    for (let n = 0; n < 256; n++) {
      const c = prev[n] as number;
      table[n] = ((t0[c & 0xff] as number) ^ (c >>> 8)) >>> 0;
    }
  }
  return tables;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return `a Uint8Array of ${value.length} bytes`;
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  if (typeof value === 'string') return `the string '${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  return `${typeof value} ${String(value)}`;
}
