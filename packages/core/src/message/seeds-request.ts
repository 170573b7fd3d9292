/**
 * The signed `GET /seeds` request (protocol.md §1.2): a sum
 * participant proves that it holds the identity key whose update seed
 * dictionary it asks for, so nobody else can read (or probe) its column of
 * the seed dictionary.
 *
 * The signature is Ed25519 by the participant's identity key over
 *
 * ```text
 *  0         11                  43                  75
 *  +---------+-------------------+-------------------+
 *  | context | coordinator pk    | participant pk    |
 *  | (11)    | (32, round key)   | (32, identity pk) |
 *  +---------+-------------------+-------------------+
 * ```
 *
 * context = UTF-8 "petfl/seeds"; the round's coordinator public key binds it
 * to one round, so a signature seen once cannot be replayed in another round.
 * The request is `GET /seeds?pk=<b64url participant pk>&sig=<b64url signature>`.
 */

import {
  ENCRYPT_PUBLIC_KEY_BYTES,
  type PetCrypto,
  SIGNATURE_BYTES,
  SIGNING_PUBLIC_KEY_BYTES,
  type SigningKeyPair,
} from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';

/** UTF-8 "petfl/seeds": the domain separation of the seeds request signature. */
export const SEEDS_REQUEST_CONTEXT = Uint8Array.from([
  0x70, 0x65, 0x74, 0x66, 0x6c, 0x2f, 0x73, 0x65, 0x65, 0x64, 0x73,
]);

/**
 * `GET /seeds?…&so_far=1` (protocol.md §1.2): the answer names in this header whether its
 * dictionary is the round's final one (`final`: the update phase has ended) or the seeds accepted
 * so far while the update phase runs (`so-far`: more may come, none goes). A sum participant
 * derives the masks of a dictionary so far early and, once the final one comes, only the rest
 * (ADR 0017).
 */
export const SEEDS_SO_FAR_HEADER = 'petfl-seeds';

/** The signed bytes: "petfl/seeds" ‖ coordinator round pk (32) ‖ participant pk (32). */
export function seedsRequestMessage(coordinatorPk: Uint8Array, participantPk: Uint8Array): Uint8Array {
  expectLength(coordinatorPk, ENCRYPT_PUBLIC_KEY_BYTES, 'seeds request coordinator pk');
  expectLength(participantPk, SIGNING_PUBLIC_KEY_BYTES, 'seeds request participant pk');
  const message = new Uint8Array(SEEDS_REQUEST_CONTEXT.length + coordinatorPk.length + participantPk.length);
  message.set(SEEDS_REQUEST_CONTEXT, 0);
  message.set(coordinatorPk, SEEDS_REQUEST_CONTEXT.length);
  message.set(participantPk, SEEDS_REQUEST_CONTEXT.length + coordinatorPk.length);
  return message;
}

/**
 * The signature of a `GET /seeds` request for this round.
 * SECURITY: `identity.secretKey` is the participant's identity key, owned by the participant
 * state; it is only read here, never kept or copied.
 */
export function signSeedsRequest(crypto: PetCrypto, coordinatorPk: Uint8Array, identity: SigningKeyPair): Uint8Array {
  return crypto.sign(seedsRequestMessage(coordinatorPk, identity.publicKey), identity.secretKey);
}

/** Checks a signature's length before it goes on the wire. */
export function expectSeedsSignature(signature: Uint8Array): void {
  expectLength(signature, SIGNATURE_BYTES, 'seeds request signature');
}

function expectLength(bytes: Uint8Array, length: number, field: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    const got = bytes instanceof Uint8Array ? `${bytes.length} bytes` : typeof bytes;
    throw new PetError('invalid-field', `${field}: expected ${length} bytes, got ${got}`);
  }
}

/** Whether `signature` is `participantPk`'s signature of a seeds request for this round (the coordinator's check). */
export function verifySeedsRequest(
  crypto: PetCrypto,
  coordinatorPk: Uint8Array,
  participantPk: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== SIGNATURE_BYTES || participantPk.length !== SIGNING_PUBLIC_KEY_BYTES) return false;
  return crypto.verify(signature, seedsRequestMessage(coordinatorPk, participantPk), participantPk);
}
