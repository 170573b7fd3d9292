/**
 * Start-up checks of the settings against where the coordinator listens
 * (docs/security.md §4, §6): a coordinator reachable from other machines
 * must not run with a guessable admin token, nor admit anyone unless the
 * operator said so. Pure: the CLI refuses to start on any problem and logs
 * the warnings.
 */

import { isLoopbackHost } from '@petfl/core';
import type { Settings } from './settings.ts';

/** The default admin token of DEFAULT_SETTINGS_TOML: fine on loopback only. */
export const DEFAULT_ADMIN_TOKEN = 'change-me';
/** The shortest admin token accepted on a non-loopback host (a generated one has 43 characters). */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

export interface StartupReport {
  /** Reasons not to start. */
  readonly problems: readonly string[];
  /** Reasons to start, but loudly. */
  readonly warnings: readonly string[];
}

export function startupProblems(settings: Settings, host: string): StartupReport {
  const problems: string[] = [];
  const warnings: string[] = [];
  const loopback = isLoopbackHost(host);
  // SECURITY: the token's value is never put in a message, only whether it is acceptable.
  const token = settings.api.adminToken;
  if (!loopback && (token === DEFAULT_ADMIN_TOKEN || token.length < MIN_ADMIN_TOKEN_LENGTH)) {
    problems.push(
      `api.admin_token: host ${host} is not loopback, so the admin token must not be the default and must have at ` +
        `least ${MIN_ADMIN_TOKEN_LENGTH} characters (got ${token === DEFAULT_ADMIN_TOKEN ? 'the default' : `${token.length}`}); ` +
        'set PETFL_API_ADMIN_TOKEN, e.g. to the output of `petfl-coordinator --generate-admin-token`',
    );
  }
  if (!loopback && settings.admission.kind === 'open' && !settings.admission.openOnPublicHost) {
    problems.push(
      `admission.kind: "open" admits anyone, and host ${host} is not loopback; use "token" or "allowlist", ` +
        'or set admission.open_on_public_host = true (PETFL_ADMISSION_OPEN_ON_PUBLIC_HOST=true) to accept it',
    );
  }
  if (settings.safety.allowUnsafeSmallRounds) {
    warnings.push(
      'safety.allow_unsafe_small_rounds is true: rounds with fewer than 3 sum, update or sum2 participants ' +
        'can reveal a single model (docs/security.md §1); for tests and demos only',
    );
  }
  if (loopback && token === DEFAULT_ADMIN_TOKEN) {
    warnings.push('api.admin_token is the default: set PETFL_API_ADMIN_TOKEN before exposing this coordinator');
  }
  return { problems, warnings };
}
