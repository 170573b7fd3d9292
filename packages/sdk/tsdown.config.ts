import { defineConfig, type UserConfig } from 'tsdown';
import { packageConfig } from '../../tsdown.shared.ts';

type Plugin = Extract<NonNullable<UserConfig['plugins']>, { name: string }>;

/**
 * The Worker script is its own file in dist/ (entry `worker-entry`), next to the chunk that
 * starts it; the source names it `./worker-entry.ts`, the build `./worker-entry.js`, in the
 * `new Worker(new URL(..., import.meta.url))` form that Vite, webpack 5 and Next.js bundle as a
 * module worker without configuration (docs/architecture.md, "Packages and builds").
 */
function workerEntryUrl(): Plugin {
  const source = "new URL('./worker-entry.ts', import.meta.url)";
  return {
    name: 'petfl-worker-entry-url',
    transform(code, id) {
      if (!id.endsWith('/src/worker/create-worker.ts')) return null;
      if (!code.includes(source)) this.error(`create-worker.ts no longer contains ${source}`);
      return { code: code.replace(source, "new URL('./worker-entry.js', import.meta.url)"), map: null };
    },
  };
}

export default defineConfig(
  packageConfig({
    entry: {
      index: 'src/index.ts',
      'react-native': 'src/react-native/index.ts',
      engine: 'src/engine.ts',
      idb: 'src/idb/index.ts',
      node: 'src/node/index.ts',
      react: 'src/react/index.ts',
      worker: 'src/worker/index.ts',
      'worker-entry': 'src/worker/worker-entry.ts',
    },
    platform: 'neutral',
    tsconfig: 'tsconfig.build.json',
    plugins: [workerEntryUrl()],
  }),
);
