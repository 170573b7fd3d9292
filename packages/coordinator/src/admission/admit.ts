/**
 * The admission middleware: runs an `Admission` on a request's headers before
 * its body is read and puts what it learned (`c.var.admitted`) where later
 * middleware (the per-subject rate limit) and the handler find it. A refused
 * request is answered 401 `not-admitted` with `WWW-Authenticate: Bearer` and
 * its body is never read.
 */

import { isPetError } from '@petfl/core';
import type { MiddlewareHandler } from 'hono';
import type { Admission, Admitted } from './admission.ts';

export interface AdmittedEnv {
  Variables: { admitted: Admitted };
}

export interface AdmitOptions {
  /** Called when a request is refused (metrics). */
  readonly onRefused?: () => void;
  /** Called when admission could not decide (the JWKS URL failed), with the reason (logs). */
  readonly onUnavailable?: (reason: string) => void;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function admit(admission: Admission, options: AdmitOptions = {}): MiddlewareHandler<AdmittedEnv> {
  return async (c, next) => {
    let admitted: Admitted;
    try {
      admitted = await admission.authenticate(c.req.raw.headers);
    } catch (error) {
      if (isPetError(error, 'not-admitted')) {
        options.onRefused?.();
        c.header('www-authenticate', 'Bearer realm="petfl"');
        c.header('connection', 'close');
      } else if (isPetError(error, 'unavailable')) {
        options.onUnavailable?.(messageOf(error.cause ?? error));
      }
      throw error;
    }
    c.set('admitted', admitted);
    await next();
  };
}
