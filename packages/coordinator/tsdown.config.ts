import { defineConfig } from 'tsdown';
import { packageConfig } from '../../tsdown.shared.ts';

// One entry per subpath export, plus the CLI (`bin`), which runs on plain Node, and the ingest
// worker thread's entry, which the pool starts by its URL next to the module (node/ingest-pool.ts).
export default defineConfig(
  packageConfig({
    entry: {
      index: 'src/index.ts',
      node: 'src/node/index.ts',
      redis: 'src/redis/index.ts',
      prometheus: 'src/prometheus/index.ts',
      cli: 'src/node/cli.ts',
      'ingest-worker': 'src/node/ingest-worker.ts',
    },
    platform: 'node',
    tsconfig: 'tsconfig.build.json',
  }),
);
