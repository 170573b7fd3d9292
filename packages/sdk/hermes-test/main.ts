/**
 * The Hermes bundle's entry (build.ts puts polyfills.ts before it): runs the
 * scenario and prints one line of JSON, `{"ok":true,"ms":…,"timings":…,"report":…}` or
 * `{"ok":false,"error":…}`.
 */

import { runScenario } from './scenario.ts';

declare const print: (line: string) => void;

const started = Date.now();
const timings: Record<string, number> = {};
runScenario(timings).then(
  (report) => print(JSON.stringify({ ok: true, ms: Date.now() - started, timings, report })),
  (error: unknown) => {
    const message = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
    const cause = error instanceof Error && error.cause !== undefined ? String(error.cause) : undefined;
    print(JSON.stringify({ ok: false, error: message, cause }));
  },
);
