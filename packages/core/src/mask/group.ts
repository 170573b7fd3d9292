/**
 * Group arithmetic on typed arrays: the hot paths of masking, aggregation and
 * unmasking (protocol.md §4.3–4.5).
 *
 * Elements of Z_order are stored one of two ways, chosen by the config:
 * - the float path (order < 2^52): one exact double per element, in a
 *   Float64Array; a sum of two elements stays below 2^53, so every add,
 *   subtract and reduction is exact;
 * - the limbs path (larger orders): `limbs` little-endian Uint32 limbs per
 *   element, in one Uint32Array.
 * No BigInt is touched per element. Loops allocate nothing.
 */

import { PetError } from '../errors.ts';
import type { MaskParams } from './config.ts';
import type { KeystreamReader } from './sampling.ts';

/** n group elements: Float64Array(n) on the float path, Uint32Array(n·limbs) on the limbs path. */
export type Elements = Float64Array | Uint32Array;

export interface Group {
  readonly params: MaskParams;
  /** Array slots per element: 1 on the float path, `limbs` on the limbs path. */
  readonly stride: number;
  alloc(count: number): Elements;
  /** Draws `count` uniform elements from the keystream into `out` starting at element `at`. */
  draw(reader: KeystreamReader, out: Elements, at: number, count: number): void;
  /**
   * out[at + i] = encode(clamp(scalar · values[from + i])) + mask_i mod order for i < count,
   * mask_i drawn from the reader in order; `scalar` must be finite. Returns the index in `values`
   * of the first non-finite value (the output is then garbage and must be discarded), or −1.
   */
  maskInto(
    values: ArrayLike<number>,
    from: number,
    count: number,
    scalar: number,
    reader: KeystreamReader,
    out: Elements,
    at: number,
  ): number;
  /** out[0] = encode(clamp(scalar)) + mask mod order, the mask drawn from the reader. */
  maskScalar(scalar: number, reader: KeystreamReader, out: Elements): void;
  /** acc ← acc + x (mod order), elementwise. */
  addInto(acc: Elements, x: Elements): void;
  /**
   * acc[at + i] ← acc[at + i] + mask_i (mod order) for i < count, the mask drawn as `draw` draws it:
   * deriving and adding a mask in one pass (`Aggregation.aggregateDerived`). Optional: a group
   * without it is drawn into a scratch block and added with `addInto`.
   */
  drawAdd?(reader: KeystreamReader, acc: Elements, at: number, count: number): void;
  /** acc ← acc − x (mod order), elementwise. */
  subInto(acc: Elements, x: Elements): void;
  /**
   * Packs `count` elements at elementBits bits each (protocol.md §3.6) into
   * bytes[offset .. offset + packedByteLength(elementBits, count)), padding bits zero.
   */
  write(values: Elements, count: number, bytes: Uint8Array, offset: number): void;
  /**
   * Unpacks `count` elements from bytes[offset .. offset + packedByteLength(elementBits, count)),
   * which must all be present; each must be below the order (`out-of-range`) and the padding
   * bits after the last one zero (`invalid-field`).
   */
  read(bytes: Uint8Array, offset: number, count: number, field: string): Elements;
  /**
   * Decodes an unmasked aggregate of `modelCount` models: value_i = (V_i − N·A·E) / (S − N·A·E),
   * where S is the unmasked scalar sum (protocol.md §4.5).
   */
  decode(values: Elements, scalar: Elements, modelCount: number): Float64Array;
  /** The index of the first element above `bound` (a non-negative integer below the order), or −1. */
  firstAbove(values: Elements, bound: bigint): number;
  /** The element at index i as a BigInt (tests, diagnostics; never in a hot loop). */
  toBigInt(values: Elements, i: number): bigint;
  /** Elements from BigInts (tests, fixtures). */
  fromBigInts(values: readonly bigint[]): Elements;
}

export const TWO32 = 4294967296;
/** Veltkamp splitter for Dekker's exact product: 2^27 + 1. */
const SPLITTER = 134217729;

const groups = new Map<string, Group>();

export function groupFor(params: MaskParams): Group {
  let g = groups.get(params.name);
  if (!g) {
    g = params.arithmetic === 'float' ? new FloatGroup(params) : new LimbGroup(params);
    groups.set(params.name, g);
  }
  return g;
}

/**
 * Bytes of `count` packed elements of `elementBits` bits (protocol.md §3.6): the vector is the
 * little-endian integer Σ vᵢ·2^(i·elementBits), in ceil(count · elementBits / 8) bytes.
 */
export function packedByteLength(elementBits: number, count: number): number {
  // count < 2^32 and elementBits ≤ 2142: the product stays far below 2^53.
  return Math.ceil((count * elementBits) / 8);
}

/**
 * Checks the padding bits of a packed vector: those of its last byte at and above bit
 * (count · elementBits) mod 8 must be zero, so that every vector has exactly one encoding.
 */
export function checkPadding(
  bytes: Uint8Array,
  offset: number,
  count: number,
  elementBits: number,
  field: string,
): void {
  const used = (count * elementBits) % 8;
  if (used === 0) return;
  const last = bytes[offset + packedByteLength(elementBits, count) - 1] as number;
  if (last >>> used !== 0) {
    throw new PetError(
      'invalid-field',
      `${field}: expected the ${8 - used} padding bits after element ${count - 1} to be zero, got 0x${last.toString(16)} in the last byte`,
    );
  }
}

/** Little-endian 32 bits at bytes[p..p+4), zeros past `end` (the tail of a packed vector). */
function u32Tail(bytes: Uint8Array, p: number, end: number): number {
  let w = 0;
  for (let k = 3; k >= 0; k--) w = (w << 8) | (p + k < end ? (bytes[p + k] as number) : 0);
  return w >>> 0;
}

/**
 * The float path's hot loop of `read` (elements of w = 33..52 bits), kept small and apart from the
 * tail and the errors so that V8 optimizes it once and keeps it: `count` elements from byte
 * `offset`, each read from the 8 bytes where it starts. Returns how many were read: `count`, or
 * the index of the first element not below `order` (the caller reports it).
 */
function readPackedWords(
  view: DataView,
  offset: number,
  count: number,
  w: number,
  hiMask: number,
  order: number,
  out: Float64Array,
): number {
  let p = offset;
  let s = 0;
  for (let i = 0; i < count; i++) {
    const l0 = view.getUint32(p, true);
    const l1 = view.getUint32(p + 4, true);
    const v = (((l0 >>> s) | ((l1 << 1) << (31 - s))) >>> 0) + ((l1 >>> s) & hiMask) * TWO32;
    if (v >= order) return i;
    out[i] = v;
    s += w;
    p += s >>> 3;
    s &= 7;
  }
  return count;
}

/**
 * How many of `count` packed elements of w ≤ 52 bits have all 8 bytes from their first byte inside
 * the vector (the float path's `readPackedWords` reads those; mask/packed.ts too).
 */
export function wholePackedWords(w: number, count: number): number {
  const bytes = packedByteLength(w, count);
  return count === 0 || bytes < 8 ? 0 : Math.min(count, Math.floor(((bytes - 8) * 8) / w) + 1);
}

/** Element i of the packed vector at `offset` (w ≤ 52 bits), read byte by byte: one of the last few, past `wholePackedWords`. */
export function packedTailElement(bytes: Uint8Array, offset: number, count: number, i: number, w: number): number {
  const end = offset + packedByteLength(w, count);
  const bit = i * w;
  const p = offset + Math.floor(bit / 8);
  const s = bit % 8;
  const l0 = u32Tail(bytes, p, end);
  const l1 = u32Tail(bytes, p + 4, end);
  return (((l0 >>> s) | ((l1 << 1) << (31 - s))) >>> 0) + ((l1 >>> s) & (2 ** (w - 32) - 1)) * TWO32;
}

export function outOfRange(field: string, index: number, order: bigint): PetError {
  return new PetError('out-of-range', `${field}[${index}]: expected an element below the group order ${order}`);
}

function zeroScalarSum(): PetError {
  return new PetError('zero-scalar-sum', 'unmask: the sum of the scalars is 0; the weighted average is undefined');
}

/**
 * q = floor((clamp(v, −A, U) + A) · E), exactly (protocol.md §4.3), in doubles: for the float
 * path, and for limb elements whose every encoding (A + U)·E is below 2^53. v is finite; A, U and
 * E are integers, and eHigh + eLow = E is E split for Dekker's product (SPLITTER).
 */
function encodeExactly(value: number, a: number, u: number, e: number, eHigh: number, eLow: number): number {
  const v = Math.min(Math.max(value, -a), u);
  const t = Math.trunc(v);
  const f = v - t; // exact, |f| < 1
  // Dekker's product: p + err = f · E exactly.
  const p = f * e;
  const c = SPLITTER * f;
  const fh = c - (c - f);
  const fl = f - fh;
  const err = fh * eHigh - p + fh * eLow + fl * eHigh + fl * eLow;
  const fp = Math.floor(p);
  // floor(p + err) = floor(p), except when p is an integer and err < 0.
  return (t + a) * e + fp - (+(p === fp) & +(err < 0));
}

// ---------------------------------------------------------------------------
// Float path

class FloatGroup implements Group {
  readonly stride = 1;
  private readonly order: number;
  private readonly a: number;
  private readonly e: number;
  private readonly eHigh: number;
  private readonly eLow: number;
  private readonly loMask: number;
  private readonly hiMask: number;
  /** elementBits − 32: the bits of an element above its low 32 (packing). */
  private readonly hiBits: number;

  readonly params: MaskParams;

  constructor(params: MaskParams) {
    this.params = params;
    if (params.elementBits <= 32) throw new RangeError(`${params.name}: the float path packs elements above 32 bits`);
    this.hiBits = params.elementBits - 32;
    this.order = Number(params.order);
    this.a = Number(params.addShift);
    this.e = Number(params.expShift);
    // A and E are exact doubles on this path (A ≤ 100, E = 10^10).
    const c = SPLITTER * this.e;
    this.eHigh = c - (c - this.e);
    this.eLow = this.e - this.eHigh;
    const bits = params.elementBits;
    // Masks for the two little-endian words of a draw (the low word is re-read unsigned).
    this.loMask = bits >= 32 ? 0xffffffff : 2 ** bits - 1;
    this.hiMask = bits > 32 ? 2 ** (bits - 32) - 1 : 0;
  }

  alloc(count: number): Float64Array {
    return new Float64Array(count);
  }

  draw(reader: KeystreamReader, out: Elements, at: number, count: number): void {
    this.fill(reader, out, at, count, null, 0, 0);
  }

  maskScalar(scalar: number, reader: KeystreamReader, out: Elements): void {
    this.fill(reader, out, 0, 1, null, 0, 0);
    const x = this.encode(scalar) + (out[0] as number);
    out[0] = x - this.order * +(x >= this.order);
  }

  /**
   * q = floor((clamp(v, −A, A) + A) · E), exactly (protocol.md §4.3); v is finite. The upper
   * bound U equals A on this path (only i32/i64 bmax differ, and their orders exceed 2^52).
   */
  private encode(value: number): number {
    return encodeExactly(value, this.a, this.a, this.e, this.eHigh, this.eLow);
  }

  maskInto(
    values: ArrayLike<number>,
    from: number,
    count: number,
    scalar: number,
    reader: KeystreamReader,
    out: Elements,
    at: number,
  ): number {
    if (this.fill(reader, out, at, count, values, from, scalar) === 0) return -1;
    // Error path only: find the first non-finite value for the message.
    for (let i = from; i < from + count; i++) if ((values[i] as number) - (values[i] as number) !== 0) return i;
    return -1;
  }

  /**
   * The masking hot loop. Draws one uniform element per output (protocol.md §5.3: two
   * little-endian words, masked to elementBits, rejected when ≥ order; bytesPerNumber bytes
   * consumed per draw) and, when `values` is given, adds the exact fixed-point encoding of
   * clamp(scalar · value) (protocol.md §4.3). Works chunk by chunk on local variables.
   * Returns nonzero when a value was NaN or ±Infinity (validation fused into the one pass).
   */
  private fill(
    reader: KeystreamReader,
    out: Elements,
    at: number,
    count: number,
    values: ArrayLike<number> | null,
    from: number,
    scalar: number,
  ): number {
    const { order, loMask, hiMask } = this;
    const bpn = this.params.bytesPerNumber;
    let nonFinite = 0;
    let i = 0;
    while (i < count) {
      reader.refill(8);
      const view = reader.view;
      const start = reader.pos;
      const limit = reader.end - 8; // each draw reads 8 bytes: stay inside the window
      let p = start;
      while (i < count && p <= limit) {
        const r = ((view.getUint32(p, true) & loMask) >>> 0) + (view.getUint32(p + 4, true) & hiMask) * TWO32;
        p += bpn;
        if (r >= order) continue; // rejection (never taken for power2 orders)
        if (values === null) {
          out[at + i] = r;
        } else {
          const w = values[from + i] as number;
          nonFinite |= +(w - w !== 0); // w − w is NaN for NaN and ±Infinity
          const x = this.encode(scalar * w) + r;
          // Branch-free reduction: a data-dependent branch here would mispredict half the time.
          out[at + i] = x - order * +(x >= order);
        }
        i++;
      }
      reader.consumed += p - start;
      reader.pos = p;
    }
    return nonFinite;
  }

  addInto(acc: Elements, x: Elements): void {
    const order = this.order;
    const n = acc.length;
    for (let i = 0; i < n; i++) {
      const s = (acc[i] as number) + (x[i] as number);
      acc[i] = s - order * +(s >= order);
    }
  }

  /** `fill`'s draw loop, each draw added into `acc` mod the order instead of stored. */
  drawAdd(reader: KeystreamReader, acc: Elements, at: number, count: number): void {
    const { order, loMask, hiMask } = this;
    const bpn = this.params.bytesPerNumber;
    let i = 0;
    while (i < count) {
      reader.refill(8);
      const view = reader.view;
      const start = reader.pos;
      const limit = reader.end - 8;
      let p = start;
      while (i < count && p <= limit) {
        const r = ((view.getUint32(p, true) & loMask) >>> 0) + (view.getUint32(p + 4, true) & hiMask) * TWO32;
        p += bpn;
        if (r >= order) continue; // rejection (never taken for power2 orders)
        const s = (acc[at + i] as number) + r;
        acc[at + i] = s - order * +(s >= order);
        i++;
      }
      reader.consumed += p - start;
      reader.pos = p;
    }
  }

  subInto(acc: Elements, x: Elements): void {
    const order = this.order;
    const n = acc.length;
    for (let i = 0; i < n; i++) {
      const d = (acc[i] as number) - (x[i] as number);
      acc[i] = d + order * +(d < 0);
    }
  }

  /**
   * Packs elements of elementBits = 32 + hiBits bits (45 or 51 on this path: every float-path
   * order exceeds 2^32): each element's low 32 bits, then its hiBits high bits, go into a
   * little-endian bit accumulator that is stored a 32-bit word at a time.
   */
  write(values: Elements, count: number, bytes: Uint8Array, offset: number): void {
    const hiBits = this.hiBits;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let o = offset;
    let acc = 0; // the pending bits, below bit n
    let n = 0; // 0 ≤ n < 32
    for (let i = 0; i < count; i++) {
      const v = values[i] as number;
      const lo = v >>> 0; // v mod 2^32: exact for an integer below 2^53
      const hi = (v - lo) / TWO32;
      view.setUint32(o, (acc | (lo << n)) >>> 0, true);
      o += 4;
      // the bits of lo not yet stored (none when n = 0; a shift by 32 would keep them all)
      acc = ((lo >>> 1) >>> (31 - n)) | (hi << n);
      n += hiBits;
      if (n >= 32) {
        view.setUint32(o, acc >>> 0, true);
        o += 4;
        n -= 32;
        acc = hi >>> (hiBits - n);
      }
    }
    for (let k = 0; k < n; k += 8) bytes[o++] = acc >>> k;
  }

  read(bytes: Uint8Array, offset: number, count: number, field: string): Float64Array {
    const order = this.order;
    const hiMask = 2 ** this.hiBits - 1;
    const w = this.params.elementBits;
    const out = new Float64Array(count);
    // Element i starts at bit s = (i · w) mod 8 of byte p = offset + floor(i · w / 8); its w ≤ 52
    // bits lie in the 8 bytes from p (s ≤ 7). Every element whose 8 bytes lie inside the vector
    // is read by `readPackedWords`, the few at its end by `packedTailElement`.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const whole = wholePackedWords(w, count);
    let i = readPackedWords(view, offset, whole, w, hiMask, order, out);
    if (i < whole) throw outOfRange(field, i, this.params.order); // never for power2 orders
    for (; i < count; i++) {
      const v = packedTailElement(bytes, offset, count, i, w);
      if (v >= order) throw outOfRange(field, i, this.params.order);
      out[i] = v;
    }
    checkPadding(bytes, offset, count, w, field);
    return out;
  }

  decode(values: Elements, scalar: Elements, modelCount: number): Float64Array {
    const shift = modelCount * this.a * this.e; // N·A·E < order < 2^52: exact
    const den = (scalar[0] as number) - shift;
    if (!(den > 0)) throw zeroScalarSum();
    const out = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = ((values[i] as number) - shift) / den;
    return out;
  }

  firstAbove(values: Elements, bound: bigint): number {
    const b = Number(bound); // bound < order < 2^52: exact
    for (let i = 0; i < values.length; i++) if ((values[i] as number) > b) return i;
    return -1;
  }

  toBigInt(values: Elements, i: number): bigint {
    return BigInt(values[i] as number);
  }

  fromBigInts(values: readonly bigint[]): Float64Array {
    return Float64Array.from(values, (v) => Number(v));
  }
}

// ---------------------------------------------------------------------------
// Limbs path

/** Little-endian 32-bit limbs of a non-negative BigInt. */
export function bigIntToLimbs(value: bigint, limbs: number): Uint32Array {
  const out = new Uint32Array(limbs);
  let v = value;
  for (let i = 0; i < limbs; i++) {
    out[i] = Number(v & 0xffffffffn);
    v >>= 32n;
  }
  if (v !== 0n) throw new RangeError(`value does not fit in ${limbs} limbs`);
  return out;
}

function bigIntToDigits16(value: bigint): Float64Array {
  const digits: number[] = [];
  let v = value;
  while (v > 0n) {
    digits.push(Number(v & 0xffffn));
    v >>= 16n;
  }
  return Float64Array.from(digits);
}

const POW2 = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);

class LimbGroup implements Group {
  readonly stride: number;
  private readonly limbCount: number;
  /** The order mod 2^(32·limbs): zero when the order is exactly 2^(32·limbs) (power2). */
  private readonly orderLimbs: Uint32Array;
  /** True when the order is 2^(32·limbs): every L-limb value is then an element. */
  private readonly orderAboveLimbs: boolean;
  private readonly shiftedZero: Uint32Array;
  /** (A + U)·E: the encoding of every value above the upper clamp bound U. */
  private readonly topEncoding: Uint32Array;
  private readonly topMask: number;
  /** elementBits − 32·(L − 1), in 1..32: the bits of an element's top limb. */
  private readonly topBits: number;
  private readonly e16: Float64Array;
  // Scratch, reused by every call: no allocation per element.
  private readonly product: Float64Array;
  private readonly q: Uint32Array;
  private readonly r: Uint32Array;
  private readonly t: Uint32Array;
  private readonly f64 = new Float64Array(1);
  private readonly u32 = new Uint32Array(this.f64.buffer);
  /** The order's two low limbs (two-limb elements: `addTwo`, `drawTwo`). */
  private readonly order0: number;
  private readonly order1: number;
  /** The last element `drawTwo` drew, low and high limb. */
  private drawn0 = 0;
  private drawn1 = 0;
  /**
   * Set when every encoding fits in a double: (A + U)·E < 2^53 (f32 data with b4, or b2 with
   * m6 and above; i32 data; i64 up to b6). Only the group order needs limbs then, and `maskInto`
   * encodes in doubles, as the float path does.
   */
  private readonly small: {
    readonly a: number;
    readonly u: number;
    readonly e: number;
    readonly eHigh: number;
    readonly eLow: number;
  } | null;

  readonly params: MaskParams;

  constructor(params: MaskParams) {
    this.params = params;
    if ((params.addShift + params.upperBound) * params.expShift < 1n << 53n) {
      const e = Number(params.expShift);
      const c = SPLITTER * e;
      const eHigh = c - (c - e);
      this.small = { a: Number(params.addShift), u: Number(params.upperBound), e, eHigh, eLow: e - eHigh };
    } else {
      this.small = null;
    }
    const L = params.limbs;
    this.limbCount = L;
    this.stride = L;
    // With order = 2^(32L), adding and subtracting it modulo 2^(32L) is adding zero, and the
    // limb-level carry/borrow already wraps correctly: only the range check needs the flag.
    this.orderAboveLimbs = params.order === 1n << BigInt(32 * L);
    this.orderLimbs = bigIntToLimbs(params.order % (1n << BigInt(32 * L)), L);
    this.order0 = this.orderLimbs[0] as number;
    this.order1 = L > 1 ? (this.orderLimbs[1] as number) : 0;
    this.shiftedZero = bigIntToLimbs(params.shiftedZero, L);
    this.topEncoding = bigIntToLimbs((params.addShift + params.upperBound) * params.expShift, L);
    const topBits = params.elementBits - 32 * (L - 1);
    this.topBits = topBits;
    this.topMask = topBits >= 32 ? 0xffffffff : 2 ** topBits - 1;
    this.e16 = bigIntToDigits16(params.expShift);
    this.product = new Float64Array(this.e16.length + 6);
    this.q = new Uint32Array(L);
    this.r = new Uint32Array(L);
    this.t = new Uint32Array(L);
  }

  alloc(count: number): Uint32Array {
    return new Uint32Array(count * this.limbCount);
  }

  /** x[xo..xo+L) ≥ order? */
  private geOrder(x: Uint32Array, xo: number): boolean {
    if (this.orderAboveLimbs) return false;
    const ord = this.orderLimbs;
    for (let k = this.limbCount - 1; k >= 0; k--) {
      const a = x[xo + k] as number;
      const b = ord[k] as number;
      if (a !== b) return a > b;
    }
    return true;
  }

  /** Draws one element into out[oo..oo+L) (protocol.md §5.3). */
  private drawOne(reader: KeystreamReader, out: Uint32Array, oo: number): void {
    const L = this.limbCount;
    const bpn = this.params.bytesPerNumber;
    do {
      if (reader.end - reader.pos < 4 * L) reader.refill(4 * L);
      const b = reader.buf;
      let p = reader.pos;
      reader.pos += bpn;
      reader.consumed += bpn;
      for (let k = 0; k < L; k++, p += 4) {
        out[oo + k] =
          ((b[p] as number) |
            ((b[p + 1] as number) << 8) |
            ((b[p + 2] as number) << 16) |
            ((b[p + 3] as number) << 24)) >>>
          0;
      }
      // Bytes past bytesPerNumber sit above elementBits: the top mask clears them.
      out[oo + L - 1] = ((out[oo + L - 1] as number) & this.topMask) >>> 0;
    } while (this.geOrder(out, oo));
  }

  draw(reader: KeystreamReader, out: Elements, at: number, count: number): void {
    const o = out as Uint32Array;
    if (this.limbCount === 2) {
      for (let i = 0; i < count; i++) {
        this.drawTwo(reader);
        o[2 * (at + i)] = this.drawn0;
        o[2 * (at + i) + 1] = this.drawn1;
      }
      return;
    }
    for (let i = 0; i < count; i++) this.drawOne(reader, o, (at + i) * this.limbCount);
  }

  /** a[ao..] ← (a[ao..] + b[bo..]) mod order, for a and b already below the order. */
  private addMod(a: Uint32Array, ao: number, b: Uint32Array, bo: number): void {
    const L = this.limbCount;
    const t = this.t;
    const ord = this.orderLimbs;
    let carry = 0;
    for (let k = 0; k < L; k++) {
      const s = (a[ao + k] as number) + (b[bo + k] as number) + carry;
      a[ao + k] = s;
      carry = s >= TWO32 ? 1 : 0;
    }
    let borrow = 0;
    for (let k = 0; k < L; k++) {
      const d = (a[ao + k] as number) - (ord[k] as number) - borrow;
      t[k] = d;
      borrow = d < 0 ? 1 : 0;
    }
    // keep a − order when the sum overflowed the limbs or did not borrow (sum ≥ order)
    if (carry === 1 || borrow === 0) a.set(t, ao);
  }

  /** a[ao..] ← (a[ao..] − b[bo..]) mod order. */
  private subMod(a: Uint32Array, ao: number, b: Uint32Array, bo: number): void {
    const L = this.limbCount;
    const ord = this.orderLimbs;
    let borrow = 0;
    for (let k = 0; k < L; k++) {
      const d = (a[ao + k] as number) - (b[bo + k] as number) - borrow;
      a[ao + k] = d;
      borrow = d < 0 ? 1 : 0;
    }
    if (borrow === 1) {
      let carry = 0;
      for (let k = 0; k < L; k++) {
        const s = (a[ao + k] as number) + (ord[k] as number) + carry;
        a[ao + k] = s;
        carry = s >= TWO32 ? 1 : 0;
      }
    }
  }

  /** Digit d of the 16-bit product, zero outside it. */
  private digit(d: number): number {
    return d >= 0 && d < this.product.length ? (this.product[d] as number) : 0;
  }

  /** 32 bits of the product starting at bit `o` (o may be negative: zeros below bit 0). */
  private bits32(o: number): number {
    const d = Math.floor(o / 16);
    const s = o - 16 * d;
    const w = this.digit(d) + this.digit(d + 1) * 65536 + this.digit(d + 2) * TWO32; // < 2^48, exact
    return Math.floor(w / (POW2[s] as number)) % TWO32;
  }

  /** Any nonzero bit of the product below bit `b`? */
  private anyBitBelow(b: number): boolean {
    const full = Math.min(Math.floor(b / 16), this.product.length);
    for (let k = 0; k < full; k++) if (this.product[k] !== 0) return true;
    const s = b - 16 * full;
    return s > 0 && full < this.product.length && (this.product[full] as number) % (POW2[s] as number) !== 0;
  }

  /**
   * q ← floor((clamp(v, −A, U) + A) · E) exactly (protocol.md §4.3). v = ±m·2^e2 with m < 2^53,
   * so q = A·E ± floor-or-ceil(m·E·2^e2), with m·E formed in 16-bit digits.
   */
  private encode(v: number, q: Uint32Array): void {
    if (this.small !== null) {
      const x = this.encodeSmall(v); // < 2^53: two limbs, the rest 0
      const hi = Math.floor(x / TWO32);
      q.fill(0);
      q[0] = x - hi * TWO32;
      q[1] = hi;
      return;
    }
    if (v > this.params.upperBoundAsDouble) {
      q.set(this.topEncoding);
      return;
    }
    if (v < -this.params.boundAsDouble) {
      q.fill(0);
      return;
    }
    this.f64[0] = v;
    const lo = this.u32[0] as number;
    const hi = this.u32[1] as number;
    const negative = hi >>> 31 === 1;
    const exponent = (hi >>> 20) & 0x7ff;
    const mHigh = (hi & 0xfffff) + (exponent !== 0 ? 0x100000 : 0);
    if (lo === 0 && mHigh === 0) {
      q.set(this.shiftedZero);
      return;
    }
    const e2 = (exponent === 0 ? 1 : exponent) - 1075;
    const m0 = lo & 0xffff;
    const m1 = lo >>> 16;
    const m2 = mHigh & 0xffff;
    const m3 = mHigh >>> 16;
    const P = this.product;
    const E = this.e16;
    P.fill(0);
    for (let i = 0; i < E.length; i++) {
      const d = E[i] as number;
      P[i] = (P[i] as number) + d * m0;
      P[i + 1] = (P[i + 1] as number) + d * m1;
      P[i + 2] = (P[i + 2] as number) + d * m2;
      P[i + 3] = (P[i + 3] as number) + d * m3;
    }
    let carry = 0;
    for (let k = 0; k < P.length; k++) {
      const s = (P[k] as number) + carry;
      carry = Math.floor(s / 65536);
      P[k] = s - carry * 65536;
    }
    // x = floor(P · 2^e2), written into r; it is ≤ A·E < order, so L limbs hold it.
    const x = this.r;
    for (let j = 0; j < this.limbCount; j++) x[j] = this.bits32(32 * j - e2);
    const roundUp = negative && e2 < 0 && this.anyBitBelow(-e2) ? 1 : 0;
    const z = this.shiftedZero;
    const L = this.limbCount;
    if (!negative) {
      let c = 0;
      for (let k = 0; k < L; k++) {
        const s = (z[k] as number) + (x[k] as number) + c;
        q[k] = s;
        c = s >= TWO32 ? 1 : 0;
      }
    } else {
      let borrow = roundUp;
      for (let k = 0; k < L; k++) {
        const d = (z[k] as number) - (x[k] as number) - borrow;
        q[k] = d;
        borrow = d < 0 ? 1 : 0;
      }
    }
  }

  /** `encode` in doubles, when every encoding is below 2^53 (`small`). */
  private encodeSmall(value: number): number {
    const { a, u, e, eHigh, eLow } = this.small as NonNullable<LimbGroup['small']>;
    return encodeExactly(value, a, u, e, eHigh, eLow);
  }

  maskInto(
    values: ArrayLike<number>,
    from: number,
    count: number,
    scalar: number,
    reader: KeystreamReader,
    out: Elements,
    at: number,
  ): number {
    const o = out as Uint32Array;
    const L = this.limbCount;
    const q = this.q;
    if (this.small !== null && L === 2) return this.maskIntoTwo(values, from, count, scalar, reader, o, at);
    for (let i = 0; i < count; i++) {
      const oo = (at + i) * L;
      const w = values[from + i] as number;
      if (w - w !== 0) return from + i;
      this.encode(scalar * w, q);
      this.drawOne(reader, o, oo);
      this.addMod(o, oo, q, 0);
    }
    return -1;
  }

  // Two-limb elements (33 to 64 bits: f32 data with b4 is 58) in loops on local values: the draw
  // (protocol.md §5.3) and the sum mod the order inline, as on the float path. Same results as
  // the general loops (drawOne, addMod), which cost 5–15× as much there.

  /** Is the two-limb value hi·2^32 + lo at or above the order? */
  private atOrAboveTwo(lo: number, hi: number): boolean {
    return !this.orderAboveLimbs && (hi > this.order1 || (hi === this.order1 && lo >= this.order0));
  }

  /** Draws one two-limb element (protocol.md §5.3) into `drawn0` (low limb) and `drawn1`. */
  private drawTwo(reader: KeystreamReader): void {
    const bpn = this.params.bytesPerNumber;
    const topMask = this.topMask;
    let r0: number;
    let r1: number;
    do {
      if (reader.end - reader.pos < 8) reader.refill(8);
      const b = reader.buf;
      const p = reader.pos;
      reader.pos += bpn;
      reader.consumed += bpn;
      r0 =
        ((b[p] as number) |
          ((b[p + 1] as number) << 8) |
          ((b[p + 2] as number) << 16) |
          ((b[p + 3] as number) << 24)) >>>
        0;
      r1 =
        (((b[p + 4] as number) |
          ((b[p + 5] as number) << 8) |
          ((b[p + 6] as number) << 16) |
          ((b[p + 7] as number) << 24)) &
          topMask) >>>
        0;
    } while (this.atOrAboveTwo(r0, r1));
    this.drawn0 = r0;
    this.drawn1 = r1;
  }

  /** a[o], a[o + 1] ← (that element + x1·2^32 + x0) mod order, for both below the order. */
  private addTwo(a: Uint32Array, o: number, x0: number, x1: number): void {
    let lo = (a[o] as number) + x0;
    const carry = +(lo >= TWO32);
    lo -= carry * TWO32;
    let hi = (a[o + 1] as number) + x1 + carry; // < 2^33
    if (this.orderAboveLimbs) {
      hi -= TWO32 * +(hi >= TWO32);
    } else if (this.atOrAboveTwo(lo, hi)) {
      lo -= this.order0;
      const borrow = +(lo < 0);
      lo += borrow * TWO32;
      hi -= this.order1 + borrow;
    }
    a[o] = lo;
    a[o + 1] = hi;
  }

  private maskIntoTwo(
    values: ArrayLike<number>,
    from: number,
    count: number,
    scalar: number,
    reader: KeystreamReader,
    o: Uint32Array,
    at: number,
  ): number {
    for (let i = 0; i < count; i++) {
      const w = values[from + i] as number;
      if (w - w !== 0) return from + i;
      const x = this.encodeSmall(scalar * w); // < 2^53
      const x1 = Math.floor(x / TWO32);
      const oo = 2 * (at + i);
      this.drawTwo(reader);
      o[oo] = this.drawn0;
      o[oo + 1] = this.drawn1;
      this.addTwo(o, oo, x - x1 * TWO32, x1);
    }
    return -1;
  }

  maskScalar(scalar: number, reader: KeystreamReader, out: Elements): void {
    this.maskInto([scalar], 0, 1, 1, reader, out, 0);
  }

  addInto(acc: Elements, x: Elements): void {
    const a = acc as Uint32Array;
    const b = x as Uint32Array;
    if (this.limbCount === 2) {
      for (let o = 0; o < a.length; o += 2) this.addTwo(a, o, b[o] as number, b[o + 1] as number);
      return;
    }
    for (let o = 0; o < a.length; o += this.limbCount) this.addMod(a, o, b, o);
  }

  /** Draws `count` elements and adds them into acc[at..], one at a time: no block of draws is kept. */
  drawAdd(reader: KeystreamReader, acc: Elements, at: number, count: number): void {
    const a = acc as Uint32Array;
    const L = this.limbCount;
    if (L === 2) {
      for (let i = 0; i < count; i++) {
        this.drawTwo(reader);
        this.addTwo(a, 2 * (at + i), this.drawn0, this.drawn1);
      }
      return;
    }
    const one = this.r;
    for (let i = 0; i < count; i++) {
      this.drawOne(reader, one, 0);
      this.addMod(a, (at + i) * L, one, 0);
    }
  }

  subInto(acc: Elements, x: Elements): void {
    const a = acc as Uint32Array;
    const b = x as Uint32Array;
    for (let o = 0; o < a.length; o += this.limbCount) this.subMod(a, o, b, o);
  }

  /**
   * Packs elements of elementBits = 32·(L − 1) + topBits bits: each element's L − 1 low limbs,
   * then the topBits bits of its top limb, go into a little-endian bit accumulator that is
   * stored a 32-bit word at a time.
   */
  write(values: Elements, count: number, bytes: Uint8Array, offset: number): void {
    const v = values as Uint32Array;
    const out = bytes;
    const L = this.limbCount;
    const topBits = this.topBits;
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    let o = offset;
    let acc = 0; // the pending bits, below bit n
    let n = 0; // 0 ≤ n < 32
    for (let i = 0, base = 0; i < count; i++, base += L) {
      for (let k = 0; k < L - 1; k++) {
        const x = v[base + k] as number;
        view.setUint32(o, (acc | (x << n)) >>> 0, true);
        o += 4;
        acc = (x >>> 1) >>> (31 - n); // the bits of x not yet stored (none when n = 0)
      }
      const x = v[base + L - 1] as number;
      acc = (acc | (x << n)) >>> 0;
      n += topBits;
      if (n >= 32) {
        view.setUint32(o, acc, true);
        o += 4;
        n -= 32;
        acc = (x >>> 1) >>> (topBits - n - 1); // x's top n bits (none when n = 0)
      }
    }
    for (let k = 0; k < n; k += 8) out[o++] = acc >>> k;
  }

  read(bytes: Uint8Array, offset: number, count: number, field: string): Uint32Array {
    const L = this.limbCount;
    const topMask = this.topMask;
    const topBits = this.topBits;
    const w = this.params.elementBits;
    const end = offset + packedByteLength(w, count);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = new Uint32Array(count * L);
    // The next bit is bit s of byte p; a limb's 32 bits lie in the 5 bytes from p (s ≤ 7).
    let p = offset;
    let s = 0;
    let i = 0;
    if (L === 2) {
      // Two-limb elements whose 9 bytes lie inside the vector, on local values (the order test as
      // `addTwo`'s); the rest, element by element below.
      for (; i < count && p + 9 <= end; i++) {
        const lo = ((view.getUint32(p, true) >>> s) | (((bytes[p + 4] as number) << 1) << (31 - s))) >>> 0;
        const hi =
          (((view.getUint32(p + 4, true) >>> s) | (((bytes[p + 8] as number) << 1) << (31 - s))) & topMask) >>> 0;
        if (this.atOrAboveTwo(lo, hi)) throw outOfRange(field, i, this.params.order);
        out[2 * i] = lo;
        out[2 * i + 1] = hi;
        s += 32 + topBits;
        p += s >>> 3;
        s &= 7;
      }
    }
    for (let base = i * L; i < count; i++, base += L) {
      if (p + 4 * L + 1 <= end) {
        for (let k = 0; k < L; k++, p += 4) {
          const l0 = view.getUint32(p, true);
          out[base + k] = ((l0 >>> s) | (((bytes[p + 4] as number) << 1) << (31 - s))) >>> 0;
        }
      } else {
        for (let k = 0; k < L; k++, p += 4) {
          const l0 = u32Tail(bytes, p, end);
          const b4 = p + 4 < end ? (bytes[p + 4] as number) : 0;
          out[base + k] = ((l0 >>> s) | ((b4 << 1) << (31 - s))) >>> 0;
        }
      }
      // Only topBits of the top limb belong to this element: step back over the rest.
      out[base + L - 1] = ((out[base + L - 1] as number) & topMask) >>> 0;
      p -= 4;
      s += topBits;
      p += s >>> 3;
      s &= 7;
      if (this.geOrder(out, base)) throw outOfRange(field, i, this.params.order);
    }
    checkPadding(bytes, offset, count, w, field);
    return out;
  }

  /**
   * x[xo..xo+L) rounded to the nearest double (ties to even), as mantissa · 2^exponent with
   * 2^52 ≤ mantissa ≤ 2^53. Correct rounding of both operands keeps the quotient in decode
   * within 2 ulp of the exact value (|error| < 0.5 + 2 + 0.5 ulp, and it is an integer);
   * summing limbs in doubles rounded twice and could be off by more.
   */
  private scaled(x: Uint32Array, xo: number): { mantissa: number; exponent: number } {
    let k = this.limbCount - 1;
    while (k >= 0 && x[xo + k] === 0) k--;
    if (k < 0) return { mantissa: 0, exponent: 0 };
    const top = x[xo + k] as number;
    const l1 = k >= 1 ? (x[xo + k - 1] as number) : 0;
    const l2 = k >= 2 ? (x[xo + k - 2] as number) : 0;
    const s = Math.clz32(top);
    // The 64 bits below and including the leading one: hi (leading one at bit 31) ‖ lo.
    const hi = s === 0 ? top : ((top << s) | (l1 >>> (32 - s))) >>> 0;
    const lo = s === 0 ? l1 : ((l1 << s) | (l2 >>> (32 - s))) >>> 0;
    let sticky = (lo & 0x3ff) !== 0 || (s === 0 ? l2 : (l2 << s) >>> 0) !== 0;
    for (let j = k - 3; j >= 0 && !sticky; j--) sticky = x[xo + j] !== 0;
    let mantissa = hi * 2097152 + (lo >>> 11); // the top 53 bits
    const roundBit = (lo >>> 10) & 1;
    if (roundBit === 1 && (sticky || mantissa % 2 === 1)) mantissa += 1;
    // the leading one is bit 32k + 31 − s of x, and bit 52 of the mantissa
    return { mantissa, exponent: 32 * k - s - 21 };
  }

  decode(values: Elements, scalar: Elements, modelCount: number): Float64Array {
    const L = this.limbCount;
    const shift = bigIntToLimbs(BigInt(modelCount) * this.params.shiftedZero, L);
    const den = Uint32Array.from(scalar as Uint32Array);
    if (this.compare(den, 0, shift) <= 0) throw zeroScalarSum();
    this.subRaw(den, 0, shift, 0);
    const d = this.scaled(den, 0);
    const v = values as Uint32Array;
    const count = v.length / L;
    const out = new Float64Array(count);
    const diff = this.t;
    for (let i = 0; i < count; i++) {
      const negative = this.compare(v, i * L, shift) < 0;
      // diff = |V_i − N·A·E|
      for (let k = 0; k < L; k++) diff[k] = v[i * L + k] as number;
      if (negative) {
        diff.set(shift);
        this.subRaw(diff, 0, v, i * L);
      } else {
        this.subRaw(diff, 0, shift, 0);
      }
      const n = this.scaled(diff, 0);
      const ratio = mulPow2(n.mantissa / d.mantissa, n.exponent - d.exponent);
      out[i] = negative ? -ratio : ratio;
    }
    return out;
  }

  private compare(a: Uint32Array, ao: number, b: Uint32Array): number {
    for (let k = this.limbCount - 1; k >= 0; k--) {
      const x = a[ao + k] as number;
      const y = b[k] as number;
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  }

  /** a ← a − b for a ≥ b (no reduction). */
  private subRaw(a: Uint32Array, ao: number, b: Uint32Array, bo: number): void {
    let borrow = 0;
    for (let k = 0; k < this.limbCount; k++) {
      const d = (a[ao + k] as number) - (b[bo + k] as number) - borrow;
      a[ao + k] = d;
      borrow = d < 0 ? 1 : 0;
    }
  }

  firstAbove(values: Elements, bound: bigint): number {
    const b = bigIntToLimbs(bound, this.limbCount);
    const v = values as Uint32Array;
    const count = v.length / this.limbCount;
    for (let i = 0; i < count; i++) if (this.compare(v, i * this.limbCount, b) > 0) return i;
    return -1;
  }

  toBigInt(values: Elements, i: number): bigint {
    let v = 0n;
    for (let k = this.limbCount - 1; k >= 0; k--) v = (v << 32n) | BigInt(values[i * this.limbCount + k] as number);
    return v;
  }

  fromBigInts(values: readonly bigint[]): Uint32Array {
    const out = this.alloc(values.length);
    for (const [i, v] of values.entries()) out.set(bigIntToLimbs(v, this.limbCount), i * this.limbCount);
    return out;
  }
}

/** x · 2^k without overflowing an intermediate power of two. */
function mulPow2(x: number, k: number): number {
  let r = x;
  let e = k;
  while (e > 1000) {
    r *= 2 ** 1000;
    e -= 1000;
  }
  while (e < -1000) {
    r *= 2 ** -1000;
    e += 1000;
  }
  return r * 2 ** e;
}
