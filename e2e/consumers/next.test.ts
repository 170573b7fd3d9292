/**
 * An outside Next.js app (e2e/consumers/next: create-next-app's TypeScript app-router project,
 * its default tsconfig, an empty next.config — no `transpilePackages`) with a client component
 * on `useParticipant` from `@petfl/sdk/react`, installed from the packed tarballs:
 * `next build` (Turbopack, with its type check) succeeds, the server renders the component
 * before a participant exists, and in Chromium the component shows the live snapshot of a
 * participant that joins a real coordinator's rounds with Node participants until a global
 * model with the page's update in it comes back to the page.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { describeWithChromium, launchChromium } from '../../packages/sdk/browser-test/support/chromium.ts';
import { startCoordinator, type TestCoordinator } from '../../packages/sdk/browser-test/support/coordinator.ts';
import { type Federation, startFederation } from '../../packages/sdk/browser-test/support/federation.ts';
import { waitUntil } from '../../packages/sdk/browser-test/support/wait.ts';
import { outsideEnv } from '../../scripts/pack.ts';
import { type Fixture, installFixture } from './support/fixture.ts';
import { freePort, waitForHttp } from './support/next-server.ts';

const TEMPLATE = fileURLToPath(new URL('next/', import.meta.url));
const LENGTH = 16;
/** Next.js must never phone home from a test. */
const NEXT_ENV = { NEXT_TELEMETRY_DISABLED: '1' };

describeWithChromium('consumer: Next.js (app router, default tsconfig)', () => {
  let fixture: Fixture | undefined;
  let buildOutput = '';
  let server: ChildProcess | undefined;
  let serverLog = '';
  let appUrl = '';
  let coordinator: TestCoordinator | undefined;
  let federation: Federation | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    fixture = installFixture('next', inject('packs'));
    buildOutput = fixture.run('npx', ['next', 'build'], { env: NEXT_ENV, timeoutMs: 480_000 });
    const port = await freePort();
    server = spawn(
      join(fixture.dir, 'node_modules', '.bin', 'next'),
      ['start', '-p', String(port), '-H', '127.0.0.1'],
      {
        cwd: fixture.dir,
        env: outsideEnv(NEXT_ENV),
        detached: true, // its own process group, so the whole of it is stopped at the end
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    server.stdout?.on('data', (chunk: Buffer) => {
      serverLog += chunk.toString();
    });
    server.stderr?.on('data', (chunk: Buffer) => {
      serverLog += chunk.toString();
    });
    appUrl = `http://127.0.0.1:${port}`;
    await waitForHttp(`${appUrl}/`, server, () => serverLog);
  });

  afterAll(async () => {
    await browser?.close();
    await federation?.stop();
    await coordinator?.close();
    if (server?.pid !== undefined && server.exitCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      process.kill(-server.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      try {
        process.kill(-server.pid, 'SIGKILL'); // anything of the group still there
      } catch {
        // the group is gone
      }
    }
    fixture?.remove();
  });

  it('builds with `next build` (type check included) from an empty next.config', () => {
    const dir = fixture?.dir ?? '';
    expect(readFileSync(join(dir, 'next.config.ts'), 'utf8')).not.toMatch(/transpilePackages/);
    // create-next-app's tsconfig, which `next build` found nothing to change in.
    expect(readFileSync(join(dir, 'tsconfig.json'), 'utf8')).toBe(
      readFileSync(join(TEMPLATE, 'tsconfig.json'), 'utf8'),
    );
    expect(buildOutput).toMatch(/Compiled successfully/);
    expect(buildOutput).toMatch(/Finished TypeScript/);
  });

  it('renders the component on the server before a participant exists', async () => {
    const html = await (await fetch(`${appUrl}/`)).text();
    expect(html).toMatch(/data-testid="status"[^>]*>starting</);
  });

  it('shows the live snapshot in Chromium until a global model with its update comes back', async () => {
    coordinator = await startCoordinator({
      modelLength: LENGTH,
      sumProbability: 0.25,
      // Every update that comes within 0.5 s of the phase start is in.
      update: { min: 3, max: 100, minMs: 500, maxMs: 10_000 },
    });
    federation = await startFederation(coordinator.url, { count: 5, modelLength: LENGTH, mode: 'auto' });
    browser = await launchChromium();
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      // A 4xx from the coordinator is the protocol refusing a late or ineligible message, not a fault.
      const refusal = /^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text());
      if (message.type() === 'error' && !refusal) problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    const query = new URLSearchParams({ coordinator: coordinator.url, length: String(LENGTH) });
    await page.goto(`${appUrl}/?${query}`);

    const text = (testId: string) =>
      page
        .getByTestId(testId)
        .textContent({ timeout: 1000 })
        .catch(() => null);
    const diagnose = async () =>
      `page: ${await page.locator('main').innerText()}\nproblems: ${problems.join('\n')}\ncoordinator: ${JSON.stringify(coordinator?.phase())}`;

    // The snapshot, as the component renders it: the participant joined a round of this coordinator.
    await waitUntil(
      'the page’s participant in a round',
      async () => /^\d+$/.test((await text('round')) ?? ''),
      60_000,
      diagnose,
    );
    expect(await text('status')).toBe('running');
    expect(await text('participant-pk')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Number(await text('round'))).toBeGreaterThanOrEqual(1);
    expect(['new-round', 'awaiting', 'sum', 'update', 'sum2', 'sending']).toContain(await text('phase'));

    // A round with the page's ones (the Node participants send zeros) ends in a global model above
    // zero, and the page receives it.
    const shown = await waitUntil(
      'a global model with the page’s update in it, shown on the page',
      async () => {
        const model = await text('global-model');
        const first = /first (\S+)$/.exec(model ?? '')?.[1];
        return first !== undefined && Number(first) > 0 ? Number(first) : undefined;
      },
      120_000,
      diagnose,
    );
    expect(shown).toBeLessThanOrEqual(1 / 3 + 1e-6); // averaged with at least two Node updates of zeros
    expect(Number(await text('global-models'))).toBeGreaterThanOrEqual(1);
    expect(await text('global-model')).toMatch(new RegExp(`^${LENGTH} weights, `));
    expect(Number(await text('bytes-sent'))).toBeGreaterThan(0);
    expect(['sum', 'update', 'none']).toContain(await text('task'));
    // A refusal (a message the coordinator turned away as late) is the protocol at work; a failed
    // callback, an internal error or a failed state store would be the app's integration failing.
    expect(await text('last-error')).not.toMatch(/^(callback-failed|internal|store-failed):/);
    expect(await text('status')).toBe('running');
    expect(coordinator.latestModelRound()).not.toBeNull();
    expect(problems).toEqual([]);
    await page.close();
  });
});
