/** The participant state is versioned plain data (architecture.md §7.4). */

import { initCrypto, type PetCrypto, PetError } from '@petfl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CoordinatorRejectedError, CoordinatorUnavailableError } from '../client/coordinator-client.ts';
import { assertNever, createInitialState, participantError, STATE_VERSION, wipePhaseSecrets } from './state.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

describe('createInitialState', () => {
  it('is a v2 participant before its first round, with a fresh identity and scalar 1', () => {
    const state = createInitialState(crypto);
    expect(state).toMatchObject({
      v: STATE_VERSION,
      scalar: 1,
      round: undefined,
      lastGlobalModelRound: undefined,
      lastError: undefined,
      phase: { kind: 'new-round' },
    });
    expect(STATE_VERSION).toBe(2);
    expect(state.identity.publicKey).toHaveLength(32);
    expect(state.identity.secretKey).toHaveLength(64);
    expect(createInitialState(crypto).identity.publicKey).not.toStrictEqual(state.identity.publicKey);
  });

  it('derives the identity from a seed and takes the scalar', () => {
    const identitySeed = new Uint8Array(32).fill(5);
    const state = createInitialState(crypto, { identitySeed, scalar: 0.5 });
    expect(state.identity).toStrictEqual(crypto.signingKeyPair(identitySeed));
    expect(state.scalar).toBe(0.5);
    expect(createInitialState(crypto, { scalar: 0 }).scalar).toBe(0);
  });

  it("rejects a scalar that is not a finite number ≥ 0 ('invalid-scalar')", () => {
    for (const scalar of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createInitialState(crypto, { scalar })).toThrow(PetError);
    }
  });

  it('survives structuredClone unchanged (plain data, no class instances)', () => {
    const state = createInitialState(crypto);
    expect(structuredClone(state)).toStrictEqual(state);
  });
});

describe('state helpers', () => {
  it('participantError keeps protocol codes and names the rest', () => {
    expect(participantError(new PetError('truncated', 'x: short'), 3)).toStrictEqual({
      code: 'truncated',
      message: 'x: short',
      roundId: 3,
    });
    expect(participantError(new CoordinatorRejectedError(409, 'wrong-round', 'late'), 3).code).toBe('wrong-round');
    expect(participantError(new CoordinatorUnavailableError('down'), 3).code).toBe('unavailable');
    expect(participantError(new Error('bug'), undefined)).toStrictEqual({
      code: 'internal',
      message: 'bug',
      roundId: undefined,
    });
    expect(participantError('odd', 1, 'callback-failed')).toMatchObject({ code: 'callback-failed', message: 'odd' });
  });

  it('wipePhaseSecrets wipes the ephemeral secret of sum, sum2 and a sending phase headed for sum2', () => {
    const sumSignature = new Uint8Array(64);
    const fresh = () => crypto.encryptKeyPair();
    const sum = { kind: 'sum', sumSignature, ephemeral: fresh() } as const;
    const sum2 = { kind: 'sum2', sumSignature, ephemeral: fresh() } as const;
    const sending = {
      kind: 'sending',
      tag: 'sum',
      payload: new Uint8Array(96),
      messageId: undefined,
      maxChunkData: 1024,
      next: 0,
      after: { ...sum2, ephemeral: fresh() },
    } as const;
    for (const phase of [sum, sum2, sending]) wipePhaseSecrets(crypto, phase);
    for (const key of [sum.ephemeral, sum2.ephemeral, sending.after.ephemeral]) {
      expect(key.secretKey.every((b) => b === 0)).toBe(true);
      expect(key.publicKey.some((b) => b !== 0)).toBe(true);
    }
    expect(() => wipePhaseSecrets(crypto, { kind: 'awaiting' })).not.toThrow();
  });

  it('assertNever throws on a value the types ruled out', () => {
    expect(() => assertNever('surprise' as never)).toThrow('unexpected value "surprise"');
  });
});
