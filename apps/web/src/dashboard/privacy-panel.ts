/**
 * The run's differential privacy, inside the dashboard's "Training run" panel, from
 * `GET /admin/run` (docs/privacy.md): the mechanism, the clip norm C, the noise multiplier σ,
 * δ, the ε spent so far against the budget (with a bar), ρ with dpsa4fl's ε²/2-zCDP figure √(2ρ),
 * and a chart of the ε spent after each round (`epsilonByRound`).
 *
 * Under distributed noise (skellam, distributed-discrete-gaussian) it also shows the round promise
 * that every round announces in its parameters and each participant checks before it sends
 * (@petfl/core `privacy/distributed/round-privacy.ts`): at least n noised participants, the noise
 * each adds per coordinate, and the integer unit γ = C/c its update is rounded to. Under
 * central-gaussian the coordinator adds the noise, which participants cannot check.
 *
 * A run without differential privacy says so in one line.
 */

import { effectiveClipNorm, type RoundPrivacy, type RoundPrivacyMechanism } from '@petfl/core';
import { drawChart, type Series } from '../chart.ts';
import { figure } from './figure.ts';
import type { PanelElements } from './panel-elements.ts';

/** `privacy` of `GET /admin/run` (the coordinator's `RunInfo['privacy']`). */
export interface RunPrivacy {
  readonly mechanism: RoundPrivacyMechanism;
  readonly clipNorm: number;
  /** σ, as set or as solved from the target ε (for distributed noise: the sum's, over Δ₂). */
  readonly noiseMultiplier: number;
  /** The promise every round announces in its parameters (`GET /params`), as participants check it. */
  readonly round: RoundPrivacy;
  readonly delta: number;
  /** ε spent so far at δ. */
  readonly epsilon: number;
  /** ρ of the zCDP the run has spent; null when the accountant does not give one. */
  readonly rho: number | null;
  /** 0: no budget. */
  readonly budgetEpsilon: number;
}

/** The parts of `GET /admin/run` this panel shows. */
export interface PrivacyReport {
  readonly privacy: RunPrivacy | null;
  /** ε spent in total after each round. */
  readonly epsilonByRound: readonly { readonly roundId: number; readonly epsilon: number }[];
}

/** One line of the panel: its dd's data-testid is `privacy-<key>`. */
export interface PrivacyRow {
  readonly key: string;
  readonly label: string;
  readonly text: string;
}

/** The panel's one line when the run has no differential privacy. */
export const NO_PRIVACY =
  'none: the run releases its models without noise ([run.privacy] mechanism = "none"), and spends no ε';

/** Who adds the noise, per mechanism (docs/privacy.md). */
const MECHANISMS: { readonly [M in RoundPrivacyMechanism]: string } = {
  'central-gaussian':
    'the coordinator adds discrete Gaussian noise to the unmasked average (it sees the average before the noise)',
  skellam:
    'every update participant adds Skellam noise before masking: nobody, the coordinator included, sees a less noisy sum',
  'distributed-discrete-gaussian':
    'every update participant adds discrete Gaussian noise before masking: nobody, the coordinator included, sees a less noisy sum',
};

/** The share of the budget spent (it may pass 1 only by the last round's rounding), or null without a budget. */
export function budgetShare(privacy: RunPrivacy): number | null {
  return privacy.budgetEpsilon > 0 ? privacy.epsilon / privacy.budgetEpsilon : null;
}

/** The run's privacy, one row per figure; ρ's row only when the accountant gives ρ. */
export function privacyRows(privacy: RunPrivacy, epsilonByRound: PrivacyReport['epsilonByRound']): PrivacyRow[] {
  const last = epsilonByRound.at(-1);
  const after = last === undefined ? ' (no round released yet)' : ` after round ${last.roundId}`;
  const share = budgetShare(privacy);
  const budget =
    share === null
      ? '; no budget (budget_epsilon = 0: privacy never ends the run)'
      : ` of the budget ${figure(privacy.budgetEpsilon)} (${Math.round(share * 100)} %)`;
  const sigma =
    privacy.round.mechanism === 'central-gaussian'
      ? `σ = ${figure(privacy.noiseMultiplier)}: noise of σ·C = ${figure(privacy.noiseMultiplier * privacy.clipNorm)} on the sum`
      : `σ = ${figure(privacy.noiseMultiplier)}: the participants' noise on the sum, over its sensitivity Δ₂`;
  const rows: PrivacyRow[] = [
    { key: 'mechanism', label: 'Mechanism', text: `${privacy.mechanism}: ${MECHANISMS[privacy.mechanism]}` },
    {
      key: 'clip-norm',
      label: 'Clip norm',
      text:
        privacy.round.clipBitWeight === undefined
          ? `C = ${figure(privacy.clipNorm)} (L2, every update is clipped to it)`
          : `C = ${figure(privacy.clipNorm)} this round, adaptive: each update's "norm ≤ C" bit (weight β = ` +
            `${figure(privacy.round.clipBitWeight)}) rides in the noised vector and moves C toward the target quantile`,
    },
    { key: 'noise-multiplier', label: 'Noise multiplier', text: sigma },
    { key: 'delta', label: 'δ', text: `δ = ${figure(privacy.delta)}` },
    { key: 'epsilon', label: 'ε spent', text: `ε = ${figure(privacy.epsilon)}${after}${budget}` },
  ];
  if (privacy.rho !== null) {
    rows.push({
      key: 'rho',
      label: 'ρ (zCDP)',
      text: `ρ = ${figure(privacy.rho)}; as dpsa4fl's ε²/2-zCDP, ε = √(2ρ) = ${figure(Math.sqrt(2 * privacy.rho))}`,
    });
  }
  return rows;
}

/** The round promise participants check (distributed noise only; empty under central-gaussian). */
export function promiseRows(round: RoundPrivacy): PrivacyRow[] {
  if (round.mechanism === 'central-gaussian') return [];
  const noise =
    round.mechanism === 'skellam'
      ? `μ = ${figure(round.noise)} units per coordinate, Skellam Sk(μ)`
      : `σ = ${figure(round.noise)} units per coordinate, discrete Gaussian N_ℤ(0, σ²)`;
  return [
    {
      key: 'participants',
      label: 'Participants',
      text: `n = ${round.participants}: the revealed sum carries the noise of at least ${round.participants} participants`,
    },
    { key: 'participant-noise', label: 'Noise per participant', text: noise },
    {
      key: 'unit',
      label: 'Unit',
      text:
        `γ = C/c = ${figure(effectiveClipNorm(round) / round.scale)} (c = ${figure(round.scale)} units per clip norm, ` +
        `d = ${round.dimension} coordinates, shift ${round.shift})`,
    },
  ];
}

/** The chart's series: ε after each round, and the budget's level when there is one; `top`: the axis' top. */
export function epsilonSeries(report: PrivacyReport): { series: Series[]; top: number } {
  const budget = report.privacy?.budgetEpsilon ?? 0;
  const spent = report.epsilonByRound.map(({ roundId, epsilon }) => ({
    x: roundId,
    y: epsilon,
    title: `ε ${figure(epsilon)} spent after round ${roundId}`,
  }));
  const series: Series[] = [];
  if (spent.length > 0) series.push({ name: 'ε spent', className: 'epsilon', axis: 'left', points: spent });
  if (spent.length > 0 && budget > 0) {
    const title = `budget ε ${figure(budget)}`;
    series.push({
      name: 'budget',
      className: 'budget',
      axis: 'left',
      points: spent.map((p) => ({ x: p.x, y: budget, title })),
    });
  }
  const highest = Math.max(0, ...spent.map((p) => p.y));
  // The budget is the chart's top while ε stays under it; without one, a little room above the last ε.
  const top = budget > 0 ? Math.max(budget, highest) : highest > 0 ? Number((highest * 1.25).toPrecision(2)) : 1;
  return { series, top };
}

function rowList(document: Document, rows: readonly PrivacyRow[]): Node[] {
  return rows.flatMap(({ key, label, text }) => {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.dataset['testid'] = `privacy-${key}`;
    dd.textContent = text;
    return [dt, dd];
  });
}

/** Shows the run's privacy in the panel (privacy null: the one line). */
export function renderPrivacyPanel(ui: PanelElements, report: PrivacyReport): void {
  const { privacy } = report;
  ui.byTestId('privacy-none').hidden = privacy !== null;
  ui.byTestId('privacy-details').hidden = privacy === null;
  ui.setText('privacy-mechanism-name', privacy === null ? '' : `: ${privacy.mechanism}`);
  if (privacy === null) {
    ui.setText('privacy-none', NO_PRIVACY);
    return;
  }

  // Rebuilt only when a figure changed: the dashboard polls every second.
  const rows = privacyRows(privacy, report.epsilonByRound);
  const promise = promiseRows(privacy.round);
  const list = ui.byTestId('privacy-rows');
  const key = JSON.stringify([rows, promise]);
  if (list.dataset['key'] !== key) {
    list.dataset['key'] = key;
    const document = list.ownerDocument;
    list.replaceChildren(...rowList(document, rows));
    const share = budgetShare(privacy);
    if (share !== null) {
      const meter = document.createElement('meter');
      meter.dataset['testid'] = 'privacy-budget-bar';
      // The share of the budget spent (min 0, max 1): green under half, amber past it, red in its last fifth.
      meter.value = Math.min(share, 1);
      meter.low = 0.5;
      meter.high = 0.8;
      meter.optimum = 0;
      meter.title = `ε ${figure(privacy.epsilon)} of ${figure(privacy.budgetEpsilon)}`;
      list.querySelector('[data-testid="privacy-epsilon"]')?.append(' ', meter);
    }
    ui.byTestId('privacy-promise').hidden = promise.length === 0;
    ui.byTestId('privacy-promise-rows').replaceChildren(...rowList(document, promise));
  }

  const { series, top } = epsilonSeries(report);
  const svg = ui.byTestId<SVGSVGElement>('privacy-chart');
  const chartKey = JSON.stringify([series.map((s) => s.points), top]);
  if (svg.dataset['key'] === chartKey) return;
  svg.dataset['key'] = chartKey;
  drawChart(svg, {
    series,
    left: { min: 0, max: top, format: figure },
    empty: 'no round released yet: each released round adds its ε',
  });
}
