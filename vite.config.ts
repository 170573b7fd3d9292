/**
 * Root Vitest configuration: one project per package (DESIGN §5).
 * `npm test` runs them all; the demo app keeps its own Vite config.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
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
        },
      },
    ],
  },
});
