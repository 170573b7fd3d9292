/**
 * `npx tsx scripts/screenshots.ts [--app http://127.0.0.1:5173] [--coordinator http://127.0.0.1:8081]
 * [--token petfl-demo] [--rounds 5] [--out docs/screenshots]`: with the demo running (`npm start`),
 * opens three participant tabs (shards 0..2) and the dashboard in Chromium (Debian's
 * /usr/bin/chromium or PETFL_CHROMIUM, through playwright-core), waits until the tabs have seen
 * `--rounds` global models, prints what it measured (time to join, accuracy per round, round
 * durations) and saves `participant.png` and `dashboard.png`; with a training run
 * (`npm start -- --strategy fedadam`) also `dashboard-run.png`, the dashboard's run panel.
 */

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../e2e/support/chromium.ts';

const { values } = parseArgs({
  options: {
    app: { type: 'string', default: 'http://127.0.0.1:5173' },
    coordinator: { type: 'string', default: 'http://127.0.0.1:8081' },
    token: { type: 'string', default: 'petfl-demo' },
    rounds: { type: 'string', default: '5' },
    shards: { type: 'string', default: '8' },
    out: { type: 'string', default: 'docs/screenshots' },
    mode: { type: 'string', default: 'worker' },
    // Headless Chromium's WebGPU and WebGL run on SwiftShader (a CPU emulation): seconds per round for
    // this small dense model, where wasm takes a few hundred ms. Pass the full list to show them anyway.
    backends: { type: 'string', default: 'wasm,cpu' },
  },
});
const wanted = Number(values.rounds);
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 1 });
const coordinator = encodeURIComponent(values.coordinator);

interface HookView {
  roundId: number | null;
  phase: string;
  globalModels: { roundId: number; accuracy: number }[];
  submitted: { roundId: number; scalar: number }[];
  backend: string;
}

/** The page's `window.__petfl` (apps/web/test-hooks/hook.ts; dev server and e2e builds only), as far as read here. */
interface PageHook {
  snapshot(): { roundId: number | null; phase: string };
  globalModels: { roundId: number; accuracy: number }[];
  submitted: { roundId: number; scalar: number }[];
  backend: string;
}

async function view(page: Page): Promise<HookView | null> {
  return page.evaluate(() => {
    const hook = (globalThis as { __petfl?: PageHook }).__petfl;
    if (hook === undefined) return null;
    const s = hook.snapshot();
    return {
      roundId: s.roundId,
      phase: s.phase,
      globalModels: hook.globalModels.slice(),
      submitted: hook.submitted.map((m) => ({ roundId: m.roundId, scalar: m.scalar })),
      backend: hook.backend,
    };
  });
}

const started = Date.now();
const tabs: Page[] = [];
for (let shard = 0; shard < 3; shard++) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[tab ${shard}] ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`[tab ${shard}] ${m.text()}`);
  });
  const t0 = Date.now();
  await page.goto(
    `${values.app}/participant.html?coordinator=${coordinator}&shard=${shard}&shards=${values.shards}&mode=${values.mode}&backends=${values.backends}`,
  );
  void page
    .waitForSelector('[data-testid="ready"]', { timeout: 120_000 })
    .then(() => console.log(`tab ${shard}: joined ${Date.now() - t0} ms after navigation`));
  tabs.push(page);
}
const dashboard = await context.newPage();
// The admin token is typed into the page, never put in its URL.
await dashboard.goto(`${values.app}/dashboard.html?coordinator=${coordinator}`);
await dashboard.getByTestId('token-input').fill(values.token);
await dashboard.getByTestId('token-submit').click();

for (const page of tabs) await page.waitForSelector('[data-testid="ready"]', { timeout: 120_000 });
const joinedAt = Date.now();
const baseline = Math.max(0, ...((await view(tabs[0] as Page))?.globalModels.map((g) => g.roundId) ?? []));
for (;;) {
  const v = await view(tabs[0] as Page);
  const fresh = v?.globalModels.filter((g) => g.roundId > baseline).length ?? 0;
  if (fresh >= wanted) break;
  if (Date.now() - joinedAt > 300_000) throw new Error(`only ${fresh} new global models in 5 minutes`);
  await new Promise((r) => setTimeout(r, 500));
}
console.log(`${wanted} new global models ${((Date.now() - joinedAt) / 1000).toFixed(1)} s after all tabs joined`);
for (const [i, page] of tabs.entries()) {
  const v = await view(page);
  console.log(
    `tab ${i}: backend ${v?.backend}, submitted rounds ${v?.submitted.map((s) => s.roundId).join(',')}, accuracy ${v?.globalModels
      .map((g) => `r${g.roundId}=${g.accuracy.toFixed(4)}`)
      .join(' ')}`,
  );
}
const res = await fetch(`${values.coordinator}/admin/rounds?limit=100`, {
  headers: { authorization: `Bearer ${values.token}` },
});
const { rounds } = (await res.json()) as {
  rounds: { roundId: number; outcome: string; startedAt: number; endedAt: number; failureReason?: string }[];
};
for (const r of rounds.sort((a, b) => a.roundId - b.roundId)) {
  console.log(
    `round ${r.roundId}: ${r.outcome} in ${((r.endedAt - r.startedAt) / 1000).toFixed(1)} s${r.failureReason ? ` (${r.failureReason})` : ''}`,
  );
}

mkdirSync(values.out, { recursive: true });
const first = tabs[0] as Page;
await first.bringToFront();
await first.screenshot({ path: join(values.out, 'participant.png'), fullPage: true });
await dashboard.bringToFront();
await dashboard.waitForTimeout(1500);
await dashboard.screenshot({ path: join(values.out, 'dashboard.png'), fullPage: true });
const runPanel = dashboard.getByTestId('run-panel');
if (await runPanel.isVisible()) await runPanel.screenshot({ path: join(values.out, 'dashboard-run.png') });
console.log(`screenshots in ${values.out} (${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
await browser.close();
