/**
 * What every package's tsdown build shares (docs/decisions/0009-packages.md): ESM `.js`
 * and bundled `.d.ts` per entry under `dist/`, declarations emitted by TypeScript 7's
 * native compiler (ADR 0001) through rolldown-plugin-dts's tsgo mode.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { UserConfig } from 'tsdown';

const require = createRequire(import.meta.url);
const typescriptDir = dirname(require.resolve('typescript/package.json'));
// typescript@7 exports no JS API; its own helper finds the native binary for this platform.
const { default: getExePath } = (await import(pathToFileURL(join(typescriptDir, 'lib', 'getExePath.js')).href)) as {
  default: () => string;
};

export function packageConfig(config: UserConfig): UserConfig {
  return {
    format: 'esm',
    outDir: 'dist',
    clean: true,
    fixedExtension: false,
    // Node's built-ins stay imports (the neutral platform does not know them).
    external: [/^node:/],
    dts: { tsgo: { path: getExePath() } },
    ...config,
  };
}
