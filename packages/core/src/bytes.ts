/**
 * Byte-range helpers for the binary codecs (architecture.md §7.4).
 *
 * `ByteReader` walks a buffer field by field; every read names its field so
 * that a short buffer fails with `truncated` and a message such as
 * `sum payload.ephemeralPk: expected 32 bytes, got 7`. `finish()` rejects
 * trailing bytes. All integers on the wire are big-endian unless a codec says
 * otherwise (mask values are little-endian, protocol.md §3.6).
 */

import { PetError } from './errors.ts';

export class ByteReader {
  private offset = 0;
  private readonly view: DataView;

  private readonly bytes: Uint8Array;
  /** What is being decoded, used as the prefix of every error message. */
  readonly context: string;

  constructor(bytes: Uint8Array, context: string) {
    this.bytes = bytes;
    this.context = context;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  private need(n: number, field: string): void {
    if (this.remaining < n) {
      throw new PetError(
        'truncated',
        `${this.context}.${field}: expected ${n} bytes at offset ${this.offset}, got ${this.remaining}`,
      );
    }
  }

  /** A view (not a copy) of the next `n` bytes. */
  take(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** A copy of the next `n` bytes, for values that outlive the input buffer. */
  copy(n: number, field: string): Uint8Array {
    return this.take(n, field).slice();
  }

  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.offset++);
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.offset, false);
    this.offset += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.offset, false);
    this.offset += 4;
    return v;
  }

  /** Reads `n` bytes that must all be zero (reserved fields). */
  zeros(n: number, field: string): void {
    const at = this.offset;
    const b = this.take(n, field);
    for (let i = 0; i < n; i++) {
      if (b[i] !== 0) {
        throw new PetError(
          'reserved-nonzero',
          `${this.context}.${field}: expected zero at offset ${at + i}, got ${b[i]}`,
        );
      }
    }
  }

  /** Rejects trailing bytes. */
  finish(): void {
    if (this.remaining !== 0) {
      throw new PetError(
        'trailing-bytes',
        `${this.context}: expected end of input at offset ${this.offset}, got ${this.remaining} more bytes`,
      );
    }
  }
}

export class ByteWriter {
  private offset = 0;
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  /** Writes a new zeroed buffer of `length` bytes, or fills `target` (zeroed by the caller) from its start. */
  constructor(length: number | Uint8Array) {
    this.bytes = typeof length === 'number' ? new Uint8Array(length) : length;
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  get position(): number {
    return this.offset;
  }

  put(src: Uint8Array): this {
    this.bytes.set(src, this.offset);
    this.offset += src.length;
    return this;
  }

  u8(v: number): this {
    this.view.setUint8(this.offset, v);
    this.offset += 1;
    return this;
  }

  u16(v: number): this {
    this.view.setUint16(this.offset, v, false);
    this.offset += 2;
    return this;
  }

  u32(v: number): this {
    this.view.setUint32(this.offset, v, false);
    this.offset += 4;
    return this;
  }

  skip(n: number): this {
    this.offset += n;
    return this;
  }

  /** Returns the buffer, asserting it was filled exactly (a codec bug otherwise). */
  done(): Uint8Array {
    if (this.offset !== this.bytes.length) {
      throw new Error(`ByteWriter: wrote ${this.offset} of ${this.bytes.length} bytes`);
    }
    return this.bytes;
  }
}

/** Checks a fixed-length field given by the caller (keys, signatures). */
export function expectLength(value: Uint8Array, length: number, field: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    const got = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
    throw new PetError('invalid-field', `${field}: expected ${length} bytes, got ${got}`);
  }
  return value;
}

/** Lexicographic byte comparison, for canonical (sorted) dictionary encodings. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return joinBytes(parts);
}

/** `parts` joined into one new array (as `concatBytes`, for a list of any length). */
export function joinBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const B64URL = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'];
const B64URL_INV = new Int16Array(128).fill(-1);
B64URL.forEach((c, i) => {
  B64URL_INV[c.charCodeAt(0)] = i;
});

/** base64url without padding (RFC 4648 §5), used for keys in JSON. */
export function toBase64Url(bytes: Uint8Array): string {
  const ch = (i: number): string => B64URL[i] as string;
  let s = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    s += ch(n >>> 18) + ch((n >>> 12) & 63) + ch((n >>> 6) & 63) + ch(n & 63);
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] as number) << 16;
    s += ch(n >>> 18) + ch((n >>> 12) & 63);
  } else if (rest === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    s += ch(n >>> 18) + ch((n >>> 12) & 63) + ch((n >>> 6) & 63);
  }
  return s;
}

/** Strict base64url decoding: no padding, no other alphabet, canonical trailing bits. */
export function fromBase64Url(text: string, field: string): Uint8Array {
  if (typeof text !== 'string' || text.length % 4 === 1) {
    throw new PetError('invalid-field', `${field}: expected base64url text, got ${describe(text)}`);
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? (B64URL_INV[c] as number) : -1;
    if (v < 0) {
      throw new PetError('invalid-field', `${field}: invalid base64url character at ${i}`);
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) {
    throw new PetError('invalid-field', `${field}: non-canonical base64url padding bits`);
  }
  return out;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return value.length > 40 ? `string(${value.length})` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}
