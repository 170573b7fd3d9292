/**
 * Builds and packs the published packages once for every consumer fixture
 * (scripts/pack.ts) and hands the tarballs' paths to the tests (`inject('packs')`).
 */
import type { TestProject } from 'vitest/node';
import { packAll } from '../../../scripts/pack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    packs: Readonly<Record<string, string>>;
  }
}

export default function setup(project: TestProject): void {
  const started = Date.now();
  const packs = packAll();
  process.stdout.write(
    `[consumers] built and packed ${Object.keys(packs).length} packages in ${Date.now() - started} ms\n`,
  );
  project.provide('packs', packs);
}
