/** The coordinator's error base: its errors carry their codes, and every code has one HTTP status. */

import { PET_ERROR_CODES } from '@petfl/core';
import { describe, expect, it } from 'vitest';
import { COORDINATOR_ERROR_CODES, CoordinatorError, isCoordinatorError } from './errors.ts';
import { ERROR_STATUS } from './http/error-status.ts';
import { SettingsError } from './settings.ts';
import { StoreError } from './store/store-error.ts';

describe('CoordinatorError', () => {
  it('is the base of the settings and store errors, each with its code', () => {
    const cause = new Error('ECONNREFUSED');
    const store = new StoreError('redis get petfl:round: connection refused', { cause });
    expect(store).toBeInstanceOf(CoordinatorError);
    expect(store).toMatchObject({ name: 'StoreError', code: 'store-failed', cause });
    expect(isCoordinatorError(store, 'store-failed')).toBe(true);

    const settings = new SettingsError(['api.port: expected an integer in 0..65535, got -1']);
    expect(settings).toBeInstanceOf(CoordinatorError);
    expect(settings).toMatchObject({ name: 'SettingsError', code: 'invalid-settings' });
    expect(settings.message).toBe('invalid settings:\n  - api.port: expected an integer in 0..65535, got -1');
    expect(isCoordinatorError(settings, 'store-failed')).toBe(false);

    expect(new CoordinatorError('unauthorized', 'admin: expected a bearer token')).toMatchObject({
      name: 'CoordinatorError',
      code: 'unauthorized',
    });
    expect(isCoordinatorError(new Error('plain'))).toBe(false);
  });

  it('has codes apart from the protocol’s, each mapped to one HTTP status', () => {
    const protocol = new Set<string>(PET_ERROR_CODES);
    expect(COORDINATOR_ERROR_CODES.filter((code) => protocol.has(code))).toEqual([]);
    for (const code of [...PET_ERROR_CODES, ...COORDINATOR_ERROR_CODES]) {
      expect(ERROR_STATUS[code], code).toBeGreaterThanOrEqual(400);
    }
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...PET_ERROR_CODES, ...COORDINATOR_ERROR_CODES].sort());
  });
});
