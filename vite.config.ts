/**
 * Root Vitest configuration: one project per package (DESIGN §5).
 * `npm test` runs them all; the demo app keeps its own Vite config.
 */
import { defineConfig } from 'vitest/config';

// CI asks for a JSON report through the environment, so `npm test` stays one plain command.
const jsonReport = process.env['VITEST_JSON_REPORT'];

export default defineConfig({
  test: {
    ...(jsonReport === undefined ? {} : { reporters: ['default', 'json'], outputFile: { json: jsonReport } }),
    projects: [
      {
        test: {
          name: 'core',
          root: 'packages/core',
          include: ['src/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'coordinator',
          root: 'packages/coordinator',
          include: ['src/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'sdk',
          root: 'packages/sdk',
          include: ['src/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'tfjs',
          root: 'packages/tfjs',
          include: ['src/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
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
    ],
  },
});
