/**
 * The dashboard's "Training run" panel, from `GET /admin/run` (docs/learning.md): the server
 * strategy and its hyper-parameters, the run's round and status, early stopping, a chart of the
 * federated loss and accuracy per global model, a Restore control (`POST /admin/run/restore`),
 * and the run's differential privacy (privacy-panel.ts). Hidden while the coordinator runs no
 * training run.
 *
 * The chart is the run's secure evaluation: each participant evaluates the global model it
 * starts from on its own held-out data and adds the result to the vector it masks, so the
 * coordinator learns only the example-weighted mean over the round's participants. It is not the
 * dashboard's own accuracy curve, which this page computes from `GET /model` on 1000 digits.
 */

import { drawChart, type Series } from '../chart.ts';
import { figure } from './figure.ts';
import type { PanelElements } from './panel-elements.ts';
import { type PrivacyReport, renderPrivacyPanel } from './privacy-panel.ts';

/** The parts of `GET /admin/run` shown here (the coordinator's RunReport); its privacy: privacy-panel.ts. */
export interface RunReport extends PrivacyReport {
  readonly layout: {
    readonly modelLength: number;
    readonly send: string;
    readonly metrics: readonly string[];
    readonly controlVariates: boolean;
  };
  readonly strategy: string;
  readonly round: number;
  readonly rounds: number;
  readonly status: 'running' | 'ended';
  readonly ended: { readonly reason: string; readonly message: string; readonly roundId: number } | null;
  readonly modelRoundId: number;
  readonly strategySettings: Readonly<Record<string, number | string>>;
  readonly evaluations: readonly {
    readonly modelRoundId: number;
    readonly roundId: number;
    readonly values: Readonly<Record<string, number>> | null;
  }[];
  readonly best: { readonly roundId: number; readonly metric: string; readonly value: number } | null;
  readonly earlyStopping: {
    readonly metric: string;
    readonly mode: 'min' | 'max';
    readonly patience: number;
    readonly stuck: number;
  } | null;
  readonly restorePending: number | null;
  readonly restoredFrom: number | null;
}

/** Each strategy's hyper-parameters (docs/learning.md §3), in the coordinator's RunReport names. */
const HYPER_PARAMETERS: Readonly<Record<string, readonly [key: string, label: string][]>> = {
  fedavg: [['serverLearningRate', 'η']],
  fedavgm: [
    ['serverLearningRate', 'η'],
    ['serverMomentum', 'β'],
  ],
  fedadagrad: [
    ['serverLearningRate', 'η'],
    ['beta1', 'β₁'],
    ['tau', 'τ'],
  ],
  fedadam: [
    ['serverLearningRate', 'η'],
    ['beta1', 'β₁'],
    ['beta2', 'β₂'],
    ['tau', 'τ'],
  ],
  fedyogi: [
    ['serverLearningRate', 'η'],
    ['beta1', 'β₁'],
    ['beta2', 'β₂'],
    ['tau', 'τ'],
  ],
};

/** "η = 0.1, β₁ = 0.9, …": the strategy's settings, the ones it uses. */
export function strategyText(report: Pick<RunReport, 'strategy' | 'strategySettings'>): string {
  const known = HYPER_PARAMETERS[report.strategy];
  const pairs =
    known ??
    Object.keys(report.strategySettings)
      .filter((k) => k !== 'name')
      .map((k) => [k, k] as const);
  return pairs
    .map(([key, label]) => {
      const value = report.strategySettings[key];
      return `${label} = ${typeof value === 'number' ? figure(value) : String(value)}`;
    })
    .join(', ');
}

/** The kept rounds a restore may name: every model the run published (the coordinator refuses a dropped one). */
export function restoreCandidates(report: RunReport): number[] {
  const rounds = new Set([...report.evaluations.map((e) => e.modelRoundId), report.modelRoundId]);
  return [...rounds].sort((a, b) => b - a);
}

export function earlyStoppingText(report: RunReport): string {
  const judge = report.earlyStopping;
  if (judge === null) return 'off (no metric judges the models)';
  const best =
    report.best === null
      ? 'no evaluation yet'
      : `best ${figure(report.best.value)}, the model of round ${report.best.roundId}`;
  const stuck =
    judge.patience === 0
      ? `${judge.stuck} evaluation${judge.stuck === 1 ? '' : 's'} without improvement (patience 0: never stops)`
      : `${judge.stuck} of ${judge.patience} evaluations without improvement`;
  return `${judge.metric} (${judge.mode === 'min' ? 'lower' : 'higher'} is better): ${best}; ${stuck}`;
}

function statusText(report: RunReport): string {
  if (report.status === 'running') return 'running';
  const ended = report.ended;
  return ended === null
    ? 'ended'
    : `ended after round ${ended.roundId} (${ended.reason}): ${ended.message}; the coordinator is paused`;
}

function restoreText(report: RunReport): string {
  if (report.restorePending !== null) {
    return `restore to round ${report.restorePending} pending: the next round that completes sets its updates aside and its model is round ${report.restorePending}'s`;
  }
  if (report.restoredFrom !== null) {
    return `round ${report.modelRoundId} restored the run to round ${report.restoredFrom}'s model and checkpoint`;
  }
  return '';
}

/** The chart's series: accuracy on the left axis (0..1), loss on the right (0..its maximum). */
export function evaluationSeries(report: RunReport): { series: Series[]; lossMax: number } {
  const points = (metric: string) =>
    report.evaluations.flatMap((e) => {
      const value = e.values?.[metric];
      return value === undefined || !Number.isFinite(value)
        ? []
        : [
            {
              x: e.modelRoundId,
              y: value,
              title: `${metric} ${figure(value)}: the model of round ${e.modelRoundId}, evaluated in round ${e.roundId}`,
            },
          ];
    });
  const accuracy = points('accuracy');
  const loss = points('loss');
  const series: Series[] = [];
  if (accuracy.length > 0) series.push({ name: 'accuracy', className: 'accuracy', axis: 'left', points: accuracy });
  if (loss.length > 0) series.push({ name: 'loss', className: 'loss', axis: 'right', points: loss });
  // The loss axis' top: 4 grid steps of a round size (the grid lines are the accuracy axis' quarters).
  const highest = Math.max(0, ...loss.map((p) => p.y));
  const step = [0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 5, 10].find((s) => 4 * s >= highest) ?? Math.ceil(highest / 4);
  return { series, lossMax: 4 * step };
}

/** The latest federated values, "loss 0.31 · accuracy 0.91 (model of round 7)". */
function latestText(report: RunReport): string {
  const latest = [...report.evaluations].reverse().find((e) => e.values !== null);
  if (latest === undefined || latest.values === null) return 'no evaluation yet';
  const values = Object.entries(latest.values)
    .map(([metric, value]) => `${metric} ${figure(value)}`)
    .join(' · ');
  return `${values} (the model of round ${latest.modelRoundId})`;
}

let chartKey = '';

/** Shows `report` in the panel, or hides it (null: no run). */
export function renderRunPanel(ui: PanelElements, report: RunReport | null): void {
  const panel = ui.byTestId('run-panel');
  panel.hidden = report === null;
  if (report === null) return;
  ui.setText('run-strategy', report.strategy);
  ui.setText('run-strategy-settings', strategyText(report));
  ui.setText(
    'run-layout',
    `participants send ${report.layout.send === 'update' ? 'updates (local − global model)' : 'models'}` +
      `${report.layout.controlVariates ? ' and SCAFFOLD control-variate deltas' : ''}; ` +
      `metrics ${report.layout.metrics.length === 0 ? 'none' : report.layout.metrics.join(', ')}`,
  );
  ui.setText('run-round', report.rounds === 0 ? `${report.round} (no limit)` : `${report.round} of ${report.rounds}`);
  ui.setText('run-status', statusText(report));
  ui.byTestId('run-status').dataset['status'] = report.status;
  ui.setText('run-model-round', report.modelRoundId === 0 ? 'the initial model' : `from round ${report.modelRoundId}`);
  ui.setText('run-early-stopping', earlyStoppingText(report));
  ui.setText('run-latest', latestText(report));
  ui.setText('run-restore-state', restoreText(report));
  renderPrivacyPanel(ui, report);

  const select = ui.byTestId<HTMLSelectElement>('run-restore-round');
  const candidates = restoreCandidates(report);
  const current = [...select.options].map((o) => o.value).join(',');
  if (current !== candidates.join(',')) {
    // The operator's choice (`data-chosen`, set when they pick one) stays; else the best round.
    const chosen = Number(select.dataset['chosen'] ?? Number.NaN);
    select.replaceChildren(
      ...candidates.map((round) => {
        const option = document.createElement('option');
        option.value = String(round);
        const notes = [
          round === report.modelRoundId ? 'latest' : '',
          round === report.best?.roundId ? 'best' : '',
          round === 0 ? 'initial' : '',
        ].filter((n) => n !== '');
        option.textContent = `round ${round}${notes.length === 0 ? '' : ` (${notes.join(', ')})`}`;
        return option;
      }),
    );
    if (candidates.includes(chosen)) select.value = String(chosen);
    else if (report.best !== null && candidates.includes(report.best.roundId))
      select.value = String(report.best.roundId);
  }

  const { series, lossMax } = evaluationSeries(report);
  const key = JSON.stringify(series.map((s) => s.points));
  if (key === chartKey) return;
  chartKey = key;
  drawChart(ui.byTestId<SVGSVGElement>('run-chart'), {
    series,
    left: { min: 0, max: 1, format: (v) => v.toFixed(2) },
    right: { min: 0, max: lossMax, format: (v) => v.toFixed(2) },
    empty: 'no evaluation yet: the participants of the first round evaluate the initial model',
  });
}
