/**
 * `npm run release:dry`: everything up to `npm publish`, without publishing. Shows the release
 * plan from the pending changesets (.changeset/), builds and packs every published package
 * (scripts/pack.ts), runs `npm publish --dry-run` on each tarball (what the registry would
 * receive), then the consumer fixtures against those packs (e2e/consumers: publint, Are The
 * Types Wrong, and the Vite, Next.js, Node and React Native apps). Exits non-zero on the first
 * failure. Releasing for real: `npx changeset version`, commit, `npm run build`, then
 * `npx changeset publish` with registry credentials (not done from this repository's CI).
 */
import { execFileSync } from 'node:child_process';
import { outsideEnv, packAll, ROOT } from './pack.ts';

function step(title: string, command: string, args: readonly string[], env?: NodeJS.ProcessEnv): void {
  process.stdout.write(`\n== ${title}\n`);
  execFileSync(command, args, { cwd: ROOT, stdio: 'inherit', env: env ?? process.env });
}

step('release plan (pending changesets)', 'npx', ['changeset', 'status', '--verbose']);
process.stdout.write('\n== build and pack\n');
const packs = packAll();
for (const [name, tarball] of Object.entries(packs)) {
  step(`npm publish --dry-run ${name}`, 'npm', ['publish', '--dry-run', '--access', 'public', tarball], outsideEnv());
}
step('consumer fixtures against the packs', 'npx', ['vitest', 'run', '--project', 'consumers'], {
  ...process.env,
  CI: 'true',
});
process.stdout.write('\nrelease:dry passed: nothing was published.\n');
