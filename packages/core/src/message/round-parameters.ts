/**
 * Round parameters (protocol.md §3.9): what the coordinator publishes for a
 * round (`GET /params`) and a participant needs to take part. On the wire
 * they are JSON; keys and the seed are base64url without padding.
 *
 * ```text
 *   {
 *     "roundId": 7,                          safe integer ≥ 0
 *     "coordinatorPk": "<base64url 32 B>",   the round's X25519 public key
 *     "sumProbability": 0.01,                0 < p ≤ 1
 *     "updateProbability": 0.1,              0 < p ≤ 1
 *     "seed": "<base64url 32 B>",            the round seed (task selection)
 *     "maskConfig": { "group": "prime", "data": "f32", "bound": "b0", "model": "m3" },
 *     "modelLength": 1000,                   1 ≤ n ≤ 2^32 − 1
 *     "privacy": { "mechanism": "skellam", … }  optional: the round's promise (ADR 0012)
 *   }
 * ```
 *
 * Decoding reports every invalid field in one 'invalid-round-parameters'
 * error, so a misconfigured coordinator is diagnosed in one go. Unknown keys
 * are ignored (newer coordinators may add fields).
 */

import { describe, equalBytes, fromBase64Url, toBase64Url } from '../bytes.ts';
import { ENCRYPT_PUBLIC_KEY_BYTES, type PetCrypto, SEED_BYTES } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';
import { type MaskConfig, validateMaskConfig } from '../mask/config.ts';
import { distributedPrivacyProblem } from '../privacy/distributed/distributed-noise.ts';
import {
  isDistributed,
  privacyRoundSeed,
  type RoundPrivacy,
  roundPrivacyProblems,
  validateRoundPrivacy,
} from '../privacy/distributed/round-privacy.ts';

export interface RoundParameters {
  readonly roundId: number;
  /** The round's X25519 public key; messages are sealed to it. */
  readonly coordinatorPk: Uint8Array;
  readonly sumProbability: number;
  readonly updateProbability: number;
  /** The 32-byte round seed that task signatures sign. */
  readonly seed: Uint8Array;
  readonly maskConfig: MaskConfig;
  readonly modelLength: number;
  /**
   * The privacy the round promises (docs/privacy.md, ADR 0012), bound into `seed`
   * (`verifyRoundPrivacy`); absent when the round promises none.
   */
  readonly privacy?: RoundPrivacy;
}

/** The JSON form of `RoundParameters`. */
export interface RoundParametersJson {
  readonly roundId: number;
  readonly coordinatorPk: string;
  readonly sumProbability: number;
  readonly updateProbability: number;
  readonly seed: string;
  readonly maskConfig: {
    readonly group: string;
    readonly data: string;
    readonly bound: string;
    readonly model: string;
  };
  readonly modelLength: number;
  readonly privacy?: RoundPrivacy;
}

export const MAX_MODEL_LENGTH = 0xffff_ffff;

/** The JSON object served at `GET /params`; throws if `params` is invalid. */
export function encodeRoundParameters(params: RoundParameters): RoundParametersJson {
  const { group, data, bound, model } = params.maskConfig;
  const json: RoundParametersJson = {
    roundId: params.roundId,
    coordinatorPk: toBase64Url(params.coordinatorPk),
    sumProbability: params.sumProbability,
    updateProbability: params.updateProbability,
    seed: toBase64Url(params.seed),
    maskConfig: { group, data, bound, model },
    modelLength: params.modelLength,
    ...(params.privacy === undefined ? {} : { privacy: { ...params.privacy } }),
  };
  decodeRoundParameters(json); // never publish what a participant would reject
  return json;
}

/** Validates and decodes `GET /params` JSON; one error lists every invalid field. */
export function decodeRoundParameters(json: unknown): RoundParameters {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new PetError('invalid-round-parameters', `round parameters: expected an object, got ${describe(json)}`);
  }
  const o = json as { readonly [K in keyof RoundParametersJson]?: unknown };
  const problems: string[] = [];

  const integer = (key: 'roundId' | 'modelLength', min: number, max: number): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      problems.push(`${key}: expected an integer in ${min}..${max}, got ${describe(v)}`);
      return 0;
    }
    return v;
  };
  const probability = (key: 'sumProbability' | 'updateProbability'): number => {
    const v = o[key];
    if (typeof v !== 'number' || !(v > 0 && v <= 1)) {
      problems.push(`${key}: expected a number p with 0 < p ≤ 1, got ${describe(v)}`);
      return 0;
    }
    return v;
  };
  const bytes = (key: 'coordinatorPk' | 'seed', length: number): Uint8Array => {
    const v = o[key];
    try {
      const b = fromBase64Url(v as string, key);
      if (b.length === length) return b;
      problems.push(`${key}: expected ${length} bytes, got ${b.length}`);
    } catch (e) {
      problems.push(e instanceof PetError ? e.message : `${key}: expected base64url text, got ${describe(v)}`);
    }
    return new Uint8Array(length);
  };

  const roundId = integer('roundId', 0, Number.MAX_SAFE_INTEGER);
  const coordinatorPk = bytes('coordinatorPk', ENCRYPT_PUBLIC_KEY_BYTES);
  const sumProbability = probability('sumProbability');
  const updateProbability = probability('updateProbability');
  const seed = bytes('seed', SEED_BYTES);
  let maskConfig: MaskConfig | undefined;
  try {
    const c = o.maskConfig;
    validateMaskConfig(c);
    maskConfig = { group: c.group, data: c.data, bound: c.bound, model: c.model };
  } catch (e) {
    problems.push(e instanceof PetError ? e.message : String(e));
  }
  const modelLength = integer('modelLength', 1, MAX_MODEL_LENGTH);
  let privacy: RoundPrivacy | undefined;
  if (o.privacy !== undefined) {
    const privacyProblems = roundPrivacyProblems('privacy', o.privacy);
    problems.push(...privacyProblems);
    if (privacyProblems.length === 0) privacy = validateRoundPrivacy(o.privacy);
    if (privacy !== undefined && privacy.dimension !== modelLength) {
      problems.push(`privacy.dimension: expected the model length ${modelLength}, got ${privacy.dimension}`);
    }
    if (privacy !== undefined && isDistributed(privacy) && maskConfig !== undefined) {
      const problem = distributedPrivacyProblem(privacy, maskConfig, modelLength);
      if (problem !== undefined) problems.push(problem);
    }
  }

  if (problems.length > 0 || maskConfig === undefined) {
    throw new PetError('invalid-round-parameters', `round parameters: ${problems.join('; ')}`);
  }
  const params = { roundId, coordinatorPk, sumProbability, updateProbability, seed, maskConfig, modelLength };
  return privacy === undefined ? params : { ...params, privacy };
}

/**
 * Throws `privacy-mismatch` unless the round seed commits to the announced privacy (ADR 0012):
 * seed = SHA-256(domain ‖ coordinatorPk ‖ canonical privacy). A round without privacy passes.
 */
export function verifyRoundPrivacy(crypto: PetCrypto, params: RoundParameters): void {
  if (params.privacy === undefined) return;
  const expected = privacyRoundSeed(crypto, params.coordinatorPk, params.privacy);
  if (!equalBytes(expected, params.seed)) {
    throw new PetError(
      'privacy-mismatch',
      `round ${params.roundId}: the round seed does not commit to the announced privacy; not taking part`,
    );
  }
}
