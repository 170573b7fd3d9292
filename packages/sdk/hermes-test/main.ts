/**
 * The entry of the React Native fixture's scenario (e2e/consumers/react-native.test.ts copies
 * it into the app, whose index.js imports polyfills.ts and then this): runs the scenario and
 * prints one line of JSON, `{"ok":true,"ms":…,"timings":…,"report":…}` or
 * `{"ok":false,"error":…}`, with the `print` of the `hermes` CLI.
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
