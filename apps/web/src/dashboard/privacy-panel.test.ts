// @vitest-environment happy-dom
/**
 * The run panel's differential privacy, rendered under happy-dom into the elements of the real
 * dashboard.html, from `GET /admin/run` answers as the coordinator sends them (RunReport JSON).
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it } from 'vitest';
import type { PanelElements } from './panel-elements.ts';
import { NO_PRIVACY, type PrivacyReport, renderPrivacyPanel } from './privacy-panel.ts';
import type { RunReport } from './run-panel.ts';

// A path, not a URL: under happy-dom the global URL is the window's, which node:fs does not take.
const DASHBOARD = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../dashboard.html'), 'utf8');

/** The page's elements: dashboard.html's body, its script left out (never run here). */
function page(): PanelElements {
  const parsed = new DOMParser().parseFromString(DASHBOARD, 'text/html');
  for (const script of parsed.querySelectorAll('script')) script.remove();
  document.body.replaceChildren(...[...parsed.body.childNodes].map((node) => document.importNode(node, true)));
  const byTestId = <T extends Element = HTMLElement>(id: string): T => {
    const node = document.querySelector(`[data-testid="${id}"]`);
    if (node === null) throw new Error(`dashboard.html: no element with data-testid="${id}"`);
    return node as unknown as T;
  };
  return {
    byTestId,
    setText: (id, text) => {
      byTestId(id).textContent = text;
    },
  };
}

/** A `GET /admin/run` answer of a Skellam run after three rounds (dimension 7850, c = 4096, σ ≈ 4). */
const SKELLAM_JSON = `{
  "layout": { "modelLength": 7850, "send": "update", "metrics": [], "controlVariates": false, "maxExamples": 1000, "clipNorm": 1 },
  "strategy": "fedavg", "round": 3, "rounds": 10, "status": "running", "ended": null, "modelRoundId": 3,
  "nextRound": "train",
  "privacy": {
    "mechanism": "skellam", "clipNorm": 1, "noiseMultiplier": 4.000001,
    "round": { "mechanism": "skellam", "clipNorm": 1, "dimension": 7850, "scale": 4096, "shift": 20, "participants": 10, "noise": 13426655 },
    "delta": 1e-5, "epsilon": 2.0512, "rho": 0.09375, "budgetEpsilon": 8
  },
  "strategySettings": { "name": "fedavg", "serverLearningRate": 1 },
  "evaluations": [], "best": null, "earlyStopping": null, "restorePending": null, "restoredFrom": null,
  "epsilonByRound": [{ "roundId": 1, "epsilon": 1.1204 }, { "roundId": 2, "epsilon": 1.6318 }, { "roundId": 3, "epsilon": 2.0512 }]
}`;

function skellam(): RunReport {
  return JSON.parse(SKELLAM_JSON) as RunReport;
}

function withPrivacy(over: Partial<NonNullable<PrivacyReport['privacy']>>, report = skellam()): RunReport {
  const privacy = report.privacy;
  if (privacy === null) throw new Error('the fixture has privacy');
  return { ...report, privacy: { ...privacy, ...over } };
}

const text = (ui: PanelElements, id: string) => ui.byTestId(id).textContent ?? '';
const shown = (ui: PanelElements, id: string) => !ui.byTestId(id).hidden;

let ui: PanelElements;
beforeEach(() => {
  ui = page();
});

describe('renderPrivacyPanel', () => {
  it('shows a Skellam run: mechanism, C, σ, δ, ε of the budget with a bar, ρ and √(2ρ)', () => {
    renderPrivacyPanel(ui, skellam());
    expect(shown(ui, 'privacy-details')).toBe(true);
    expect(shown(ui, 'privacy-none')).toBe(false);
    expect(text(ui, 'privacy-mechanism-name')).toBe(': skellam');
    expect(text(ui, 'privacy-mechanism')).toMatch(
      /^skellam: every update participant adds Skellam noise before masking/,
    );
    expect(text(ui, 'privacy-clip-norm')).toContain('C = 1 ');
    expect(text(ui, 'privacy-noise-multiplier')).toContain('σ = 4:');
    expect(text(ui, 'privacy-delta')).toBe('δ = 0.00001');
    expect(text(ui, 'privacy-epsilon')).toContain('ε = 2.051 after round 3 of the budget 8 (26 %)');
    expect(text(ui, 'privacy-rho')).toBe("ρ = 0.09375; as dpsa4fl's ε²/2-zCDP, ε = √(2ρ) = 0.433");

    const bar = ui.byTestId<HTMLMeterElement>('privacy-budget-bar');
    expect(bar.tagName).toBe('METER');
    expect(ui.byTestId('privacy-epsilon').contains(bar)).toBe(true);
    expect(bar.value).toBeCloseTo(2.0512 / 8, 12);
    expect(bar.title).toBe('ε 2.051 of 8');
  });

  it('shows the round promise participants check: n, μ per participant, γ = C/c', () => {
    renderPrivacyPanel(ui, skellam());
    expect(shown(ui, 'privacy-promise')).toBe(true);
    expect(text(ui, 'privacy-participants')).toMatch(/^n = 10: .* at least 10 participants$/);
    expect(text(ui, 'privacy-participant-noise')).toBe('μ = 13426655 units per coordinate, Skellam Sk(μ)');
    expect(text(ui, 'privacy-unit')).toBe(
      'γ = C/c = 0.0002441 (c = 4096 units per clip norm, d = 7850 coordinates, shift 20)',
    );
  });

  it('charts ε after each round under the budget line', () => {
    renderPrivacyPanel(ui, skellam());
    const chart = ui.byTestId<SVGSVGElement>('privacy-chart');
    expect(chart.querySelectorAll('polyline.epsilon')).toHaveLength(1);
    expect(chart.querySelectorAll('polyline.budget')).toHaveLength(1);
    expect([...chart.querySelectorAll('circle.epsilon title')].map((t) => t.textContent)).toEqual([
      'ε 1.12 spent after round 1',
      'ε 1.632 spent after round 2',
      'ε 2.051 spent after round 3',
    ]);
    // The budget is the axis' top.
    expect([...chart.querySelectorAll('text.tick')].map((t) => t.textContent)).toContain('8');
  });

  it('shows the distributed discrete Gaussian’s σ per participant', () => {
    const report = skellam();
    renderPrivacyPanel(
      ui,
      withPrivacy(
        {
          mechanism: 'distributed-discrete-gaussian',
          round: {
            mechanism: 'distributed-discrete-gaussian',
            clipNorm: 2,
            dimension: 7850,
            scale: 1024,
            shift: 16,
            participants: 20,
            noise: 915.5,
          },
          clipNorm: 2,
        },
        report,
      ),
    );
    expect(text(ui, 'privacy-mechanism')).toMatch(/^distributed-discrete-gaussian: .*discrete Gaussian noise/);
    expect(text(ui, 'privacy-participants')).toMatch(/^n = 20: /);
    expect(text(ui, 'privacy-participant-noise')).toBe('σ = 915.5 units per coordinate, discrete Gaussian N_ℤ(0, σ²)');
    expect(text(ui, 'privacy-unit')).toMatch(/^γ = C\/c = 0\.001953 /);
  });

  it('central-gaussian: σ·C on the sum, no round promise; no ρ row when ρ is null; no bar without a budget', () => {
    renderPrivacyPanel(
      ui,
      withPrivacy({
        mechanism: 'central-gaussian',
        round: { mechanism: 'central-gaussian', clipNorm: 0.5, dimension: 7850, noiseMultiplier: 1.1 },
        clipNorm: 0.5,
        noiseMultiplier: 1.1,
        rho: null,
        budgetEpsilon: 0,
      }),
    );
    expect(text(ui, 'privacy-mechanism')).toMatch(/^central-gaussian: the coordinator adds/);
    expect(text(ui, 'privacy-noise-multiplier')).toBe('σ = 1.1: noise of σ·C = 0.55 on the sum');
    expect(text(ui, 'privacy-epsilon')).toContain('ε = 2.051 after round 3; no budget');
    expect(document.querySelector('[data-testid="privacy-budget-bar"]')).toBeNull();
    expect(document.querySelector('[data-testid="privacy-rho"]')).toBeNull();
    expect(shown(ui, 'privacy-promise')).toBe(false);
    expect(ui.byTestId('privacy-promise-rows').childElementCount).toBe(0);
    expect(ui.byTestId('privacy-chart').querySelectorAll('polyline.budget')).toHaveLength(0);
  });

  it('before the first released round: no round yet, an empty chart', () => {
    renderPrivacyPanel(ui, { ...withPrivacy({ epsilon: 0, rho: 0 }), epsilonByRound: [] });
    expect(text(ui, 'privacy-epsilon')).toContain('ε = 0 (no round released yet) of the budget 8 (0 %)');
    expect(text(ui, 'privacy-chart')).toContain('no round released yet');
  });

  it('without differential privacy says so in one line, and nothing else', () => {
    const report: RunReport = { ...skellam(), privacy: null, epsilonByRound: [] };
    renderPrivacyPanel(ui, report);
    expect(shown(ui, 'privacy-none')).toBe(true);
    expect(text(ui, 'privacy-none')).toBe(NO_PRIVACY);
    expect(NO_PRIVACY).not.toContain('\n');
    expect(shown(ui, 'privacy-details')).toBe(false);
    expect(text(ui, 'privacy-mechanism-name')).toBe('');
  });

  it('follows the run from one report to the next', () => {
    renderPrivacyPanel(ui, skellam());
    renderPrivacyPanel(ui, { ...skellam(), privacy: null, epsilonByRound: [] });
    renderPrivacyPanel(ui, withPrivacy({ epsilon: 7.9 }));
    expect(shown(ui, 'privacy-details')).toBe(true);
    expect(shown(ui, 'privacy-none')).toBe(false);
    expect(text(ui, 'privacy-epsilon')).toContain('of the budget 8 (99 %)');
    expect(ui.byTestId<HTMLMeterElement>('privacy-budget-bar').value).toBeCloseTo(7.9 / 8, 12);
  });
});
