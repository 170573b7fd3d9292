/**
 * The participant page's test-only additions, one module for one dynamic
 * `import()` in src/participant/main.ts: the `window.__petfl` hook (hook.ts,
 * with what it records, records.ts) and the BENCHMARK ONLY plain-averaging
 * participant of `mode=plain` (plain.ts).
 *
 * The page loads this only where `import.meta.env.DEV` (the Vite dev server)
 * or `import.meta.env.MODE === 'e2e'` (`vite build --mode e2e`, as
 * e2e/support/web-app.ts builds the app). Both are replaced by constants at
 * build time, so a production build (`vite build`) drops the import and
 * contains none of this code.
 */

export { type GlobalModelSeen, installPageHook, rememberSubmitted, type SubmittedModel } from './hook.ts';
export { spawnPlainParticipant } from './plain.ts';
