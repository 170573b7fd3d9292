/**
 * Builds the four published packages and packs them with `npm pack`, as `npm publish` would:
 * `npm run pack -- [--out DIR]` (default `node_modules/.cache/petfl-packs`). Writes
 * `packs.json` next to the tarballs (package name → tarball path) and prints it. The
 * consumer fixtures (e2e/consumers) and `npm run release:dry` install these tarballs into
 * fresh directories, never through the workspace.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const PUBLISHED = ['core', 'coordinator', 'sdk', 'tfjs'] as const;
export const DEFAULT_PACK_DIR = join(ROOT, 'node_modules', '.cache', 'petfl-packs');

/** Package name → absolute path of its tarball. */
export type Packs = Readonly<Record<string, string>>;

/** An environment for npm and Node in an outside directory: no `@petfl/source` condition, no npm_ or PETFL_ variables. */
export function outsideEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NODE_OPTIONS'];
  // npm's own variables, and the repository's PETFL_* switches (e.g. PETFL_WRITE_BUNDLE), which
  // the coordinator CLI would read as settings: an outside app has neither.
  for (const key of Object.keys(env)) if (key.startsWith('npm_') || key.startsWith('PETFL_')) delete env[key];
  return { ...env, ...extra };
}

export function packAll(outDir: string = DEFAULT_PACK_DIR, { build = true } = {}): Packs {
  if (build) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const packs: Record<string, string> = {};
  for (const dir of PUBLISHED) {
    const cwd = join(ROOT, 'packages', dir);
    const name = (JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as { name: string }).name;
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', outDir], {
      cwd,
      encoding: 'utf8',
      env: outsideEnv(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [info] = JSON.parse(out) as [{ filename: string }];
    packs[name] = join(outDir, info.filename);
  }
  writeFileSync(join(outDir, 'packs.json'), `${JSON.stringify(packs, null, 2)}\n`);
  return packs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, 'no-build': { type: 'boolean' } } });
  const packs = packAll(values.out === undefined ? DEFAULT_PACK_DIR : resolve(values.out), {
    build: values['no-build'] !== true,
  });
  process.stdout.write(`${JSON.stringify(packs, null, 2)}\n`);
}
