/**
 * The Redis store's JSON records, versioned plain data: round records, round summaries and the meta
 * are versioned plain data whose byte fields are base64url, validated field by field when read
 * back, so a corrupt value is a `StoreError` naming its key, never a half-loaded record; every
 * value about to be written is run through the same decoder first.
 */

import { fromBase64Url, type MaskConfig, maskParams, toBase64Url, validateMaskConfig } from '@petfl/core';
import type { PhaseSettings } from '../../settings.ts';
import {
  BANNED_LIMIT,
  type CoordinatorMeta,
  type LivePhase,
  type RoundPetSettings,
  type RoundRecord,
  type RoundSummary,
} from '../coordinator-store.ts';
import { StoreError } from '../store-error.ts';

/** A reason a JSON record is invalid; turned into a StoreError naming the key. */
class Invalid extends Error {}

type JsonObject = { readonly [key: string]: unknown };

export function show(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return typeof value;
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function object(value: unknown, at: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Invalid(`${at}: expected an object, got ${show(value)}`);
  }
  return value as JsonObject;
}

function finite(o: JsonObject, key: string, at: string): number {
  const value = o[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Invalid(`${at}.${key}: expected a finite number, got ${show(value)}`);
  }
  return value;
}

function count(o: JsonObject, key: string, at: string): number {
  const value = o[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Invalid(`${at}.${key}: expected a non-negative integer, got ${show(value)}`);
  }
  return value;
}

function oneOf<T extends string>(o: JsonObject, key: string, allowed: readonly T[], at: string): T {
  const value = o[key];
  if (!allowed.includes(value as T)) {
    throw new Invalid(`${at}.${key}: expected one of ${allowed.join(', ')}, got ${show(value)}`);
  }
  return value as T;
}

function bytes(o: JsonObject, key: string, at: string): Uint8Array {
  const value = o[key];
  if (typeof value !== 'string') throw new Invalid(`${at}.${key}: expected base64url text, got ${show(value)}`);
  try {
    return fromBase64Url(value, `${at}.${key}`);
  } catch (error) {
    throw new Invalid(error instanceof Error ? error.message : String(error));
  }
}

function durations<K extends string>(o: JsonObject, key: string, phases: readonly K[], at: string) {
  const source = object(o[key], `${at}.${key}`);
  const out: Partial<Record<K, number>> = {};
  for (const name of Object.keys(source)) {
    if (!phases.includes(name as K)) {
      throw new Invalid(`${at}.${key}: expected phases among ${phases.join(', ')}, got ${show(name)}`);
    }
    out[name as K] = finite(source, name, `${at}.${key}`);
  }
  return out;
}

function version(o: JsonObject, at: string): void {
  if (o['v'] !== 1) throw new Invalid(`${at}.v: expected 1, got ${show(o['v'])}`);
}

/** Parses JSON text into an object, or says why it is not one. */
function parseJson(text: string, at: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Invalid(`${at}: not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  return object(value, at);
}

const LIVE_PHASES: readonly LivePhase[] = ['sum', 'update', 'sum2'];
const SUMMARY_PHASES: readonly (LivePhase | 'unmask')[] = ['sum', 'update', 'sum2', 'unmask'];

function phaseSettings(value: unknown, at: string): PhaseSettings {
  const o = object(value, at);
  const c = object(o['count'], `${at}.count`);
  const t = object(o['time'], `${at}.time`);
  return {
    count: { min: count(c, 'min', `${at}.count`), max: count(c, 'max', `${at}.count`) },
    time: { minMs: count(t, 'minMs', `${at}.time`), maxMs: count(t, 'maxMs', `${at}.time`) },
  };
}

function petSettings(value: unknown, at: string): RoundPetSettings {
  const o = object(value, at);
  const sum = object(o['sum'], `${at}.sum`);
  const update = object(o['update'], `${at}.update`);
  return {
    sum: { ...phaseSettings(sum, `${at}.sum`), probability: finite(sum, 'probability', `${at}.sum`) },
    update: { ...phaseSettings(update, `${at}.update`), probability: finite(update, 'probability', `${at}.update`) },
    sum2: phaseSettings(o['sum2'], `${at}.sum2`),
  };
}

function maskConfig(value: unknown, at: string): MaskConfig {
  try {
    validateMaskConfig(value, at);
    maskParams(value); // the combination must exist too, not only each field
  } catch (error) {
    throw new Invalid(error instanceof Error ? error.message : String(error));
  }
  return { group: value.group, data: value.data, bound: value.bound, model: value.model };
}

export function decodeRoundRecord(text: string): RoundRecord {
  const at = 'round record';
  const o = parseJson(text, at);
  version(o, at);
  return {
    v: 1,
    roundId: count(o, 'roundId', at),
    phase: oneOf(o, 'phase', LIVE_PHASES, at),
    startedAt: finite(o, 'startedAt', at),
    phaseStartedAt: finite(o, 'phaseStartedAt', at),
    phaseDurationsMs: durations(o, 'phaseDurationsMs', LIVE_PHASES, at),
    roundPublicKey: bytes(o, 'roundPublicKey', at),
    // SECURITY: the round secret key comes back out of Redis here, into the record the
    // coordinator owns while the round runs; Redis' copy is deleted by `endRound`/`startRound`.
    roundSecretKey: bytes(o, 'roundSecretKey', at),
    seed: bytes(o, 'seed', at),
    pet: petSettings(o['pet'], `${at}.pet`),
    maskConfig: maskConfig(o['maskConfig'], `${at}.maskConfig`),
    modelLength: count(o, 'modelLength', at),
  };
}

/** The JSON of a round record; a record that would not read back is refused before it is written. */
export function encodeRoundRecord(op: string, round: RoundRecord): string {
  const text = JSON.stringify({
    v: 1,
    roundId: round.roundId,
    phase: round.phase,
    startedAt: round.startedAt,
    phaseStartedAt: round.phaseStartedAt,
    phaseDurationsMs: round.phaseDurationsMs,
    roundPublicKey: toBase64Url(round.roundPublicKey),
    // SECURITY: the round secret key is written to Redis in this JSON (base64url): whoever can
    // read the instance can read it. It is deleted with the round's keys by `endRound`.
    roundSecretKey: toBase64Url(round.roundSecretKey),
    seed: toBase64Url(round.seed),
    pet: round.pet,
    maskConfig: round.maskConfig,
    modelLength: round.modelLength,
  });
  validate(op, 'round record', () => decodeRoundRecord(text));
  return text;
}

export function decodeSummary(text: string): RoundSummary {
  const at = 'round summary';
  const o = parseJson(text, at);
  version(o, at);
  const reason = (): { failureReason?: string } => {
    const value = o['failureReason'];
    if (value === undefined) return {};
    if (typeof value !== 'string') throw new Invalid(`${at}.failureReason: expected text, got ${show(value)}`);
    return { failureReason: value };
  };
  const participants = (p: JsonObject) => ({
    sum: count(p, 'sum', `${at}.participants`),
    update: count(p, 'update', `${at}.participants`),
    sum2: count(p, 'sum2', `${at}.participants`),
  });
  // Fields are checked in the order they are written, so the first bad one is the one named.
  return {
    roundId: count(o, 'roundId', at),
    outcome: oneOf(o, 'outcome', ['completed', 'failed'] as const, at),
    ...reason(),
    startedAt: finite(o, 'startedAt', at),
    endedAt: finite(o, 'endedAt', at),
    phaseDurationsMs: durations(o, 'phaseDurationsMs', SUMMARY_PHASES, at),
    participants: participants(object(o['participants'], `${at}.participants`)),
  };
}

export function encodeSummary(op: string, summary: RoundSummary): string {
  const text = JSON.stringify({ v: 1, ...summary });
  validate(op, 'round summary', () => decodeSummary(text));
  return text;
}

export function decodeMeta(text: string): CoordinatorMeta {
  const at = 'meta';
  const o = parseJson(text, at);
  version(o, at);
  const paused = o['paused'];
  if (typeof paused !== 'boolean') throw new Invalid(`${at}.paused: expected true or false, got ${show(paused)}`);
  const nextPet = o['nextPet'];
  const banned = o['banned'];
  return {
    v: 1,
    paused,
    ...(nextPet === undefined ? {} : { nextPet: petSettings(nextPet, `${at}.nextPet`) }),
    ...(banned === undefined ? {} : { banned: bannedLists(banned, `${at}.banned`) }),
  };
}

function bannedLists(value: unknown, at: string): NonNullable<CoordinatorMeta['banned']> {
  if (typeof value !== 'object' || value === null) throw new Invalid(`${at}: expected an object, got ${show(value)}`);
  const o = value as Record<string, unknown>;
  const list = (key: string): string[] => {
    const v = o[key];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string') || v.length > BANNED_LIMIT) {
      throw new Invalid(`${at}.${key}: expected at most ${BANNED_LIMIT} strings, got ${show(v)}`);
    }
    return v as string[];
  };
  return { participants: list('participants'), subjects: list('subjects') };
}

export function encodeMeta(op: string, meta: CoordinatorMeta): string {
  const text = JSON.stringify({ v: 1, paused: meta.paused, nextPet: meta.nextPet, banned: meta.banned });
  validate(op, 'meta', () => decodeMeta(text));
  return text;
}

/** Runs a decoder over a value about to be written: an invalid value is the caller's error. */
function validate(op: string, what: string, decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    if (error instanceof Invalid) throw new StoreError(`${op}: invalid ${what}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Decodes a stored value; a value that does not decode is a corrupt store, named by its key. */
export function load<T>(key: string, text: string, decode: (text: string) => T): T {
  try {
    return decode(text);
  } catch (error) {
    if (error instanceof Invalid) {
      throw new StoreError(`redis ${key}: corrupt value: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** A round id or count stored as decimal text. */
export function storedInteger(key: string, text: string): number {
  const value = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) {
    throw new StoreError(`redis ${key}: corrupt value: expected a non-negative integer, got ${show(text)}`);
  }
  return value;
}
