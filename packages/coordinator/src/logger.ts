/**
 * The logging port: the subset of pino's API the coordinator uses, so the app
 * takes any pino logger (the CLI's JSON logs) or a silent one (tests).
 *
 * SECURITY: nothing logged may contain a round secret key, an ephemeral key,
 * a mask seed or the admin token; log participant public keys only as the
 * short base64url prefix `pkTag` gives.
 */

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = () => {};
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/** A participant key shortened for logs: enough to correlate, not a full identifier. */
export const pkTag = (pk: string): string => pk.slice(0, 8);
