/**
 * The e2e benchmark (issue 5 §3): 6 participant tabs of the demo app in Debian's
 * Chromium, run twice on the same machine in one go —
 *   (a) secure: petfl's coordinator and the SDK in Worker mode (the demo's mask config);
 *   (b) plain: the same pages, data, model and training, with secure aggregation replaced
 *       by plain federated averaging (BENCHMARK ONLY: support/plain-coordinator.ts and the
 *       page's `mode=plain`),
 * so the cost of privacy is a measured ratio of round latencies. Also: bytes each
 * participant uploads per round against the raw model, and the time from page load to
 * the first round joined. Results: bench/results/e2e.json.
 *
 * Phase policy, the same for both: every phase ends at the first moment its settings allow
 * — time.min 0, so as soon as count.min messages are in (sum 1, update 3, sum2 1; plain:
 * update 3). Both runs thus average 3 local models per round; the secure one pays for its
 * extra phases (a sum participant must announce itself before updates can be masked, and
 * unmasking waits for its sum2 mask), for masking and for the larger messages.
 *
 *   npm run bench:e2e [-- --rounds 8]
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Browser, chromium } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './support/chromium.ts';
import { type CoordinatorConfig, type PhaseConfig, startCoordinator } from './support/coordinator.ts';
import { startPlainCoordinator } from './support/plain-coordinator.ts';
import { type PageTimings, participantUrl, type RoundUpload, Tab } from './support/tab.ts';
import { REPO_ROOT, serveStatic, webBuild } from './support/web-app.ts';
import { webModelLength } from './support/web-model.ts';

const TABS = 6;
const log = (line: string) => process.stdout.write(`${line}\n`);

const UPDATE: PhaseConfig = { min: 3, max: 100, minMs: 0, maxMs: 20_000 };
const SECURE_PHASES: Pick<CoordinatorConfig, 'sumProbability' | 'sum' | 'update' | 'sum2'> = {
  sumProbability: 0.3,
  // A round nobody is sum-eligible for fails after 3 s (and is counted, not timed).
  sum: { min: 1, max: 100, minMs: 0, maxMs: 3_000 },
  update: UPDATE,
  sum2: { min: 1, max: 100, minMs: 0, maxMs: 20_000 },
};

interface RoundTiming {
  readonly roundId: number;
  readonly outcome: 'completed' | 'failed';
  readonly startedAt: number;
  readonly endedAt: number;
}

interface PageRecord {
  timings: PageTimings;
  uploads: RoundUpload[];
  backend: string;
}

function stats(values: readonly number[]) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    n: sorted.length,
    median: round(at(0.5)),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    min: round(sorted[0] as number),
    p90: round(at(0.9)),
    max: round(sorted[sorted.length - 1] as number),
  };
}

async function openTabs(browser: Browser, url: (shard: number) => string): Promise<Tab[]> {
  const tabs: Tab[] = [];
  for (let shard = 0; shard < TABS; shard += 2) {
    const shards = [shard, shard + 1].filter((s) => s < TABS);
    tabs.push(...(await Promise.all(shards.map((s) => Tab.open(browser, url(s), `tab-${s}`)))));
  }
  return tabs;
}

function pageRecord(tab: Tab): Promise<PageRecord> {
  return tab.page.evaluate(() => {
    const hook = window.__petfl;
    if (hook === undefined) throw new Error('the page has not joined');
    return { timings: { ...hook.timings }, uploads: hook.uploads.map((u) => ({ ...u })), backend: hook.backend };
  });
}

/** Until `rounds` rounds that started after every tab joined have completed. */
async function awaitRounds(
  history: () => Promise<readonly RoundTiming[]>,
  joinedAt: number,
  rounds: number,
  timeoutMs: number,
): Promise<RoundTiming[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counted = (await history()).filter((r) => r.startedAt >= joinedAt);
    const completed = counted.filter((r) => r.outcome === 'completed');
    if (completed.length >= rounds) {
      const last = completed[rounds - 1] as RoundTiming;
      return counted.filter((r) => r.roundId <= last.roundId);
    }
    if (Date.now() > deadline) throw new Error(`${completed.length}/${rounds} rounds completed in ${timeoutMs} ms`);
    // Pacing this progress poll only: the rounds' own timings come from the servers' records.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function runMode(
  mode: 'secure' | 'plain',
  browser: Browser,
  origin: string,
  modelLength: number,
  rounds: number,
) {
  const secure =
    mode === 'secure' ? await startCoordinator({ ...SECURE_PHASES, modelLength, store: 'memory' }) : undefined;
  const plain = mode === 'plain' ? await startPlainCoordinator(modelLength, UPDATE) : undefined;
  const url = (secure?.url ?? plain?.url) as string;
  const history = async (): Promise<readonly RoundTiming[]> =>
    secure !== undefined ? await secure.history() : (plain?.history() ?? []);
  const tabs = await openTabs(browser, (shard) =>
    participantUrl(origin, url, { shard, shards: TABS, mode: mode === 'plain' ? 'plain' : 'worker' }),
  );
  try {
    const joinedAt = Date.now();
    log(`${mode}: ${TABS} tabs joined; waiting for ${rounds} completed rounds`);
    const counted = await awaitRounds(history, joinedAt, rounds, 240_000);
    const records = await Promise.all(tabs.map(pageRecord));
    const countedIds = new Set(counted.map((r) => r.roundId));
    const completed = counted.filter((r) => r.outcome === 'completed');
    const uploads = records.flatMap((r) => r.uploads.filter((u) => countedIds.has(u.roundId)));
    // Which message a request was (records.ts): a sum task sends its sum message first, then sum2.
    const kindOf = (u: { task: string; seq: number }) => (u.task === 'sum' ? (u.seq === 0 ? 'sum' : 'sum2') : u.task);
    const byKind = (kind: string) => stats(uploads.filter((u) => kindOf(u) === kind).map((u) => u.bytes));
    const totalBytes = uploads.reduce((a, u) => a + u.bytes, 0);
    const problems = tabs.flatMap((t) => t.problems.map((p) => `${t.name}: ${p}`));
    const secureRounds = secure === undefined ? [] : (await secure.history()).filter((r) => countedIds.has(r.roundId));
    const phase = (name: 'sum' | 'update' | 'sum2' | 'unmask') =>
      stats(
        secureRounds
          .filter((r) => r.outcome === 'completed')
          .map((r) => r.phaseDurationsMs[name])
          .filter((x) => x !== undefined),
      );
    return {
      backends: [...new Set(records.map((r) => r.backend))],
      roundLatencyMs: stats(completed.map((r) => r.endedAt - r.startedAt)),
      roundsCompleted: completed.length,
      roundsFailed: counted.length - completed.length,
      failureReasons: [
        ...new Set([
          ...secureRounds.flatMap((r) => (r.failureReason === undefined ? [] : [r.failureReason])),
          ...(plain?.history() ?? []).flatMap((r) =>
            countedIds.has(r.roundId) && r.failureReason !== undefined ? [r.failureReason] : [],
          ),
        ]),
      ],
      ...(secure === undefined
        ? {}
        : {
            phaseDurationsMs: {
              sum: phase('sum'),
              update: phase('update'),
              sum2: phase('sum2'),
              unmask: phase('unmask'),
            },
            participantsPerRound: {
              sum: stats(secureRounds.filter((r) => r.outcome === 'completed').map((r) => r.participants.sum)),
              update: stats(secureRounds.filter((r) => r.outcome === 'completed').map((r) => r.participants.update)),
            },
          }),
      uploadBytes: {
        what: 'request body bytes the tabs sent over the counted rounds (apps/web/test-hooks/records.ts), per participant per completed round (bytes sent in failed rounds count too) and per message sent (accepted or refused: one sent after its phase closed counts too)',
        perParticipantPerCompletedRound: Math.round(totalBytes / (TABS * Math.max(1, completed.length))),
        perMessage: { sum: byKind('sum'), update: byKind('update'), sum2: byKind('sum2') },
      },
      pageLoadMs: {
        what: 'ms from navigation start, per tab (tabs open two at a time)',
        joined: stats(records.flatMap((r) => (r.timings.joinedMs === null ? [] : [r.timings.joinedMs]))),
        firstRound: stats(records.flatMap((r) => (r.timings.firstRoundMs === null ? [] : [r.timings.firstRoundMs]))),
        firstTask: stats(records.flatMap((r) => (r.timings.firstTaskMs === null ? [] : [r.timings.firstTaskMs]))),
        firstSent: stats(records.flatMap((r) => (r.timings.firstSentMs === null ? [] : [r.timings.firstSentMs]))),
      },
      problems,
    };
  } finally {
    await Promise.all(tabs.map((t) => t.close().catch(() => {})));
    await secure?.close();
    await plain?.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '8' } } });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`--rounds: expected an integer ≥ 1, got ${values.rounds}`);
  const modelLength = webModelLength();
  const server = await serveStatic(webBuild());
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
  const loadAtStart = loadavg()[0] as number;
  try {
    const secure = await runMode('secure', browser, server.origin, modelLength, rounds);
    const plain = await runMode('plain', browser, server.origin, modelLength, rounds);
    const rawModelBytes = modelLength * 4;
    const ratio = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? null : Math.round((a / b) * 100) / 100;
    const report = {
      date: new Date().toISOString(),
      machine: {
        node: process.version,
        chromium: browser.version(),
        cpu: cpus()[0]?.model,
        cores: cpus().length,
        loadAverage1m: { atStart: loadAtStart, atEnd: loadavg()[0] },
      },
      settings: {
        tabs: TABS,
        model: `dense 784-32-10, ${modelLength} weights, 1 local epoch per round`,
        mask: 'power2/f32/b4/m3 (the demo config)',
        secure: { sdk: 'Worker mode', ...SECURE_PHASES },
        plain: { what: 'BENCHMARK ONLY plain averaging (e2e/support/plain-coordinator.ts)', update: UPDATE },
        countedRounds: 'rounds that started after all 6 tabs had joined, up to the last of the completed ones timed',
      },
      rawModelBytes,
      secure,
      plain,
      costOfPrivacy: {
        roundLatencyMedianRatio: ratio(secure.roundLatencyMs?.median, plain.roundLatencyMs?.median),
        roundLatencyMeanRatio: ratio(secure.roundLatencyMs?.mean, plain.roundLatencyMs?.mean),
        updateMessageToRawModel: ratio(secure.uploadBytes.perMessage.update?.median, rawModelBytes),
        sum2MessageToRawModel: ratio(secure.uploadBytes.perMessage.sum2?.median, rawModelBytes),
        uploadPerParticipantPerRoundRatio: ratio(
          secure.uploadBytes.perParticipantPerCompletedRound,
          plain.uploadBytes.perParticipantPerCompletedRound,
        ),
      },
    };
    const dir = join(REPO_ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'e2e.json'), `${JSON.stringify(report, null, 2)}\n`);
    log(JSON.stringify(report.costOfPrivacy));
    log(
      `round latency median: secure ${secure.roundLatencyMs?.median} ms, plain ${plain.roundLatencyMs?.median} ms; ` +
        `update message ${secure.uploadBytes.perMessage.update?.median} B vs raw model ${rawModelBytes} B`,
    );
    log('wrote bench/results/e2e.json');
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
