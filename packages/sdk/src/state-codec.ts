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
 * Restoring checks everything before anything is used (never half-loaded):
 * the frame (foreign, truncated, corrupt, future format), then the state's
 * own version `v` (future → "written by a newer SDK") and the shape of every
 * field, including that the identity public key is the one inside its
 * secret key. Any defect is a ParticipantRestoreError.
 *
 * SECURITY: the bytes hold the participant's identity secret key and, during a sum task, its
 * ephemeral secret key — in the clear. Keep them where the app keeps secrets; the stores that
 * ship with the SDK write them owner-only (file store) or encrypted at rest (IndexedDB store).
 */

import {
  decodeRoundParameters,
  ENCRYPT_PUBLIC_KEY_BYTES,
  type EncryptKeyPair,
  encodeRoundParameters,
  SIGNATURE_BYTES,
  SIGNING_PUBLIC_KEY_BYTES,
  TAGS,
} from '@petfl/core';
import { ParticipantRestoreError } from './errors.ts';
import { decodeFramed, describe, encodeFramed } from './plain-data.ts';
import {
  type AwaitingPhase,
  type ParticipantError,
  type ParticipantState,
  type Phase,
  STATE_VERSION,
  type Sum2Phase,
} from './state-machine/state.ts';

const STATE_MAGIC = 'PFLS';
const SIGNING_SECRET_KEY_BYTES = 64;
const ENCRYPT_SECRET_KEY_BYTES = 32;

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
 * plain copy of it (fresh buffers); throws ParticipantRestoreError naming the first bad field.
 * Used for `options.state` and for whatever a StateStore hands back.
 */
export function validateState(value: unknown): ParticipantState {
  const v = new Validator('participant state');
  const state = v.object(value, '');
  const version = state['v'];
  if (typeof version === 'number' && Number.isInteger(version) && version > STATE_VERSION) {
    throw new ParticipantRestoreError(
      `participant state.v: expected ${STATE_VERSION}, got ${version} (written by a newer SDK)`,
    );
  }
  if (version !== STATE_VERSION) v.fail('v', `${STATE_VERSION}`, version);

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
  const lastError = state['lastError'] === undefined ? undefined : v.error(state['lastError']);
  const phase = v.phase(state['phase'], 'phase', round !== undefined);

  return {
    v: STATE_VERSION,
    identity: { publicKey, secretKey },
    scalar: scalar as number,
    round,
    lastGlobalModelRound,
    lastError,
    phase,
  };
}

class Validator {
  private readonly what: string;

  constructor(what: string) {
    this.what = what;
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
      case 'sending': {
        const tag = phase['tag'];
        if (typeof tag !== 'string' || !Object.hasOwn(TAGS, tag)) this.fail(`${field}.tag`, 'sum, update or sum2', tag);
        const list = phase['messages'];
        if (!Array.isArray(list) || list.length === 0) this.fail(`${field}.messages`, 'a non-empty array', list);
        const messages = list.map((m, i) => this.bytes(m, `${field}.messages[${i}]`));
        const next = phase['next'];
        if (typeof next !== 'number' || !Number.isInteger(next) || next < 0 || next > messages.length) {
          this.fail(`${field}.next`, `an integer in 0..${messages.length}`, next);
        }
        const after = this.phase(phase['after'], `${field}.after`, inRound);
        if (after.kind !== 'awaiting' && after.kind !== 'sum2')
          this.fail(`${field}.after.kind`, 'awaiting or sum2', after.kind);
        return { kind, tag: tag as keyof typeof TAGS, messages, next, after: after as AwaitingPhase | Sum2Phase };
      }
      default:
        return this.fail(`${field}.kind`, 'new-round, awaiting, sum, update, sum2 or sending', kind);
    }
  }
}
