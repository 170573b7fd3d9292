/**
 * seeds-request.ts: the signed GET /seeds request (protocol.md §1.2) — the signed bytes are
 * "petfl/seeds" ‖ coordinator round pk ‖ participant pk, signed with the identity key.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';
import { SEEDS_REQUEST_CONTEXT, seedsRequestMessage, signSeedsRequest, verifySeedsRequest } from './seeds-request.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('seedsRequestMessage', () => {
  it('is UTF-8 "petfl/seeds" ‖ coordinator pk (32) ‖ participant pk (32)', () => {
    expect(new TextDecoder().decode(SEEDS_REQUEST_CONTEXT)).toBe('petfl/seeds');
    const message = seedsRequestMessage(new Uint8Array(32).fill(0xc0), new Uint8Array(32).fill(0x9a));
    expect(message).toHaveLength(75);
    expect(hex(message)).toBe(`706574666c2f7365656473${'c0'.repeat(32)}${'9a'.repeat(32)}`);
  });

  it('refuses keys of the wrong length, naming the field', () => {
    expect(() => seedsRequestMessage(new Uint8Array(31), new Uint8Array(32))).toThrow(
      new PetError('invalid-field', 'seeds request coordinator pk: expected 32 bytes, got 31 bytes'),
    );
    expect(() => seedsRequestMessage(new Uint8Array(32), new Uint8Array(64))).toThrow(
      'seeds request participant pk: expected 32 bytes, got 64 bytes',
    );
  });
});

describe('signSeedsRequest', () => {
  it('signs with the identity key; the signature verifies for this round only', () => {
    const identity = crypto.signingKeyPair(new Uint8Array(32).fill(7));
    const roundPk = crypto.encryptKeyPair().publicKey;
    const signature = signSeedsRequest(crypto, roundPk, identity);
    expect(signature).toHaveLength(64);
    expect(crypto.verify(signature, seedsRequestMessage(roundPk, identity.publicKey), identity.publicKey)).toBe(true);
    // another round's key, another participant, or the bare keys without the context do not verify
    const otherRound = crypto.encryptKeyPair().publicKey;
    expect(crypto.verify(signature, seedsRequestMessage(otherRound, identity.publicKey), identity.publicKey)).toBe(
      false,
    );
    const other = crypto.signingKeyPair();
    expect(crypto.verify(signature, seedsRequestMessage(roundPk, other.publicKey), other.publicKey)).toBe(false);
    const bare = new Uint8Array([...roundPk, ...identity.publicKey]);
    expect(crypto.verify(signature, bare, identity.publicKey)).toBe(false);
    // Ed25519 is deterministic: the same request signs to the same bytes
    expect(signSeedsRequest(crypto, roundPk, identity)).toEqual(signature);
  });
});

describe('verifySeedsRequest', () => {
  it('accepts the participant’s signature for this round and nothing else, whatever the lengths', () => {
    const identity = crypto.signingKeyPair();
    const roundPk = crypto.encryptKeyPair().publicKey;
    const signature = signSeedsRequest(crypto, roundPk, identity);
    expect(verifySeedsRequest(crypto, roundPk, identity.publicKey, signature)).toBe(true);
    expect(verifySeedsRequest(crypto, crypto.encryptKeyPair().publicKey, identity.publicKey, signature)).toBe(false);
    expect(verifySeedsRequest(crypto, roundPk, crypto.signingKeyPair().publicKey, signature)).toBe(false);
    expect(verifySeedsRequest(crypto, roundPk, identity.publicKey, signature.subarray(0, 63))).toBe(false);
    expect(verifySeedsRequest(crypto, roundPk, identity.publicKey.subarray(0, 31), signature)).toBe(false);
  });
});
