/**
 * The participant state as bytes (architecture.md §5.3, §7.4): what `stop()`
 * returns and `options.state` restores. A framed plain-data value
 * (plain-data.ts): magic 'PFLS', the format version, the payload length, a
 * CRC-32, then the `ParticipantState` (state.ts) encoded as plain data.
 *
 * ```text
 *   0        4          5              9           13
 *   +--------+----------+--------------+-----------+----------------------------+
 *   | "PFLS" | format 1 | length u32   | CRC-32    | ParticipantState as plain  |
 *   |        |          | BE           | u32 BE    | data ({v: 1, identity, …}) |
 *   +--------+----------+--------------+-----------+----------------------------+
 * ```
 *
 * A state in the sending phase carries its payload inline here (megabytes
 * for a large model); a store holds one of up to 64 KiB apart, once per
 * message (state-saver.ts), its record naming it by a `PayloadRef`, and a
 * larger one not at all (ADR 0022).
 *
 * Restoring checks everything before anything is used (never half-loaded):
 * the frame (foreign, truncated, corrupt, future format), then the state's
 * own version `v` (future → "written by a newer SDK") and the shape of every
 * field, including that the identity public key is the one inside its
 * secret key. Any defect is a ParticipantRestoreError. A state of format 1
 * (SDKs before the sending phase held its payload) is migrated: every field
 * is the same but a send in flight, whose sealed messages cannot be turned
 * back into a payload — that round's task is given up (`lastError`
 * 'participant-restore'), the identity and everything else are kept.
 *
 * SECURITY: the bytes hold the participant's identity secret key and, during a sum task, its
 * ephemeral secret key — in the clear — and while sending the unsealed payload. Keep them
 * where the app keeps secrets; the stores that ship with the SDK write them owner-only (file
 * store) or encrypted at rest (IndexedDB store).
 */

import {
  type AccountantState,
  decodeRoundParameters,
  ENCRYPT_PUBLIC_KEY_BYTES,
  type EncryptKeyPair,
  encodeRoundParameters,
  MAX_CHUNKS,
  SIGNATURE_BYTES,
  SIGNING_PUBLIC_KEY_BYTES,
  TAGS,
  validateAccountantState,
} from '@petfl/core';
import { ParticipantRestoreError } from './errors.ts';
import { decodeFramed, describe, encodeFramed } from './plain-data.ts';
import { MAX_LEDGER_ROUNDS, type PrivacyLedger } from './state-machine/privacy.ts';
import {
  type AwaitingPhase,
  messageCount,
  type ParticipantError,
  type ParticipantState,
  type Phase,
  type SendingPhase,
  STATE_VERSION,
  type Sum2Phase,
} from './state-machine/state.ts';

const STATE_MAGIC = 'PFLS';
const SIGNING_SECRET_KEY_BYTES = 64;
const ENCRYPT_SECRET_KEY_BYTES = 32;
const SHA256_BYTES = 32;
/** The state format before the sending phase held its payload (see the module comment). */
const STATE_VERSION_1 = 1;

/**
 * What a stored state record holds in place of a sending phase's payload (state-saver.ts): its
 * length and SHA-256, checked against the bytes stored apart before anything is used.
 */
export interface PayloadRef {
  readonly length: number;
  readonly sha256: Uint8Array;
}

/**
 * Gives the payload a stored record refers to, checked against `ref`; throws
 * ParticipantRestoreError (naming `field`) when it is missing or does not match.
 */
export type PayloadResolver = (ref: PayloadRef, field: string) => Uint8Array;

/** The state as a store keeps it: a sending phase's payload replaced by `ref` (state-saver.ts). */
export function stateRecord(state: ParticipantState, ref: PayloadRef): unknown {
  const { phase } = state;
  if (phase.kind !== 'sending') return state;
  return { ...state, phase: { ...phase, payload: ref } };
}

/** The payload reference of a stored record in the sending phase, unchecked; undefined for any other value. */
export function payloadRefOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  const phase = (value as { phase?: unknown }).phase;
  if (typeof phase !== 'object' || phase === null || (phase as { kind?: unknown }).kind !== 'sending') return undefined;
  const payload = (phase as { payload?: unknown }).payload;
  return payload instanceof Uint8Array ? undefined : payload;
}

/** The state as versioned bytes; holds private keys (see the SECURITY note above). */
export function serializeState(state: ParticipantState): Uint8Array {
  return encodeFramed(STATE_MAGIC, state);
}

/** The state from `serializeState` bytes; anything else is a ParticipantRestoreError. */
export function deserializeState(bytes: Uint8Array): ParticipantState {
  return validateState(decodeFramed(STATE_MAGIC, bytes, 'participant state'));
}

/**
 * Checks that `value` is a complete ParticipantState of a version this SDK knows and returns a
 * plain copy of it (fresh buffers, but for a sending phase's payload, which is taken over as it
 * is: megabytes, and every caller hands in a buffer of its own — decoded bytes, a store's copy);
 * throws ParticipantRestoreError naming the first bad field. Used for `options.state` and for
 * whatever a StateStore hands back; a stored record's payload reference is resolved by
 * `resolvePayload` (without one it is refused). A format 1 state is migrated (module comment).
 */
export function validateState(value: unknown, resolvePayload?: PayloadResolver): ParticipantState {
  const v = new Validator('participant state', resolvePayload);
  const state = v.object(value, '');
  const version = state['v'];
  if (typeof version === 'number' && Number.isInteger(version) && version > STATE_VERSION) {
    throw new ParticipantRestoreError(
      `participant state.v: expected ${STATE_VERSION}, got ${version} (written by a newer SDK)`,
    );
  }
  if (version !== STATE_VERSION && version !== STATE_VERSION_1) {
    v.fail('v', `${STATE_VERSION} (or ${STATE_VERSION_1}, migrated)`, version);
  }

  const identity = v.object(state['identity'], 'identity');
  const publicKey = v.bytes(identity['publicKey'], 'identity.publicKey', SIGNING_PUBLIC_KEY_BYTES);
  const secretKey = v.bytes(identity['secretKey'], 'identity.secretKey', SIGNING_SECRET_KEY_BYTES);
  // An Ed25519 secret key is seed ‖ public key: a mismatch means a corrupt or spliced state.
  if (!publicKey.every((byte, i) => byte === secretKey[32 + i])) {
    throw new ParticipantRestoreError('participant state.identity: the public key does not match the secret key');
  }

  const scalar = state['scalar'];
  if (typeof scalar !== 'number' || !Number.isFinite(scalar) || scalar < 0) {
    v.fail('scalar', 'a finite number ≥ 0', scalar);
  }
  const round = state['round'] === undefined ? undefined : v.round(state['round']);
  const lastGlobalModelRound = v.optionalRoundId(state['lastGlobalModelRound'], 'lastGlobalModelRound');
  let lastError = state['lastError'] === undefined ? undefined : v.error(state['lastError']);
  let phase: Phase;
  if (version === STATE_VERSION_1 && v.object(state['phase'], 'phase')['kind'] === 'sending') {
    // Its sealed messages cannot become a payload again: give this round's task up, keep the rest.
    v.phaseV1Sending(state['phase'], 'phase', round !== undefined);
    phase = { kind: 'awaiting' };
    lastError = {
      code: 'participant-restore',
      message:
        'participant state.phase: a send saved by an older SDK (state format 1) cannot be resumed; this round’s task was given up',
      roundId: round?.roundId,
    };
  } else {
    phase = v.phase(state['phase'], 'phase', round !== undefined);
  }

  const privacyLedger = state['privacyLedger'] === undefined ? undefined : v.privacyLedger(state['privacyLedger']);
  return {
    v: STATE_VERSION,
    identity: { publicKey, secretKey },
    scalar: scalar as number,
    round,
    lastGlobalModelRound,
    lastError,
    phase,
    ...(privacyLedger === undefined ? {} : { privacyLedger }),
  };
}

class Validator {
  private readonly what: string;
  private readonly resolvePayload: PayloadResolver | undefined;

  constructor(what: string, resolvePayload: PayloadResolver | undefined) {
    this.what = what;
    this.resolvePayload = resolvePayload;
  }

  fail(field: string, expected: string, got: unknown): never {
    const path = field === '' ? this.what : `${this.what}.${field}`;
    throw new ParticipantRestoreError(`${path}: expected ${expected}, got ${describe(got)}`);
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
      this.fail(field, 'an object', value);
    }
    return value as Record<string, unknown>;
  }

  bytes(value: unknown, field: string, length?: number): Uint8Array {
    if (!(value instanceof Uint8Array)) this.fail(field, 'a Uint8Array', value);
    if (length !== undefined && value.length !== length) this.fail(field, `${length} bytes`, value);
    return value.slice();
  }

  string(value: unknown, field: string): string {
    if (typeof value !== 'string') this.fail(field, 'a string', value);
    return value;
  }

  optionalRoundId(value: unknown, field: string): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      this.fail(field, 'undefined or an integer ≥ 0', value);
    }
    return value;
  }

  /** The participant's privacy ledger (docs/privacy.md §3): the accountant's own validator, and round ids. */
  privacyLedger(value: unknown): PrivacyLedger {
    const ledger = this.object(value, 'privacyLedger');
    let accountant: AccountantState;
    try {
      accountant = validateAccountantState(ledger['accountant']);
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new ParticipantRestoreError(`${this.what}.privacyLedger.accountant: ${message}`, { cause });
    }
    const rounds = ledger['rounds'];
    if (
      !Array.isArray(rounds) ||
      rounds.length > MAX_LEDGER_ROUNDS ||
      !rounds.every((r) => typeof r === 'string' && /^[A-Za-z0-9_-]{43}$/.test(r))
    ) {
      this.fail('privacyLedger.rounds', `a list of at most ${MAX_LEDGER_ROUNDS} round seeds (base64url)`, rounds);
    }
    return { accountant, rounds: [...(rounds as string[])] };
  }

  round(value: unknown): NonNullable<ParticipantState['round']> {
    try {
      // The round parameters' own codec checks every field; round-tripping also copies them.
      return decodeRoundParameters(encodeRoundParameters(value as NonNullable<ParticipantState['round']>));
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause);
      throw new ParticipantRestoreError(`${this.what}.round: ${message}`, { cause });
    }
  }

  error(value: unknown): ParticipantError {
    const error = this.object(value, 'lastError');
    return {
      code: this.string(error['code'], 'lastError.code'),
      message: this.string(error['message'], 'lastError.message'),
      roundId: this.optionalRoundId(error['roundId'], 'lastError.roundId'),
    };
  }

  ephemeral(value: unknown, field: string): EncryptKeyPair {
    const pair = this.object(value, field);
    return {
      publicKey: this.bytes(pair['publicKey'], `${field}.publicKey`, ENCRYPT_PUBLIC_KEY_BYTES),
      secretKey: this.bytes(pair['secretKey'], `${field}.secretKey`, ENCRYPT_SECRET_KEY_BYTES),
    };
  }

  phase(value: unknown, field: string, inRound: boolean): Phase {
    const phase = this.object(value, field);
    const kind = phase['kind'];
    // Every phase but 'new-round' works on a round's parameters.
    if (kind !== 'new-round' && !inRound) this.fail(`${field}.kind`, "'new-round' (no round is saved)", kind);
    switch (kind) {
      case 'new-round':
      case 'awaiting':
        return { kind };
      case 'sum':
      case 'sum2':
        return {
          kind,
          sumSignature: this.bytes(phase['sumSignature'], `${field}.sumSignature`, SIGNATURE_BYTES),
          ephemeral: this.ephemeral(phase['ephemeral'], `${field}.ephemeral`),
        };
      case 'update':
        return {
          kind,
          sumSignature: this.bytes(phase['sumSignature'], `${field}.sumSignature`, SIGNATURE_BYTES),
          updateSignature: this.bytes(phase['updateSignature'], `${field}.updateSignature`, SIGNATURE_BYTES),
        };
      case 'sending':
        return this.sending(phase, field, inRound);
      default:
        return this.fail(`${field}.kind`, 'new-round, awaiting, sum, update, sum2 or sending', kind);
    }
  }

  private sending(phase: Record<string, unknown>, field: string, inRound: boolean): SendingPhase {
    const tag = phase['tag'];
    if (typeof tag !== 'string' || !Object.hasOwn(TAGS, tag)) this.fail(`${field}.tag`, 'sum, update or sum2', tag);
    const payload = this.payload(phase['payload'], `${field}.payload`);
    const messageId = phase['messageId'];
    if (
      messageId !== undefined &&
      (!Number.isInteger(messageId) || (messageId as number) < 0 || (messageId as number) > 0xffff)
    ) {
      this.fail(`${field}.messageId`, 'undefined or an integer in 0..65535', messageId);
    }
    const maxChunkData = phase['maxChunkData'];
    if (typeof maxChunkData !== 'number' || !Number.isSafeInteger(maxChunkData) || maxChunkData < 1) {
      this.fail(`${field}.maxChunkData`, 'a positive integer', maxChunkData);
    }
    const parts = { payload, messageId: messageId as number | undefined, maxChunkData };
    const count = messageCount(parts);
    if (count > MAX_CHUNKS) this.fail(`${field}.payload`, `at most ${MAX_CHUNKS} chunks`, payload);
    const next = phase['next'];
    if (typeof next !== 'number' || !Number.isInteger(next) || next < 0 || next > count) {
      this.fail(`${field}.next`, `an integer in 0..${count}`, next);
    }
    const after = this.phase(phase['after'], `${field}.after`, inRound);
    if (after.kind !== 'awaiting' && after.kind !== 'sum2') {
      this.fail(`${field}.after.kind`, 'awaiting or sum2', after.kind);
    }
    return {
      kind: 'sending',
      tag: tag as keyof typeof TAGS,
      ...parts,
      next,
      after: after as AwaitingPhase | Sum2Phase,
    };
  }

  /** A sending phase's payload: inline bytes (taken over, not copied), or a stored record's reference. */
  private payload(value: unknown, field: string): Uint8Array {
    if (value instanceof Uint8Array) return value;
    const ref = this.object(value, field);
    const length = ref['length'];
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
      this.fail(`${field}.length`, 'an integer ≥ 0', length);
    }
    const sha256 = this.bytes(ref['sha256'], `${field}.sha256`, SHA256_BYTES);
    if (this.resolvePayload === undefined) this.fail(field, 'a Uint8Array (the payload itself)', value);
    return this.resolvePayload({ length, sha256 }, `${this.what}.${field}`);
  }

  /** A format 1 sending phase, checked as it was written before it is given up (validateState). */
  phaseV1Sending(value: unknown, field: string, inRound: boolean): void {
    const phase = this.object(value, field);
    if (!inRound) this.fail(`${field}.kind`, "'new-round' (no round is saved)", phase['kind']);
    const list = phase['messages'];
    if (!Array.isArray(list) || list.length === 0) this.fail(`${field}.messages`, 'a non-empty array', list);
    list.forEach((m, i) => {
      if (!(m instanceof Uint8Array)) this.fail(`${field}.messages[${i}]`, 'a Uint8Array', m);
    });
    const after = this.phase(phase['after'], `${field}.after`, inRound);
    if (after.kind !== 'awaiting' && after.kind !== 'sum2') {
      this.fail(`${field}.after.kind`, 'awaiting or sum2', after.kind);
    }
  }
}
