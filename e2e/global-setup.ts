/**
 * Once per run: a current build of the demo app (support/web-app.ts) and a static
 * server over it, whose origin the tests read from PETFL_E2E_WEB_ORIGIN. Coordinators
 * are per test (support/fixtures.ts).
 */

import { CHROMIUM_SKIP_REASON } from './support/chromium.ts';
import { serveStatic, webBuild } from './support/web-app.ts';

export default async function globalSetup(): Promise<() => Promise<void>> {
  if (CHROMIUM_SKIP_REASON !== null) console.warn(`e2e: every test skips: ${CHROMIUM_SKIP_REASON}`);
  const server = await serveStatic(webBuild());
  process.env['PETFL_E2E_WEB_ORIGIN'] = server.origin;
  return () => server.close();
}
