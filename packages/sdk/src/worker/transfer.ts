/**
 * Models and bytes across the Worker boundary: a typed array is copied and
 * the copy's buffer transferred (moved, not cloned again), so the sender's
 * array stays usable and the receiver gets its own; any other array-like
 * goes by structured clone as plain values, so the receiver's checks see
 * exactly what the app gave (a string, a NaN) and name it as direct mode
 * does.
 */

import { takeFreshModel, takeHandedOver } from '../local-model.ts';

interface TypedArrayLike extends ArrayLike<number> {
  readonly buffer: ArrayBuffer;
  slice(): TypedArrayLike;
}

function isTypedArray(value: unknown): value is TypedArrayLike {
  return ArrayBuffer.isView(value) && !(value instanceof DataView);
}

/**
 * A value to post for `model` and the buffers to transfer with it. A model the SDK's own
 * callbacks made (`checkLocalModel`, not kept by anyone) or one the app handed over
 * (`handOver`) moves without a copy.
 */
export function portableModel(model: ArrayLike<number>): { value: ArrayLike<number>; transfer: ArrayBuffer[] } {
  if (takeFreshModel(model) || takeHandedOver(model)) return { value: model, transfer: [model.buffer] };
  if (isTypedArray(model)) {
    const copy = model.slice();
    return { value: copy, transfer: [copy.buffer] };
  }
  return { value: Array.isArray(model) ? model : Array.from(model), transfer: [] };
}

/** `bytes` with a buffer of its own, ready to transfer. */
export function ownBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return whole && bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
}
