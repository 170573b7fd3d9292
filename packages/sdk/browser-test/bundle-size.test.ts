/**
 * The browser bundles' sizes (build.ts: ESM, minified, each entry standalone),
 * reported on every run. Worker mode's main-thread side must stay small: the
 * crypto library (libsodium) and the protocol engine belong to the Worker
 * script only.
 */

import { expect, it } from 'vitest';
import { bundleSizes, formatSizes } from './build.ts';

it('reports the bundle sizes; Worker mode keeps libsodium out of the main thread', async () => {
  const sizes = await bundleSizes();
  console.warn(`[browser-test] bundle sizes (minified, standalone):\n${formatSizes(sizes)}`);
  const size = (name: string) => sizes.find((s) => s.name === name);
  const main = size('@petfl/sdk');
  const workerMain = size('@petfl/sdk/worker');
  const workerScript = size('@petfl/sdk/worker (Worker script)');
  expect(main && workerMain && workerScript).toBeTruthy();
  // libsodium (sumo, with its WebAssembly inlined) is most of the main entry and the Worker script.
  expect(workerMain?.raw).toBeLessThan(48 * 1024);
  expect(workerScript?.raw).toBeGreaterThan(10 * (workerMain?.raw ?? 0));
});
