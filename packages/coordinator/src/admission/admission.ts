/**
 * Admission (docs/security.md §2): who may send messages to the coordinator.
 * An `Admission` looks at a request's headers only — never its body — so it is
 * the cheap check that runs before a message is read (docs/security.md §4).
 *
 * - `open`: anyone; no subject.
 * - `token`: a bearer JWT from the app's backend (`token-admission.ts`); the
 *   subject is its `sub` claim, which rate limits and the coordinator's
 *   identity cap key on.
 * - `allowlist`: anyone may reach the pipeline; the coordinator checks the
 *   participant key inside the opened message against the list, so there is
 *   no subject here.
 *
 * Built once from settings by `createAdmission`; an embedder may pass its own
 * implementation of the port instead.
 */

import type { AdmissionSettings } from '../settings.ts';
import { createTokenAdmission } from './token-admission.ts';

/** What admission learned about a request. */
export interface Admitted {
  /** Who the request acts for (a token's `sub`), or undefined when admission names no one. */
  readonly subject: string | undefined;
}

/** The request headers admission reads (a Fetch `Headers` fits). */
export interface RequestHeaders {
  get(name: string): string | null;
}

/** The admission port. */
export interface Admission {
  /** Admits a request, or throws PetError('not-admitted', reason) (PetError('unavailable') when it cannot decide). */
  authenticate(headers: RequestHeaders): Promise<Admitted>;
}

const NO_SUBJECT: Admitted = Object.freeze({ subject: undefined });

/** Admits every request without a subject: `open`, and `allowlist` (checked later, against the message's key). */
export const admitEveryone: Admission = {
  authenticate: async () => NO_SUBJECT,
};

/**
 * The admission `settings.admission` describes. For `token` a static public key is imported
 * here, so a key that cannot be used fails at start-up (SettingsError naming the setting).
 */
export async function createAdmission(settings: AdmissionSettings): Promise<Admission> {
  return settings.kind === 'token' ? createTokenAdmission(settings) : admitEveryone;
}
