/**
 * Token admission (docs/security.md §2): a participant presents
 * `Authorization: Bearer <JWT>` that the app's backend issued to its signed-in
 * user. The coordinator verifies it with `jose` against the backend's JWKS URL
 * (keys fetched on first use, cached, fetched again when a token names a key
 * it does not hold — at most once per cooldown) or against one static SPKI
 * public key, then admits the request with the token's `sub` as its subject.
 *
 * Checks, cheapest first: the header's presence and shape, the token's length,
 * then the signature (asymmetric algorithms only: never `none` nor an HMAC
 * secret), `exp` (required), `sub` (required), and `iss` / `aud` when set.
 *
 * SECURITY: the token is a bearer credential: it is never logged, never part
 * of an error message, and nothing derived from it is kept but the subject.
 */

import { PetError } from '@petfl/core';
import { type CryptoKey, createRemoteJWKSet, errors, importSPKI, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { type AdmissionSettings, SettingsError } from '../settings.ts';
import type { Admission, Admitted, RequestHeaders } from './admission.ts';

/** The asymmetric JWS algorithms a token may use; which apply is decided by the key. */
const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'Ed25519',
  'EdDSA',
] as const;

/** A longer `Authorization` header is refused unread (a JWT from an app backend is well under 2 KiB). */
export const MAX_TOKEN_CHARS = 8192;
/** The longest `sub` accepted: it becomes a rate-limit key and an identity-cap key. */
export const MAX_SUBJECT_CHARS = 256;
/** Clock skew tolerated between the app's backend and the coordinator on `exp` and `nbf`. */
const CLOCK_TOLERANCE_S = 5;

type TokenSettings = Extract<AdmissionSettings, { kind: 'token' }>;

/** The JWKS URL failed (unreachable, not 200, not a key set): the coordinator cannot decide, the token may be fine. */
class KeySetUnavailable extends Error {}

const notAdmitted = (reason: string) => new PetError('not-admitted', `admission: ${reason}`);

/** `Authorization: Bearer <token>` (RFC 6750 §2.1): the token, or a PetError saying what is wrong. */
function bearerToken(headers: RequestHeaders): string {
  const header = headers.get('authorization');
  if (header === null || header === '') {
    throw notAdmitted('expected the header Authorization: Bearer <token> (a JWT from the app’s backend)');
  }
  if (header.length > MAX_TOKEN_CHARS) {
    throw notAdmitted(`the Authorization header is ${header.length} characters, expected at most ${MAX_TOKEN_CHARS}`);
  }
  const match = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header);
  if (match === null) throw notAdmitted('expected Authorization: Bearer <token>, got another scheme or form');
  return match[1] as string;
}

/** A jose failure as the reason a participant is shown; the token itself is never part of it. */
function refusal(error: unknown): PetError {
  if (error instanceof KeySetUnavailable) {
    const message = 'admission: the key set that verifies tokens could not be fetched; retry later';
    return new PetError('unavailable', message, { cause: error.cause });
  }
  if (error instanceof errors.JWTExpired) return notAdmitted('token expired (its exp is in the past)');
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (error.reason === 'missing') return notAdmitted(`token lacks the required ${claim} claim`);
    if (claim === 'iss') return notAdmitted('token from the wrong issuer (iss)');
    if (claim === 'aud') return notAdmitted('token for the wrong audience (aud)');
    if (claim === 'nbf') return notAdmitted('token not yet valid (nbf is in the future)');
    return notAdmitted(`token claim ${claim} is invalid`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return notAdmitted('token has a bad signature');
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return notAdmitted('token is signed with a key that is not in the key set (kid/alg)');
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return notAdmitted('token algorithm not accepted (alg must be an asymmetric one the key allows)');
  }
  return notAdmitted('token is not a valid signed JWT');
}

/** Every algorithm `pem` can be imported for: the key decides (an RSA key allows RS* and PS*, a P-256 key ES256). */
async function importStaticKey(pem: string): Promise<ReadonlyMap<string, CryptoKey>> {
  const keys = new Map<string, CryptoKey>();
  for (const alg of ASYMMETRIC_ALGORITHMS) {
    try {
      keys.set(alg, await importSPKI(pem, alg, { extractable: false }));
    } catch {
      // This key does not allow `alg` (another key type or curve); tokens using it are refused.
    }
  }
  if (keys.size === 0) {
    throw new SettingsError([
      'admission.jwt_public_key: expected a PEM "PUBLIC KEY" (SPKI) of an RSA, EC (P-256, P-384, P-521) or Ed25519 key; it could not be imported',
    ]);
  }
  return keys;
}

/** The key-set resolver: a remote JWKS whose fetch failures are told apart from a token's own faults. */
function remoteKeySet(url: string): JWTVerifyGetKey {
  // jose's defaults: a 5 s fetch timeout, keys cached 10 min, and a token naming an unknown key
  // fetches the set again only 30 s after the last fetch (made-up kids cannot hammer the URL).
  const jwks = createRemoteJWKSet(new URL(url));
  return async (header, token) => {
    try {
      return await jwks(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new KeySetUnavailable('JWKS fetch failed', { cause: error });
    }
  };
}

/** Token admission from `admission` settings: a JWKS URL or a static public key (exactly one is set). */
export async function createTokenAdmission(settings: TokenSettings): Promise<Admission> {
  let getKey: JWTVerifyGetKey;
  let algorithms: string[];
  if (settings.jwksUrl !== '') {
    getKey = remoteKeySet(settings.jwksUrl);
    algorithms = [...ASYMMETRIC_ALGORITHMS];
  } else {
    const keys = await importStaticKey(settings.jwtPublicKey);
    // jose checks the header's alg against `algorithms` before it asks for the key.
    getKey = (header) => keys.get(header.alg) as CryptoKey;
    algorithms = [...keys.keys()];
  }
  const verifyOptions = {
    algorithms,
    requiredClaims: ['exp', 'sub'],
    clockTolerance: CLOCK_TOLERANCE_S,
    ...(settings.jwtIssuer === '' ? {} : { issuer: settings.jwtIssuer }),
    ...(settings.jwtAudience === '' ? {} : { audience: settings.jwtAudience }),
  };

  return {
    async authenticate(headers: RequestHeaders): Promise<Admitted> {
      // SECURITY: the token is held only for this call and never logged or echoed.
      const token = bearerToken(headers);
      let subject: unknown;
      try {
        ({
          payload: { sub: subject },
        } = await jwtVerify(token, getKey, verifyOptions));
      } catch (error) {
        throw refusal(error);
      }
      if (typeof subject !== 'string' || subject === '' || subject.length > MAX_SUBJECT_CHARS) {
        throw notAdmitted(`token sub: expected a non-empty string of at most ${MAX_SUBJECT_CHARS} characters`);
      }
      return { subject };
    },
  };
}
