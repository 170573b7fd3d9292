/**
 * Packed vectors checked and added without unpacking them (ADR 0018): the coordinator adds a
 * masked model to its aggregate straight from the bytes it arrived in (`PackedMaskObject`).
 * Float path only (orders below 2^52, elements of w = 33..52 bits, group.ts); the loops are those
 * of group.ts's `read`. Kept apart from group.ts so that code which never reads a mask object (the
 * participant SDK) does not carry them.
 */

import type { MaskParams } from './config.ts';
import { checkPadding, type Elements, outOfRange, packedTailElement, TWO32, wholePackedWords } from './group.ts';

/** Whether `params`' packed vectors can be checked and added here: the float path's. */
export function addsPacked(params: MaskParams): boolean {
  return params.arithmetic === 'float';
}

/**
 * `readPackedWords` (group.ts), each element v added into `acc` (mod `order`) instead of stored:
 * acc ← acc + (base + sign·v) reduced once, with base 0 and sign 1 to add, base `order` and sign −1
 * to subtract (acc + order − v lies in [1, 2·order) as acc + v does in [0, 2·order)). The elements
 * were checked before, so none is at or above the order.
 */
function accumulatePackedWords(
  view: DataView,
  offset: number,
  count: number,
  w: number,
  hiMask: number,
  order: number,
  acc: Float64Array,
  base: number,
  sign: 1 | -1,
): void {
  let p = offset;
  let s = 0;
  for (let i = 0; i < count; i++) {
    const l0 = view.getUint32(p, true);
    const l1 = view.getUint32(p + 4, true);
    const v = (((l0 >>> s) | ((l1 << 1) << (31 - s))) >>> 0) + ((l1 >>> s) & hiMask) * TWO32;
    const x = (acc[i] as number) + base + sign * v;
    acc[i] = x - order * +(x >= order);
    s += w;
    p += s >>> 3;
    s &= 7;
  }
}

/** `readPackedWords` without the output: the index of the first element not below `order`, or `count`. */
function firstPackedNotBelow(
  view: DataView,
  offset: number,
  count: number,
  w: number,
  hiMask: number,
  order: number,
): number {
  let p = offset;
  let s = 0;
  for (let i = 0; i < count; i++) {
    const l0 = view.getUint32(p, true);
    const l1 = view.getUint32(p + 4, true);
    const v = (((l0 >>> s) | ((l1 << 1) << (31 - s))) >>> 0) + ((l1 >>> s) & hiMask) * TWO32;
    if (v >= order) return i;
    s += w;
    p += s >>> 3;
    s &= 7;
  }
  return count;
}

/**
 * Checks `count` packed elements at bytes[offset..] as `Group.read` does (`out-of-range` naming the
 * first element at or above the order, `invalid-field` for a nonzero padding bit) without unpacking
 * them. For a power-of-two order (2^w) every w-bit element is below it: only the padding is read.
 */
export function checkPacked(params: MaskParams, bytes: Uint8Array, offset: number, count: number, field: string): void {
  const w = params.elementBits;
  const order = Number(params.order);
  if (order !== 2 ** w) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const whole = wholePackedWords(w, count);
    let i = firstPackedNotBelow(view, offset, whole, w, 2 ** (w - 32) - 1, order);
    if (i < whole) throw outOfRange(field, i, params.order);
    for (; i < count; i++) {
      if (packedTailElement(bytes, offset, count, i, w) >= order) throw outOfRange(field, i, params.order);
    }
  }
  checkPadding(bytes, offset, count, w, field);
}

/**
 * acc ← acc + the `count` packed elements at bytes[offset..] (mod the order): `addInto(acc,
 * read(bytes, offset, count, …))` in one pass, with no array of the elements. They must have been
 * checked (`checkPacked`).
 */
export function addPacked(params: MaskParams, acc: Elements, bytes: Uint8Array, offset: number, count: number): void {
  accumulatePacked(params, acc, bytes, offset, count, 1);
}

/**
 * acc ← acc − the `count` packed elements at bytes[offset..] (mod the order): `subInto(acc,
 * read(bytes, offset, count, …))` in one pass (the coordinator takes the winning aggregated mask
 * off the aggregate this way, ADR 0018). They must have been checked (`checkPacked`).
 */
export function subPacked(params: MaskParams, acc: Elements, bytes: Uint8Array, offset: number, count: number): void {
  accumulatePacked(params, acc, bytes, offset, count, -1);
}

function accumulatePacked(
  params: MaskParams,
  acc: Elements,
  bytes: Uint8Array,
  offset: number,
  count: number,
  sign: 1 | -1,
): void {
  const w = params.elementBits;
  const order = Number(params.order);
  const base = sign === 1 ? 0 : order;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const whole = wholePackedWords(w, count);
  accumulatePackedWords(view, offset, whole, w, 2 ** (w - 32) - 1, order, acc as Float64Array, base, sign);
  for (let i = whole; i < count; i++) {
    const x = (acc[i] as number) + base + sign * packedTailElement(bytes, offset, count, i, w);
    acc[i] = x - order * +(x >= order);
  }
}
