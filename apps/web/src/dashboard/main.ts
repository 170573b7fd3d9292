/**
 * The coordinator dashboard: polls `GET /admin/status` and
 * `GET /admin/rounds` (bearer token) every second and shows the round in
 * progress (phase, deadline countdown, participants per phase), messages
 * accepted and rejected by reason, the history of rounds, and Pause/Resume.
 * The accuracy curve is computed here: each new `GET /model` is scored on the
 * same 1000 held-out MNIST digits the participant pages use (the coordinator
 * itself never evaluates models), so it starts with the first model this
 * page sees.
 *
 * When the coordinator runs a training run (`GET /admin/run` answers 200, docs/learning.md) the
 * "Training run" panel shows it (run-panel.ts): strategy, run round and status, early
 * stopping, the participants' secure evaluation per global model — kept apart from the
 * accuracy curve above, which this page computes — a Restore control, and the run's
 * differential privacy (privacy-panel.ts: mechanism, σ, ε spent against the budget, ρ).
 *
 * The admin token is typed into a password field, kept in sessionStorage (this
 * tab only, gone when it closes) and sent as an Authorization header — never
 * read from or put in a URL, where it would end up in history, logs and
 * Referer headers. A `?token=` left in an old link is ignored and removed
 * from the address bar.
 */

import { decodeGlobalModel } from '@petfl/core';
import { drawAccuracyChart, type Point } from '../chart.ts';
import { LAYERS, MODEL_LENGTH } from '../demo.ts';
import { accuracy } from '../evaluate.ts';
import { decodeMnist, type MnistData, splitTestPool } from '../mnist.ts';
import { dashboardParams } from '../params.ts';
import { type RunReport, renderRunPanel } from './run-panel.ts';
import '../style.css';

/** The parts of `GET /admin/status` shown here (coordinator's CoordinatorStatus). */
interface Status {
  readonly roundId: number | null;
  readonly phase: string;
  readonly paused: boolean;
  readonly deadlines: { readonly minAt: number; readonly maxAt: number } | null;
  readonly counts: { readonly sum: number; readonly update: number; readonly sum2: number };
  readonly messages: {
    readonly accepted: Readonly<Record<string, number>>;
    readonly rejected: Readonly<Record<string, number>>;
  };
  readonly latestModelRoundId: number | null;
  readonly settings: { readonly modelLength: number; readonly mask: Readonly<Record<string, string>> };
}

/** One entry of `GET /admin/rounds` (coordinator's RoundSummary). */
interface Round {
  readonly roundId: number;
  readonly outcome: 'completed' | 'failed';
  readonly failureReason?: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly phaseDurationsMs: Readonly<Record<string, number>>;
  readonly participants: { readonly sum: number; readonly update: number; readonly sum2: number };
}

const params = dashboardParams(location.search);
// SECURITY: the admin token lives in this tab's sessionStorage only, keyed by coordinator.
const TOKEN_KEY = `petfl/dashboard/admin-token/${params.coordinator}`;

function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

class Unauthorized extends Error {}

function byTestId<T extends Element = HTMLElement>(id: string): T {
  const node = document.querySelector(`[data-testid="${id}"]`);
  if (node === null) throw new Error(`dashboard.html: no element with data-testid="${id}"`);
  return node as unknown as T;
}

function setText(id: string, text: string): void {
  const node = byTestId(id);
  if (node.textContent !== text) node.textContent = text;
}

/** An admin route's JSON answer; `json` is sent as the body. `absent`: what a 404 stands for, instead of an error. */
async function admin<T>(
  path: string,
  { method = 'GET', json, absent }: { method?: string; json?: unknown; absent?: T } = {},
): Promise<T> {
  const token = storedToken();
  if (token === null) throw new Unauthorized('enter the admin token');
  const res = await fetch(`${params.coordinator}/admin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  if (res.status === 401) throw new Unauthorized('the coordinator refused the admin token (api.admin_token)');
  if (res.status === 429) throw new Error(`too many failed tokens: retry in ${res.headers.get('retry-after') ?? 60} s`);
  if (res.status === 404 && absent !== undefined) return absent;
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

let status: Status | undefined;

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}

function renderDeadline(): void {
  const d = status?.deadlines ?? null;
  if (d === null) {
    setText('dash-deadline', status?.paused ? 'paused: no round in progress' : '');
    return;
  }
  const now = Date.now();
  const min = d.minAt > now ? `may end in ${seconds(d.minAt - now)}, ` : '';
  setText('dash-deadline', `${min}fails in ${seconds(d.maxAt - now)} without enough messages`);
}

function renderStatus(s: Status): void {
  status = s;
  setText('dash-round', s.roundId === null ? '–' : String(s.roundId));
  setText('dash-phase', s.phase);
  setText('dash-paused', s.paused ? '(paused: no new round will start)' : '');
  setText('dash-count-sum', String(s.counts.sum));
  setText('dash-count-update', String(s.counts.update));
  setText('dash-count-sum2', String(s.counts.sum2));
  setText('dash-model-round', s.latestModelRoundId === null ? 'none yet' : `from round ${s.latestModelRoundId}`);
  setText('dash-settings', `${s.settings.modelLength} weights, mask ${Object.values(s.settings.mask).join('/')}`);
  const accepted = Object.entries(s.messages.accepted);
  setText('dash-accepted', accepted.length === 0 ? 'none' : accepted.map(([k, n]) => `${k} ${n}`).join(' · '));
  const rejected = Object.entries(s.messages.rejected).sort((a, b) => b[1] - a[1]);
  const list = byTestId('dash-rejected');
  list.replaceChildren(
    ...rejected.map(([code, n]) => {
      const li = document.createElement('li');
      li.dataset['code'] = code;
      li.textContent = `${code}: ${n}`;
      return li;
    }),
  );
  if (rejected.length === 0) list.textContent = 'none';
  byTestId<HTMLButtonElement>('pause-button').disabled = s.paused;
  byTestId<HTMLButtonElement>('resume-button').disabled = !s.paused;
  renderDeadline();
}

function renderRounds(rounds: readonly Round[]): void {
  const rows = [...rounds]
    .sort((a, b) => b.roundId - a.roundId)
    .map((r) => {
      const tr = document.createElement('tr');
      tr.dataset['testid'] = 'round-row';
      tr.dataset['outcome'] = r.outcome;
      tr.dataset['roundId'] = String(r.roundId);
      const phases = Object.entries(r.phaseDurationsMs)
        .map(([phase, ms]) => `${phase} ${Math.round(ms)}`)
        .join(' · ');
      const cells = [
        String(r.roundId),
        r.outcome,
        seconds(r.endedAt - r.startedAt),
        `${r.participants.sum} · ${r.participants.update} · ${r.participants.sum2}`,
        phases,
        r.failureReason ?? '',
      ];
      cells.forEach((text, i) => {
        const td = document.createElement('td');
        td.textContent = text;
        if (i === 1) td.className = 'outcome';
        tr.append(td);
      });
      return tr;
    });
  byTestId('dash-rounds').replaceChildren(...rows);
}

// ---- accuracy, computed here from GET /model ----

let testSet: Promise<{ data: MnistData; test: number[] }> | undefined;
const points: Point[] = [];
let scoredRound: number | null = null;

function loadTestSet(): Promise<{ data: MnistData; test: number[] }> {
  testSet ??= fetch(`${import.meta.env.BASE_URL}mnist.bin`)
    .then((res) => res.arrayBuffer())
    .then((buffer) => {
      const data = decodeMnist(new Uint8Array(buffer));
      return { data, test: splitTestPool(data).test };
    });
  return testSet;
}

async function scoreLatestModel(latest: number | null): Promise<void> {
  if (latest === null || latest === scoredRound) return;
  const res = await fetch(`${params.coordinator}/model`);
  if (res.status !== 200) return;
  const global = decodeGlobalModel(new Uint8Array(await res.arrayBuffer()));
  scoredRound = global.roundId;
  if (global.model.length !== MODEL_LENGTH) {
    setText('dash-accuracy-latest', 'not the demo model');
    return;
  }
  const { data, test } = await loadTestSet();
  if (!points.some((p) => p.roundId === global.roundId)) {
    points.push({ roundId: global.roundId, accuracy: accuracy(global.model, LAYERS, data, test) });
    points.sort((a, b) => a.roundId - b.roundId);
  }
  drawAccuracyChart(byTestId<SVGSVGElement>('dash-accuracy-chart'), points);
  const last = points[points.length - 1];
  setText('dash-accuracy-latest', last === undefined ? '' : `${last.accuracy.toFixed(4)} after round ${last.roundId}`);
}

// ---- the admin token ----

/** Shows the token form (with why) or the dashboard. */
function showTokenForm(reason: string | undefined): void {
  const form = byTestId<HTMLFormElement>('token-form');
  form.hidden = reason === undefined;
  byTestId('dash-main').hidden = reason !== undefined;
  byTestId('token-forget').hidden = reason !== undefined;
  if (reason !== undefined) byTestId<HTMLInputElement>('token-input').focus();
  setText('dash-error', reason ?? '');
}

function forgetToken(reason: string): void {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenForm(reason);
}

// ---- the loop ----

async function poll(): Promise<void> {
  if (storedToken() === null) return;
  try {
    const [s, { rounds }, run] = await Promise.all([
      admin<Status>('/status'),
      admin<{ rounds: Round[] }>('/rounds?limit=100'),
      // 404: the coordinator runs no training run (run.enabled is false), and the panel stays hidden.
      admin<RunReport | null>('/run', { absent: null }),
    ]);
    renderStatus(s);
    renderRounds(rounds);
    renderRunPanel({ byTestId, setText }, run);
    if (run !== null) {
      // In a run the masked vector is longer than the model (docs/learning.md §2).
      const { modelLength } = run.layout;
      const extra = s.settings.modelLength - modelLength;
      setText(
        'dash-settings',
        `${modelLength} weights + ${extra} run entries masked, mask ${Object.values(s.settings.mask).join('/')}`,
      );
    }
    setText('dash-error', '');
    await scoreLatestModel(s.latestModelRoundId);
  } catch (error) {
    if (error instanceof Unauthorized) forgetToken(error.message);
    else setText('dash-error', error instanceof Error ? error.message : String(error));
  }
}

async function operate(action: 'pause' | 'resume'): Promise<void> {
  try {
    renderStatus(await admin<Status>(`/${action}`, { method: 'POST' }));
  } catch (error) {
    if (error instanceof Unauthorized) forgetToken(error.message);
    else setText('dash-error', error instanceof Error ? error.message : String(error));
  }
}

/** Asks the coordinator to restore the run to the checkpoint of `round`: the next unmasked round carries it out. */
async function restore(round: number): Promise<void> {
  try {
    renderRunPanel({ byTestId, setText }, await admin<RunReport>('/run/restore', { method: 'POST', json: { round } }));
    setText('dash-error', '');
  } catch (error) {
    if (error instanceof Unauthorized) forgetToken(error.message);
    else setText('dash-error', error instanceof Error ? error.message : String(error));
  }
}

// An old link may still carry ?token=: never used, and taken out of the address bar and history.
if (new URLSearchParams(location.search).has('token')) {
  const url = new URL(location.href);
  url.searchParams.delete('token');
  history.replaceState(null, '', url);
}
byTestId<HTMLFormElement>('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = byTestId<HTMLInputElement>('token-input');
  const token = input.value.trim();
  input.value = '';
  if (token === '') return;
  sessionStorage.setItem(TOKEN_KEY, token);
  showTokenForm(undefined);
  void poll();
});
byTestId('token-forget').addEventListener('click', () => forgetToken('token forgotten: enter it again'));
showTokenForm(storedToken() === null ? 'enter the admin token' : undefined);

setText('dash-coordinator', params.coordinator);
drawAccuracyChart(byTestId<SVGSVGElement>('dash-accuracy-chart'), points);
byTestId('pause-button').addEventListener('click', () => void operate('pause'));
byTestId('resume-button').addEventListener('click', () => void operate('resume'));
const restoreRound = byTestId<HTMLSelectElement>('run-restore-round');
restoreRound.addEventListener('change', () => {
  restoreRound.dataset['chosen'] = restoreRound.value; // kept when the list of rounds grows
});
byTestId<HTMLFormElement>('run-restore-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (restoreRound.value !== '') void restore(Number(restoreRound.value));
});
setInterval(renderDeadline, 200);
const loop = async (): Promise<void> => {
  await poll();
  setTimeout(() => void loop(), 1000);
};
void loop();
