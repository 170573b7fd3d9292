/**
 * What `npm publish` would ship, checked as a registry would see it: each packed tarball passes
 * publint and Are The Types Wrong (ESM-only profile: these packages are ESM; CommonJS
 * consumers use `import()`), ships only built product code, and declares what it needs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { describe, expect, inject, it } from 'vitest';
import { outsideEnv } from '../../scripts/pack.ts';

const packs = inject('packs');

function tarballFiles(tarball: string): string[] {
  return execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.replace(/^package\//, ''));
}

function unpack(tarball: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'petfl-pack-'));
  execFileSync('tar', ['xzf', tarball, '-C', dir]);
  return join(dir, 'package');
}

describe.each(Object.entries(packs))('%s', (_name, tarball) => {
  it('ships only dist/, its READMEs and package.json: no sources, tests or test harnesses', () => {
    const files = tarballFiles(tarball);
    expect(files).toContain('package.json');
    expect(files).toContain('README.md');
    const unexpected = files.filter((f) => !(f.startsWith('dist/') || /^[A-Z-]+\.md$/.test(f) || f === 'package.json'));
    expect(unexpected).toEqual([]);
    expect(files.filter((f) => /\.test\.|test-support|conformance|harness|hermes-test|browser-test/.test(f))).toEqual(
      [],
    );
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('passes publint with no errors or warnings', async () => {
    const pkgDir = unpack(tarball);
    try {
      const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as Record<string, unknown>;
      const { messages } = await publint({ pkgDir, level: 'warning', strict: true });
      expect(messages.map((m) => formatMessage(m, pkg) ?? m.code)).toEqual([]);
    } finally {
      rmSync(join(pkgDir, '..'), { recursive: true, force: true });
    }
  });

  it('passes Are The Types Wrong (ESM-only profile) with no problems', () => {
    const bin = fileURLToPath(new URL('../../node_modules/.bin/attw', import.meta.url));
    let out: string;
    try {
      out = execFileSync(bin, [tarball, '--profile', 'esm-only', '--format', 'json'], {
        encoding: 'utf8',
        env: outsideEnv(),
      });
    } catch (error) {
      out = (error as { stdout?: string }).stdout ?? '';
    }
    const report = JSON.parse(out) as { problems: Record<string, { entrypoint: string; resolutionKind?: string }[]> };
    // The profile only hides these from the table; the report still lists them.
    const problems = Object.entries(report.problems)
      .flatMap(([kind, list]) => list.map((p) => ({ kind, ...p })))
      .filter((p) => p.resolutionKind !== 'node10' && p.resolutionKind !== 'node16-cjs');
    expect(problems).toEqual([]);
  });
});

it('@petfl/tfjs takes TensorFlow.js as peers, so an app has one copy', () => {
  const pkgDir = unpack(packs['@petfl/tfjs'] ?? '');
  try {
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>;
    };
    expect(Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@tensorflow/'))).toEqual([]);
    expect(Object.keys(pkg.peerDependencies ?? {})).toEqual(
      expect.arrayContaining(['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu']),
    );
  } finally {
    rmSync(join(pkgDir, '..'), { recursive: true, force: true });
  }
});
