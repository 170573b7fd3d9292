// `node imports.mjs`: imports every subpath export of every installed @petfl package on bare Node
// (no loader, no bundler, no export condition beyond Node's own) and prints one JSON line:
// [{ specifier, ok, resolved + exports | error }]. A subpath whose optional peer is not installed
// (`@petfl/sdk/react` needs react) is listed with `skipped` instead.

import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const scope = join(process.cwd(), 'node_modules', '@petfl');
const require = createRequire(join(process.cwd(), 'package.json'));
const installed = (name) => {
  try {
    require.resolve(`${name}/package.json`);
    return true;
  } catch {
    return false;
  }
};
// A subpath that needs an optional peer dependency to import at all.
const PEERS = { '@petfl/sdk/react': 'react' };

const results = [];
for (const dir of readdirSync(scope).sort()) {
  const pkg = JSON.parse(readFileSync(join(scope, dir, 'package.json'), 'utf8'));
  for (const subpath of Object.keys(pkg.exports ?? { '.': null })) {
    if (subpath === './package.json') continue;
    const specifier = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
    const peer = PEERS[specifier];
    if (peer !== undefined && !installed(peer)) {
      results.push({ specifier, ok: false, skipped: `needs the optional peer ${peer}` });
      continue;
    }
    try {
      const resolved = import.meta.resolve(specifier);
      const module = await import(specifier);
      results.push({ specifier, ok: true, resolved, exports: Object.keys(module).sort() });
    } catch (error) {
      results.push({ specifier, ok: false, error: { code: error?.code, message: String(error?.message ?? error) } });
    }
  }
}
process.stdout.write(`${JSON.stringify(results)}\n`);
