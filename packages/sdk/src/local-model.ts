/**
 * Validating the app's local model at the boundary (architecture.md §7.4): every
 * element a finite number (LocalModelDataTypeMismatchError otherwise — NaN,
 * ±Infinity, a string, a bigint, a hole) and, once a round's parameters are
 * known, exactly `modelLength` elements (protocol.md §3.9;
 * LocalModelLengthMismatchError). What passes is copied — a Float32Array into a Float32Array
 * (half the memory of a 1M-weight model, and exact: every float32 is a double), anything else
 * into a Float64Array — so the app can reuse its buffer and the masker reads a dense numeric
 * array. A model the app handed over (`handOver`) is checked in place instead: nobody else
 * holds it, so no copy is needed.
 */

import type { GlobalModel, RoundParameters } from '@petfl/core';
import {
  GlobalModelDataTypeMismatchError,
  LocalModelDataTypeMismatchError,
  LocalModelLengthMismatchError,
} from './errors.ts';
import { describe } from './plain-data.ts';

/** A local model as `checkLocalModel` returns it. */
export type CheckedModel = Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer>;

/** Arrays `checkLocalModel` made that nothing else holds yet (see `takeFreshModel`). */
const fresh = new WeakSet<CheckedModel>();

/** Arrays the app handed over (`handOver`) that the SDK has not taken yet. */
const handedOver = new WeakSet<CheckedModel>();

/**
 * Hands a local model over to the SDK: the app promises not to read or change `model` again,
 * so the SDK takes it as it is instead of copying it. `setLocalModel`, a `ParticipantABC`'s
 * `serializeTrainingResult` result and a runtime's `localModel` callback all accept one. It is
 * checked in place, and in Worker mode its buffer moves to the Worker: afterwards the array is
 * empty (length 0). Without it, the SDK copies every model it is given, so that the app may
 * reuse its array; a million-weight model costs the page a 4 MB copy (docs/architecture.md §5.4).
 *
 * Only a Float32Array or Float64Array over the whole of its own ArrayBuffer can be handed over
 * (TypeError otherwise: moving the buffer would take whatever else it holds). Returns `model`,
 * so that a callback can `return handOver(weights)`.
 */
export function handOver<T extends Float32Array | Float64Array>(model: T): T {
  if (!(model instanceof Float32Array || model instanceof Float64Array)) {
    throw new TypeError(`handOver: expected a Float32Array or a Float64Array, got ${describe(model)}`);
  }
  if (!(model.buffer instanceof ArrayBuffer)) {
    throw new TypeError('handOver: the array is over a SharedArrayBuffer, which cannot be moved');
  }
  if (model.byteOffset !== 0 || model.byteLength !== model.buffer.byteLength) {
    throw new TypeError(
      `handOver: the array covers bytes ${model.byteOffset}–${model.byteOffset + model.byteLength} of a ` +
        `${model.buffer.byteLength}-byte buffer; only an array over its whole buffer can be handed over (copy it with slice())`,
    );
  }
  handedOver.add(model as CheckedModel);
  return model;
}

/** True, once, for an array the app handed over (`handOver`) and nobody took yet. */
export function takeHandedOver(model: unknown): model is CheckedModel {
  return (model instanceof Float64Array || model instanceof Float32Array) && handedOver.delete(model as CheckedModel);
}

/**
 * True, once, for an array `checkLocalModel` returned: the SDK's own callbacks hand it on and
 * keep no reference, so the Worker runtime may transfer its buffer instead of copying it again.
 */
export function takeFreshModel(model: unknown): model is CheckedModel {
  return (model instanceof Float64Array || model instanceof Float32Array) && fresh.delete(model as CheckedModel);
}

export function checkLocalModel(
  model: unknown,
  round: Pick<RoundParameters, 'modelLength'> | undefined,
  what = 'local model',
): CheckedModel {
  if (typeof model !== 'object' || model === null || typeof (model as ArrayLike<unknown>).length !== 'number') {
    throw new LocalModelDataTypeMismatchError(`${what}: expected an array of numbers, got ${describe(model)}`);
  }
  const values = model as ArrayLike<unknown>;
  if (round !== undefined && values.length !== round.modelLength) {
    throw new LocalModelLengthMismatchError(
      `${what}: expected ${round.modelLength} weights (the round's modelLength), got ${values.length}`,
    );
  }
  const out =
    model instanceof Float32Array || model instanceof Float64Array ? checkFloats(model, what) : copy(values, what);
  fresh.add(out);
  return out;
}

function copy(values: ArrayLike<unknown>, what: string): Float64Array<ArrayBuffer> {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const w = values[i];
    // w − w is 0 for every finite number and NaN for NaN and ±Infinity.
    if (typeof w !== 'number' || w - w !== 0) {
      throw new LocalModelDataTypeMismatchError(`${what}[${i}]: expected a finite number, got ${describe(w)}`);
    }
    out[i] = w;
  }
  return out;
}

/**
 * The common case, a float array (what TensorFlow.js gives): copied natively as the same type,
 * then only checked for NaN and ±Infinity by a loop that sees one array type (one function per
 * type: a loop that reads both kinds is slower once V8 has seen both). On a page's main thread
 * (Worker mode) this keeps a 1,000,000-weight `setLocalModel` to a few milliseconds even before
 * the loop is optimized. Only a model that fails is scanned again, for the first bad index.
 */
function checkFloats(model: Float32Array | Float64Array, what: string): CheckedModel {
  const out = takeHandedOver(model)
    ? model
    : model instanceof Float32Array
      ? new Float32Array(model)
      : new Float64Array(model);
  const finite = out instanceof Float32Array ? allFinite32(out) : allFinite64(out);
  if (!finite) {
    const i = out.findIndex((w) => w - w !== 0);
    throw new LocalModelDataTypeMismatchError(`${what}[${i}]: expected a finite number, got ${describe(out[i])}`);
  }
  return out;
}

// w · 0 is ±0 for every finite w and NaN for NaN and ±Infinity, and a NaN stays in the sum.
function allFinite32(values: Float32Array): boolean {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] as number) * 0;
  return sum === 0;
}

function allFinite64(values: Float64Array): boolean {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += (values[i] as number) * 0;
  return sum === 0;
}

/**
 * The value type a round's global model is served in (protocol.md §3.10): f32 and i32 mask
 * configs get f32 values, f64 and i64 get f64 — the coordinator serves the config's width.
 */
export function expectedGlobalModelType(round: Pick<RoundParameters, 'maskConfig'>): 'f32' | 'f64' {
  const { data } = round.maskConfig;
  return data === 'f32' || data === 'i32' ? 'f32' : 'f64';
}

/** Throws GlobalModelDataTypeMismatchError when `global` is not of the type `round` implies. */
export function checkGlobalModel(global: GlobalModel, round: Pick<RoundParameters, 'maskConfig'> | undefined): void {
  if (round === undefined) return; // nothing to compare with yet
  const expected = expectedGlobalModelType(round);
  const got = global.model instanceof Float64Array ? 'f64' : 'f32';
  if (got !== expected) {
    throw new GlobalModelDataTypeMismatchError(
      `global model of round ${global.roundId}: expected ${expected} values (mask config data = ${round.maskConfig.data}), got ${got}`,
    );
  }
}
