/**
 * Root Vitest configuration: one project per package (docs/architecture.md §7.7).
 * `npm test` runs them all; the demo app keeps its own Vite config.
 */
import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/**
 * The repository's own packages resolve to their sources through the `@petfl/source` export
 * condition (docs/architecture.md, "Packages and builds"): tests need no build.
 */
const sourceConditions = {
  resolve: { conditions: ['@petfl/source', ...defaultClientConditions] },
  ssr: { resolve: { conditions: ['@petfl/source', ...defaultServerConditions] } },
};

// CI asks for a JSON report through the environment, so `npm test` stays one plain command.
const jsonReport = process.env['VITEST_JSON_REPORT'];

export default defineConfig({
  test: {
    ...(jsonReport === undefined ? {} : { reporters: ['default', 'json'], outputFile: { json: jsonReport } }),
    projects: [
      {
        ...sourceConditions,
        test: {
          name: 'core',
          root: 'packages/core',
          include: ['src/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        ...sourceConditions,
        test: {
          name: 'coordinator',
          root: 'packages/coordinator',
          include: ['src/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        ...sourceConditions,
        test: {
          name: 'sdk',
          root: 'packages/sdk',
          include: ['src/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        ...sourceConditions,
        test: {
          name: 'tfjs',
          root: 'packages/tfjs',
          include: ['src/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
        },
      },
      {
        ...sourceConditions,
        // The demo app's own logic (apps/web): evaluation, the tab's run contribution, its trainer.
        test: {
          name: 'web',
          root: 'apps/web',
          include: ['src/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        // Real Chromium (Debian's package) through playwright-core: the SDK's built bundle in pages.
        test: {
          name: 'browser',
          root: 'packages/sdk',
          include: ['browser-test/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          // After every other project, alone: the long-task test measures the main thread of a
          // page, which other projects' CPU work on a 2-core machine would otherwise lengthen.
          sequence: { groupOrder: 1 },
        },
      },
      {
        // Outside apps (Vite, Next.js, Node, React Native/Metro/Hermes) installing the packed
        // packages into fresh directories (e2e/consumers/README.md). Last, alone: they build.
        ...sourceConditions,
        test: {
          name: 'consumers',
          root: 'e2e/consumers',
          include: ['*.test.ts'],
          environment: 'node',
          globalSetup: ['support/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
