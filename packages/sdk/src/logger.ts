/**
 * Logging (architecture.md §7.5): a console-like `logger` (default: the
 * platform's `console`) filtered by `logLevel` (default 'warn'). The SDK logs
 * round progress and errors only — never keys, seeds, models or states.
 */

export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';

/** What the SDK calls on a logger; `console` fits, so does pino's or winston's logger. */
export interface LoggerLike {
  error(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
}

export const LOG_LEVELS: readonly LogLevel[] = ['silent', 'error', 'warn', 'info', 'debug'];

export type Log = { readonly [K in Exclude<LogLevel, 'silent'>]: (message: string) => void };

const noop = (): void => {};

/** A log that writes `[petfl] <message>` at `level` and above; a throwing logger is ignored. */
export function createLog(level: LogLevel, logger: LoggerLike | undefined): Log {
  const sink = logger ?? (globalThis as { console?: LoggerLike }).console;
  const rank = LOG_LEVELS.indexOf(level);
  const at = (name: Exclude<LogLevel, 'silent'>) => {
    if (sink === undefined || LOG_LEVELS.indexOf(name) > rank) return noop;
    return (message: string) => {
      try {
        sink[name](`[petfl] ${message}`);
      } catch {
        // A logger that throws must not break the participant (architecture.md §7.4).
      }
    };
  };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}
