import { describe, expect, it } from 'vitest';
import { initCrypto } from '../crypto/sodium.ts';
import { isPetError } from '../errors.ts';
import { errorCode, fixtureKeys, LIMBS_CONFIG } from '../testing/message-fixtures.ts';
import {
  decodeRoundParameters,
  encodeRoundParameters,
  MAX_MODEL_LENGTH,
  type RoundParameters,
} from './round-parameters.ts';

const crypto = await initCrypto();
const keys = fixtureKeys(crypto);

const params: RoundParameters = {
  roundId: 7,
  coordinatorPk: keys.coordinator.publicKey,
  sumProbability: 0.01,
  updateProbability: 0.5,
  seed: keys.roundSeed,
  maskConfig: LIMBS_CONFIG,
  modelLength: 16,
};

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isPetError(e, 'invalid-round-parameters')) return e.message;
    throw e;
  }
  return 'no error';
}

describe('round parameters (protocol.md §3.9)', () => {
  it('encodes the golden JSON and decodes it back', () => {
    const json = encodeRoundParameters(params);
    expect(json).toStrictEqual({
      roundId: 7,
      coordinatorPk: 'YDRufJEaX2uhVBKRdMr-dbKUrDu9VUljL0jOxiZvhBA',
      sumProbability: 0.01,
      updateProbability: 0.5,
      seed: 'AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM',
      maskConfig: { group: 'prime', data: 'f64', bound: 'b6', model: 'm6' },
      modelLength: 16,
    });
    expect(decodeRoundParameters(JSON.parse(JSON.stringify(json)))).toStrictEqual(params);
  });

  it('ignores unknown keys', () => {
    const json = { ...encodeRoundParameters(params), extra: [1, 2], phase: 'sum' };
    expect(decodeRoundParameters(json)).toStrictEqual(params);
  });

  it('accepts the boundaries', () => {
    const json = encodeRoundParameters(params);
    const ok = (patch: object) => errorCode(() => decodeRoundParameters({ ...json, ...patch }));
    expect(ok({ roundId: 0 })).toBe('no error');
    expect(ok({ roundId: Number.MAX_SAFE_INTEGER })).toBe('no error');
    expect(ok({ sumProbability: 1, updateProbability: Number.MIN_VALUE })).toBe('no error');
    expect(ok({ modelLength: 1 })).toBe('no error');
    expect(ok({ modelLength: MAX_MODEL_LENGTH })).toBe('no error');
  });

  it('rejects each invalid field', () => {
    const json = encodeRoundParameters(params);
    const bad = (patch: object) => errorCode(() => decodeRoundParameters({ ...json, ...patch }));
    for (const roundId of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, '7', null]) {
      expect(bad({ roundId })).toBe('invalid-round-parameters');
    }
    for (const p of [0, -0.1, 1.0000001, Number.NaN, Number.POSITIVE_INFINITY, '0.5', undefined]) {
      expect(bad({ sumProbability: p })).toBe('invalid-round-parameters');
      expect(bad({ updateProbability: p })).toBe('invalid-round-parameters');
    }
    for (const modelLength of [0, MAX_MODEL_LENGTH + 1, 2.5, -3]) {
      expect(bad({ modelLength })).toBe('invalid-round-parameters');
    }
    expect(bad({ seed: json.seed.slice(0, -2) })).toBe('invalid-round-parameters'); // 31 bytes
    expect(bad({ coordinatorPk: `${json.coordinatorPk}=` })).toBe('invalid-round-parameters');
    expect(bad({ coordinatorPk: 42 })).toBe('invalid-round-parameters');
    expect(bad({ maskConfig: { ...json.maskConfig, bound: 'b3' } })).toBe('invalid-round-parameters');
    expect(bad({ maskConfig: 'prime/f64/b6/m6' })).toBe('invalid-round-parameters');
    for (const notObject of [null, [], 'params', 3]) {
      expect(errorCode(() => decodeRoundParameters(notObject))).toBe('invalid-round-parameters');
    }
  });

  it('lists every invalid field in one error', () => {
    const message = messageOf(() =>
      decodeRoundParameters({
        roundId: -1,
        coordinatorPk: 'AAAA',
        sumProbability: 0,
        updateProbability: 2,
        seed: '!',
        maskConfig: { group: 'prime', data: 'f16', bound: 'b6', model: 'm6' },
        modelLength: 0,
      }),
    );
    for (const field of [
      'roundId',
      'coordinatorPk',
      'sumProbability',
      'updateProbability',
      'seed',
      'maskConfig.data',
      'modelLength',
    ]) {
      expect(message).toContain(`${field}:`);
    }
    expect(messageOf(() => decodeRoundParameters({}))).toMatch(/roundId.*coordinatorPk.*maskConfig.*modelLength/);
  });

  it('refuses to encode invalid parameters', () => {
    expect(errorCode(() => encodeRoundParameters({ ...params, seed: new Uint8Array(16) }))).toBe(
      'invalid-round-parameters',
    );
    expect(errorCode(() => encodeRoundParameters({ ...params, sumProbability: 0 }))).toBe('invalid-round-parameters');
  });
});
