/**
 * Saving the participant state to a `StateStore` after every complete step, and loading it
 * back (architecture.md §5.3).
 *
 * A state in the sending phase holds its encoded payload — about 6.4 MB for a 1,000,000-weight
 * update — while a save follows every posted chunk. A payload of more than
 * `KEPT_PAYLOAD_MAX_BYTES` is not written to the store at all (ADR 0022): while it is sent, the
 * record under the state's key is the state as a restart would find it, the send given up
 * (`sendGivenUp`: phase 'awaiting', `lastError` 'participant-restore'), a few hundred bytes.
 * A smaller payload (every Sum; an Update or Sum2 of up to about 10,000 weights) goes to the store
 * once, under its own key (`payloadKey`: the state's key + '/payload'), when the phase starts;
 * the record holds a `PayloadRef` (its length and SHA-256) instead, and every later save writes
 * only that record: a few hundred bytes of progress (`next`), from which a restart resumes the
 * send. The payload is recognised by identity — a sending phase never changes it — and the key is
 * deleted once the state has left the sending phase, or sends a payload that is not kept.
 *
 * The order keeps a crash harmless: the payload is written before the record that refers to it,
 * and deleted only after a record that no longer does. Loading checks the stored payload
 * against the record's length and SHA-256; a payload that is missing, or is not the one the
 * record names (corrupt, or written by something else), is a ParticipantRestoreError, as is
 * any other defect of the record (state-codec.ts): nothing is half-loaded.
 *
 * SECURITY: the record holds the identity secret key and, during a sum task, the ephemeral
 * secret key; the payload key holds a small message being sent, unsealed (a Sum; the masked model
 * of a small update, the aggregated mask of a small sum2), which only the coordinator is meant to
 * read. Both go where the store keeps them (architecture.md §6).
 */

import { compareBytes, type PetCrypto } from '@petfl/core';
import { ParticipantRestoreError } from '../errors.ts';
import { deserializeState, type PayloadRef, payloadRefOf, stateRecord, validateState } from '../state-codec.ts';
import type { StateStore } from './io.ts';
import type { ParticipantState } from './state.ts';
import { roundGivenUp } from './step-result.ts';

/**
 * The largest payload of a sending phase the store keeps (ADR 0022): 64 KiB, every Sum and the
 * Update or Sum2 of a model of up to about 10,000 weights under the default mask config. Writing a
 * larger one cost more than sending it — in a browser tab, hashing, encoding, encrypting and
 * storing a 1,000,000-weight Update in IndexedDB took about 0.3 s before its first chunk could go
 * (IndexedDB's part in the browser's own process: about 0.15 CPU-seconds an update) — to resume a
 * send only if the participant restarts during the second or so it takes.
 */
export const KEPT_PAYLOAD_MAX_BYTES = 64 * 1024;

/**
 * The state a restart finds while a payload that is not kept is being sent: its task given up
 * for this round (phase 'awaiting', as when a message arrives too late), the reason in `lastError`;
 * everything else — identity, round, privacy ledger — as it is.
 */
export function sendGivenUp(state: ParticipantState): ParticipantState {
  const { phase } = state;
  if (phase.kind !== 'sending') return state;
  return roundGivenUp(state, {
    code: 'participant-restore',
    message: `the participant stopped while sending a message of ${phase.payload.length} bytes, more than the ${KEPT_PAYLOAD_MAX_BYTES} a saved state keeps (ADR 0022); this round's task was given up`,
    roundId: state.round?.roundId,
  });
}

/** The store key of the payload of a state saved under `storeKey`. */
export function payloadKey(storeKey: string): string {
  return `${storeKey}/payload`;
}

/** WebCrypto's digest, as far as it is used here. */
interface SubtleDigest {
  digest(algorithm: 'SHA-256', data: Uint8Array): Promise<ArrayBuffer>;
}

/**
 * The SHA-256 of a payload being saved: WebCrypto's where the platform has it (browsers in a
 * secure context, Node), else `crypto.hash` (libsodium, or node:crypto). In a browser libsodium
 * hashes in WebAssembly on the SDK's own thread — 64–90 ms for the 7 MB Update of a million
 * weights, more in a busy tab, in the round's critical path (the first chunk waits for the save)
 * — where WebCrypto's native digest takes 12–19 ms (on the calling thread too: Chromium 156
 * computes it before `digest()` returns; docs/architecture.md §5.3). The same
 * bytes either way; loading checks them with `crypto.hash`.
 */
async function sha256(crypto: PetCrypto, bytes: Uint8Array): Promise<Uint8Array> {
  const subtle = (globalThis as { crypto?: { subtle?: SubtleDigest } }).crypto?.subtle;
  if (subtle !== undefined && typeof subtle.digest === 'function') {
    try {
      return new Uint8Array(await subtle.digest('SHA-256', bytes));
    } catch {
      // a platform whose WebCrypto refuses it: libsodium's below
    }
  }
  return crypto.hash(bytes);
}

export class StateSaver {
  /** The payload the store holds under payloadKey (written or loaded by this saver), and its reference. */
  private stored: { readonly payload: Uint8Array; readonly ref: PayloadRef } | undefined;
  /** The store may hold a payload this saver did not write (an earlier run's): deleted at the first chance. */
  private unknownPayload = true;

  private readonly store: StateStore;
  private readonly key: string;
  private readonly crypto: PetCrypto;
  private readonly keptPayloadMaxBytes: number;

  /** `keptPayloadMaxBytes`: KEPT_PAYLOAD_MAX_BYTES unless a test gives another. */
  constructor(store: StateStore, key: string, crypto: PetCrypto, keptPayloadMaxBytes = KEPT_PAYLOAD_MAX_BYTES) {
    this.store = store;
    this.key = key;
    this.crypto = crypto;
    this.keptPayloadMaxBytes = keptPayloadMaxBytes;
  }

  /**
   * The state saved under the key, or undefined when there is none. A store may hold it as a
   * record (what `save` writes, or a full state) or as `serializeState` bytes. Any defect —
   * the store failing included — is a ParticipantRestoreError.
   */
  async load(): Promise<ParticipantState | undefined> {
    const saved = await this.get(this.key);
    if (saved === undefined) return undefined;
    if (saved instanceof Uint8Array) return deserializeState(saved);
    if (payloadRefOf(saved) === undefined) return validateState(saved);
    const key = payloadKey(this.key);
    const bytes = await this.get(key);
    const state = validateState(saved, (ref, field) => {
      if (!(bytes instanceof Uint8Array)) {
        throw new ParticipantRestoreError(
          `${field}: the payload under '${key}' is missing (expected ${ref.length} bytes)`,
        );
      }
      if (bytes.length !== ref.length || compareBytes(this.crypto.hash(bytes), ref.sha256) !== 0) {
        throw new ParticipantRestoreError(
          `${field}: the payload under '${key}' is not the one the state names (expected ${ref.length} bytes and their SHA-256, got ${bytes.length} bytes that differ)`,
        );
      }
      this.stored = { payload: bytes, ref };
      return bytes;
    });
    this.unknownPayload = false;
    return state;
  }

  /**
   * Saves `state`: its record, after its payload when that is kept and the store does not hold
   * it yet; a payload the store holds and no longer needs is deleted after the record.
   */
  async save(state: ParticipantState): Promise<void> {
    const { phase } = state;
    if (phase.kind === 'sending' && phase.payload.length <= this.keptPayloadMaxBytes) {
      let stored = this.stored;
      if (stored?.payload !== phase.payload) {
        const ref = { length: phase.payload.length, sha256: await sha256(this.crypto, phase.payload) };
        await this.store.set(payloadKey(this.key), phase.payload);
        stored = { payload: phase.payload, ref };
        this.stored = stored;
        this.unknownPayload = false;
      }
      await this.store.set(this.key, stateRecord(state, stored.ref));
      return;
    }
    await this.store.set(this.key, sendGivenUp(state));
    if (this.stored !== undefined || this.unknownPayload) {
      await this.store.del(payloadKey(this.key));
      this.stored = undefined;
      this.unknownPayload = false;
    }
  }

  private async get(key: string): Promise<unknown> {
    try {
      return await this.store.get(key);
    } catch (cause) {
      if (cause instanceof ParticipantRestoreError) throw cause;
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new ParticipantRestoreError(`store.get('${key}') failed: ${message}`, { cause });
    }
  }
}
