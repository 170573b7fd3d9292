/** Errors rebuilt across the Worker boundary keep their class, code and message. */

import { describe, expect, it } from 'vitest';
import {
  CryptoInitError,
  GlobalModelDataTypeMismatchError,
  GlobalModelUnavailableError,
  LocalModelDataTypeMismatchError,
  LocalModelLengthMismatchError,
  ParticipantInitError,
  ParticipantRestoreError,
  PetflError,
  UninitializedParticipantError,
} from '../errors.ts';
import { fromWireError, toWireError } from './wire-error.ts';

const across = (error: unknown): Error => fromWireError(structuredClone(toWireError(error)));

describe('wire errors', () => {
  it('every named SDK error comes back as its class with its code', () => {
    for (const Named of [
      CryptoInitError,
      ParticipantInitError,
      ParticipantRestoreError,
      GlobalModelUnavailableError,
      GlobalModelDataTypeMismatchError,
      LocalModelLengthMismatchError,
      LocalModelDataTypeMismatchError,
      UninitializedParticipantError,
    ]) {
      const original = new Named('what went wrong');
      const rebuilt = across(original);
      expect(rebuilt).toBeInstanceOf(Named);
      expect(rebuilt).toBeInstanceOf(PetflError);
      expect(rebuilt).toMatchObject({ name: original.name, code: original.code, message: 'what went wrong' });
      expect(rebuilt.stack).toBe(original.stack);
    }
  });

  it('another PetflError keeps its code; other errors keep their name and are not PetflErrors', () => {
    const round = across(new PetflError('wrong-round', 'round 3 is over'));
    expect(round).toBeInstanceOf(PetflError);
    expect(round).toMatchObject({ code: 'wrong-round', message: 'round 3 is over' });

    const system = across(Object.assign(new TypeError('bad'), { code: 'ENOENT' }));
    expect(system).not.toBeInstanceOf(PetflError);
    expect(system).toMatchObject({ name: 'TypeError', message: 'bad' });
    expect((system as { code?: string }).code).toBeUndefined();

    expect(across('a string thrown')).toMatchObject({ name: 'Error', message: 'a string thrown' });
  });
});
