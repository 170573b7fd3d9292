/**
 * The demo app: three pages (index, participant, dashboard) and `mnist.bin`,
 * the MNIST digits packed from the `mnist` package (src/mnist.ts) — served by
 * the dev server and emitted into the build.
 *
 * The SDK's Worker (`new Worker(new URL('./worker-entry.ts', import.meta.url))`
 * in @petfl/sdk/worker) is bundled by Vite as an ES module worker.
 */

import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig, type Plugin } from 'vite';
import { loadPackedMnist } from './src/mnist-files.ts';

const here = dirname(fileURLToPath(import.meta.url));

function mnistData(): Plugin {
  return {
    name: 'petfl-mnist-data',
    configureServer(server) {
      server.middlewares.use('/mnist.bin', (_req, res) => {
        const bytes = loadPackedMnist();
        res.setHeader('content-type', 'application/octet-stream');
        res.setHeader('content-length', String(bytes.byteLength));
        res.setHeader('cache-control', 'max-age=3600');
        res.end(bytes);
      });
    },
    configurePreviewServer(server) {
      server.middlewares.use('/mnist.bin', (_req, res) => {
        res.setHeader('content-type', 'application/octet-stream');
        res.end(loadPackedMnist());
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'mnist.bin', source: loadPackedMnist() });
    },
  };
}

export default defineConfig({
  root: here,
  plugins: [mnistData()],
  // The workspace packages from their sources (docs/architecture.md §8): the demo needs no build of them.
  resolve: { conditions: ['@petfl/source', ...defaultClientConditions] },
  server: { port: 5173, strictPort: true, host: '127.0.0.1' },
  preview: { port: 5173, strictPort: true, host: '127.0.0.1' },
  // Found up front, so the dev server never reloads a page to optimize a late-discovered dependency.
  optimizeDeps: {
    include: [
      '@tensorflow/tfjs',
      '@tensorflow/tfjs-backend-wasm',
      '@tensorflow/tfjs-backend-webgpu',
      'idb-keyval',
      'libsodium-wrappers-sumo',
    ],
  },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    rolldownOptions: {
      input: {
        index: resolve(here, 'index.html'),
        participant: resolve(here, 'participant.html'),
        dashboard: resolve(here, 'dashboard.html'),
      },
    },
  },
});
