/**
 * Errors across the Worker boundary. Structured clone keeps an Error's
 * message but not its class or `code`, so an error crosses as plain data —
 * `{name, message, code, stack}` — and is rebuilt on the other side as the
 * SDK's named class of that name (errors.ts), a PetflError with its code for
 * any other PetflError, else a plain Error carrying the original name. So
 * `instanceof ParticipantInitError` and `error.code` work in Worker mode as
 * in direct mode.
 */

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

/** An error as structured-clonable plain data. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  /** The PetflError's code; undefined for any other error (whatever `code` it carries). */
  readonly code: string | undefined;
  readonly stack: string | undefined;
}

type Named = new (message: string) => PetflError;

const NAMED: Readonly<Record<string, Named>> = {
  CryptoInitError,
  ParticipantInitError,
  ParticipantRestoreError,
  GlobalModelUnavailableError,
  GlobalModelDataTypeMismatchError,
  LocalModelLengthMismatchError,
  LocalModelDataTypeMismatchError,
  UninitializedParticipantError,
};

export function toWireError(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), code: undefined, stack: undefined };
  return {
    name: error.name,
    message: error.message,
    code: error instanceof PetflError ? error.code : undefined,
    stack: error.stack,
  };
}

export function fromWireError(wire: WireError): Error {
  const Named = Object.hasOwn(NAMED, wire.name) ? NAMED[wire.name] : undefined;
  let error: Error;
  if (Named !== undefined) error = new Named(wire.message);
  else if (wire.code !== undefined) {
    error = new PetflError(wire.code, wire.message);
    if (wire.name !== 'PetflError') Object.defineProperty(error, 'name', { value: wire.name });
  } else {
    error = new Error(wire.message);
    if (wire.name !== 'Error') error.name = wire.name;
  }
  // The stack of where it was thrown (in the other realm) is the useful one.
  if (wire.stack !== undefined) Object.defineProperty(error, 'stack', { value: wire.stack, configurable: true });
  return error;
}
