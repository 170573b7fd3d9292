/**
 * An outside app, installed the way a user installs petfl: the fixture's template directory
 * (e2e/consumers/<name>/, its package.json pinning every outside dependency exactly) copied to
 * a fresh directory outside the repository, its `@petfl/*` dependencies pointed at the packed
 * tarballs (and overridden to them, so a package's own `@petfl/*` dependencies resolve to the
 * tarballs too, never the registry or the workspace), then `npm install`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { outsideEnv, type Packs } from '../../../scripts/pack.ts';

const CONSUMERS = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface Fixture {
  /** The installed app's directory (outside the repository). */
  readonly dir: string;
  /** Runs a command in the app's directory with an outside environment; returns its stdout. */
  run(command: string, args: readonly string[], options?: { env?: Record<string, string>; timeoutMs?: number }): string;
  /** Deletes the directory (kept when PETFL_KEEP_CONSUMERS=1, for debugging). */
  remove(): void;
}

export function installFixture(name: string, packs: Packs): Fixture {
  const dir = mkdtempSync(join(tmpdir(), `petfl-consumer-${name}-`));
  cpSync(join(CONSUMERS, name), dir, {
    recursive: true,
    filter: (source) => !/[/\\](node_modules|dist|\.next|build)$/.test(source),
  });
  const manifestPath = join(dir, 'package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
    overrides?: Record<string, string>;
  };
  const overrides: Record<string, string> = { ...manifest.overrides };
  for (const [pkg, tarball] of Object.entries(packs)) overrides[pkg] = `file:${tarball}`;
  for (const deps of [manifest.dependencies, manifest.devDependencies]) {
    if (deps === undefined) continue;
    for (const pkg of Object.keys(deps)) {
      const tarball = packs[pkg];
      if (tarball !== undefined) deps[pkg] = `file:${tarball}`;
      else if (pkg.startsWith('@petfl/')) throw new Error(`fixture ${name} depends on ${pkg}, which is not packed`);
    }
  }
  manifest.overrides = overrides;
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

  const run: Fixture['run'] = (command, args, options = {}) =>
    execFileSync(command, args, {
      cwd: dir,
      env: outsideEnv(options.env),
      encoding: 'utf8',
      timeout: options.timeoutMs ?? 300_000,
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  try {
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { timeoutMs: 600_000 });
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`npm install in fixture ${name} failed:\n${stderr ?? String(error)}`);
  }
  return {
    dir,
    run,
    remove() {
      if (process.env['PETFL_KEEP_CONSUMERS'] !== '1') rmSync(dir, { recursive: true, force: true });
    },
  };
}
