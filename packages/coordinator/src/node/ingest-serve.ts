/**
 * The worker side of the ingest pool (ingest-pool.ts): what one worker thread does with the tasks
 * it is sent — open a message or decode a payload, with the same functions the coordinator's own
 * thread uses (state-machine/ingest.ts) — and the small protocol between the threads.
 *
 * Bytes cross the threads without a copy where they can: the task's buffer is moved in (a
 * transfer list) when the coordinator hands it over, and the opened message and the decoded
 * model's arrays are moved back. Small fields that share a buffer with bytes that stay behind
 * are copied, so that nothing drags a whole message along by a view.
 *
 * SECURITY: a task carries a copy of the round key pair (to open the message); the worker wipes
 * that copy once the message is opened.
 */

import {
  type EncryptKeyPair,
  initCrypto,
  isPetError,
  type MaskObject,
  type MessageTag,
  PackedMaskObject,
  type Payload,
  type PayloadExpectation,
  type PetCrypto,
  type PetErrorCode,
} from '@petfl/core';
import type { EligibilityFacts } from '../state-machine/eligibility.ts';
import { decodeMessageWork, openMessageWork } from '../state-machine/ingest.ts';

/** Bytes as they cross: a buffer (moved or copied) and the view's place in it. */
export interface Moved {
  readonly buffer: ArrayBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
}

export type IngestTask =
  | {
      readonly id: number;
      readonly op: 'open';
      readonly sealed: Moved;
      readonly key: EncryptKeyPair | undefined;
      readonly previousKey: EncryptKeyPair | undefined;
      readonly eligibility: EligibilityFacts | undefined;
    }
  | {
      readonly id: number;
      readonly op: 'decode';
      readonly tag: MessageTag;
      /** The payload, or a multipart payload's parts in order (joined here). */
      readonly bytes: Moved | readonly Moved[];
      readonly expect: PayloadExpectation;
    };

/** A task as the pool sends it, before it is numbered. */
export type IngestTaskBody = IngestTask extends infer T ? (T extends unknown ? Omit<T, 'id'> : never) : never;

/** A refusal as plain data: a PetError's code and message, or (no code) an unexpected error's message. */
export interface TaskError {
  readonly code?: PetErrorCode;
  readonly message: string;
}

export type IngestAnswer =
  | { readonly ready: true }
  | { readonly id: number; readonly ok: unknown }
  | { readonly id: number; readonly error: TaskError };

/** Arrays at least this large that own their whole buffer are moved back; smaller ones are copied. */
const MOVE_MIN_BYTES = 64 * 1024;

/** `bytes` as they cross: its buffer moved when handed over (and not shared), else a copy moved. */
export function moveOut(bytes: Uint8Array, handOver: boolean, transfer: Set<ArrayBuffer>): Moved {
  const { buffer } = bytes;
  if (handOver && buffer instanceof ArrayBuffer && !transfer.has(buffer)) {
    transfer.add(buffer);
    return { buffer, byteOffset: bytes.byteOffset, byteLength: bytes.byteLength };
  }
  const copy = bytes.slice();
  transfer.add(copy.buffer);
  return { buffer: copy.buffer, byteOffset: 0, byteLength: copy.byteLength };
}

export function moveIn(moved: Moved): Uint8Array {
  return new Uint8Array(moved.buffer, moved.byteOffset, moved.byteLength);
}

/**
 * A copy of `value` (plain objects, arrays, Maps, typed arrays) fit to cross: a large typed array
 * that owns its whole buffer keeps it and the buffer is moved; every other typed array is copied.
 */
export function detached(value: unknown, transfer: Set<ArrayBuffer>): unknown {
  if (value instanceof PackedMaskObject) {
    // The packed vector is most of its payload's buffer (ADR 0018): that buffer moves with it,
    // and `revived` makes the object again on the other side.
    const { buffer } = value.packed;
    if (buffer instanceof ArrayBuffer) transfer.add(buffer);
    return {
      config: detached(value.config, transfer),
      length: value.length,
      packed: detached(value.packed, transfer),
      scalar: detached(value.scalar, transfer),
    };
  }
  if (ArrayBuffer.isView(value)) {
    const view = value as Uint8Array;
    const { buffer } = view;
    if (buffer instanceof ArrayBuffer && transfer.has(buffer)) return view;
    const whole = view.byteOffset === 0 && view.byteLength === buffer.byteLength;
    if (whole && buffer instanceof ArrayBuffer && view.byteLength >= MOVE_MIN_BYTES) {
      transfer.add(buffer);
      return view;
    }
    return view.slice();
  }
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, detached(v, transfer)]));
  if (Array.isArray(value)) return value.map((v) => detached(v, transfer));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, detached(v, transfer)]));
  }
  return value;
}

/** A payload as `detached` sent it, its packed mask objects made again (PackedMaskObject). */
export function revived(payload: Payload): Payload {
  const again = (object: MaskObject): MaskObject =>
    object.packed === undefined || object instanceof PackedMaskObject
      ? object
      : new PackedMaskObject(object.config, object.length, object.packed, object.scalar);
  if (payload.kind === 'update')
    return { ...payload, update: { ...payload.update, maskedModel: again(payload.update.maskedModel) } };
  if (payload.kind === 'sum2')
    return { ...payload, sum2: { ...payload.sum2, aggregatedMask: again(payload.sum2.aggregatedMask) } };
  return payload;
}

function taskError(error: unknown): TaskError {
  if (isPetError(error)) return { code: error.code, message: error.message };
  return { message: error instanceof Error ? error.message : String(error) };
}

/** What a worker serves on: its `parentPort`. */
export interface IngestPort {
  on(event: 'message', listener: (task: IngestTask) => void): unknown;
  postMessage(answer: IngestAnswer, transfer: ArrayBuffer[]): void;
}

function run(crypto: PetCrypto, task: IngestTask, transfer: Set<ArrayBuffer>): unknown {
  if (task.op === 'decode') {
    const { bytes } = task;
    const payload = decodeMessageWork({
      tag: task.tag,
      bytes: Array.isArray(bytes) ? bytes.map(moveIn) : moveIn(bytes as Moved),
      handOver: true,
      expect: task.expect,
    });
    return detached(payload, transfer);
  }
  const { key, previousKey } = task;
  try {
    const request = { sealed: moveIn(task.sealed), handOver: true, key, previousKey, eligibility: task.eligibility };
    const outcome = openMessageWork(crypto, request, true);
    if (outcome.kind === 'late') return outcome;
    const { frame } = outcome;
    // The message was opened over the bytes moved in (this thread's own): their buffer moves back
    // with the body in it; the header's fields are copied.
    const body = moveOut(frame.body, true, transfer);
    return {
      kind: 'opened',
      frame: {
        participantPk: frame.participantPk.slice(),
        coordinatorPk: frame.coordinatorPk.slice(),
        tag: frame.tag,
        signature: frame.signature.slice(),
        multipart: frame.multipart,
        body,
      },
      eligibility: outcome.eligibility,
    };
  } finally {
    // SECURITY: this thread's copies of the round secret keys.
    if (key !== undefined) crypto.wipe(key.secretKey);
    if (previousKey !== undefined) crypto.wipe(previousKey.secretKey);
  }
}

/** Serves tasks on `port` until the thread ends; says `ready` once libsodium is loaded. */
export async function serveIngest(port: IngestPort): Promise<void> {
  const crypto = await initCrypto();
  port.on('message', (task: IngestTask) => {
    const transfer = new Set<ArrayBuffer>();
    let answer: IngestAnswer;
    try {
      answer = { id: task.id, ok: run(crypto, task, transfer) };
    } catch (error) {
      answer = { id: task.id, error: taskError(error) };
      transfer.clear();
    }
    port.postMessage(answer, [...transfer]);
  });
  port.postMessage({ ready: true }, []);
}
