/**
 * The plot of `npm run bench:convergence`: docs/images/convergence.svg, hand-written SVG (no
 * plotting library). Two panels side by side, non-IID and IID shards; in each, the held-out test
 * accuracy of every round's global model (secure aggregation on), one line per strategy, a dashed
 * line at the 90 % target, axes with ticks, and a legend naming each strategy with the rounds it
 * took to reach 90 % ("–" when it did not within the cap). The accuracy axis shows 60–95 %: the
 * first rounds, lower, leave the panel at its bottom edge (clipped, not flattened).
 */

export interface PlotRun {
  readonly label: string;
  /** Accuracy of the model after round k, k = 0 (the initial model) … */
  readonly accuracy: readonly number[];
  readonly roundsTo90: number | null;
}

export interface PlotPanel {
  readonly title: string;
  readonly runs: readonly PlotRun[];
}

/** One colour per strategy, in the order the bench runs them (colour-blind safe: Okabe–Ito). */
const COLOURS = ['#000000', '#E69F00', '#56B4E9', '#009E73', '#CC79A7', '#D55E00', '#0072B2', '#F0E442'];
/** The accuracy axis: where the strategies differ (the first rounds start lower and leave the panel). */
const Y_MIN = 0.6;
const Y_MAX = 0.95;
const Y_STEP = 0.05;
const TARGET = 0.9;

const WIDTH = 960;
const HEIGHT = 440;
const PANEL = { width: 400, height: 300, top: 60, left: [70, 550] as const };

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fixed = (x: number) => Number(x.toFixed(1)).toString();

/** A step of 1, 2, 5 × 10^k that gives at most `most` ticks over `span`. */
function tickStep(span: number, most: number): number {
  const raw = Math.max(1, span / most);
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

function panel(p: PlotPanel, left: number, rounds: number, id: string): string {
  const { width, height, top } = PANEL;
  const x = (k: number) => left + (k / Math.max(rounds, 1)) * width;
  const y = (a: number) => top + (1 - (a - Y_MIN) / (Y_MAX - Y_MIN)) * height;
  const out: string[] = [];
  out.push(`<clipPath id="${id}"><rect x="${left}" y="${top}" width="${width}" height="${height}"/></clipPath>`);
  out.push(
    `<text x="${left + width / 2}" y="${top - 22}" text-anchor="middle" font-weight="bold">${xml(p.title)}</text>`,
  );
  // Grid and y ticks.
  for (let i = 0; Y_MIN + i * Y_STEP <= Y_MAX + 1e-9; i++) {
    const a = Y_MIN + i * Y_STEP;
    const yy = fixed(y(a));
    out.push(`<line x1="${left}" y1="${yy}" x2="${left + width}" y2="${yy}" stroke="#e5e5e5"/>`);
    out.push(
      `<text x="${left - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle">${Math.round(a * 100)} %</text>`,
    );
  }
  const step = tickStep(rounds, 8);
  for (let k = 0; k <= rounds; k += step) {
    const xx = fixed(x(k));
    out.push(`<line x1="${xx}" y1="${top + height}" x2="${xx}" y2="${top + height + 5}" stroke="#333"/>`);
    out.push(`<text x="${xx}" y="${top + height + 20}" text-anchor="middle">${k}</text>`);
  }
  out.push(
    `<line x1="${left}" y1="${fixed(y(TARGET))}" x2="${left + width}" y2="${fixed(y(TARGET))}" stroke="#888" stroke-dasharray="6 4"/>`,
  );
  out.push(`<rect x="${left}" y="${top}" width="${width}" height="${height}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${left + width / 2}" y="${top + height + 42}" text-anchor="middle">round</text>`);
  out.push(
    `<text transform="translate(${left - 52} ${top + height / 2}) rotate(-90)" text-anchor="middle">held-out test accuracy</text>`,
  );
  p.runs.forEach((run, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    const points = run.accuracy.map((a, k) => `${fixed(x(k))},${fixed(y(a))}`).join(' ');
    out.push(
      `<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="1.8" stroke-linejoin="round" clip-path="url(#${id})"/>`,
    );
  });
  // Legend in the lower right corner, above the axis: a heading, then one row per strategy.
  if (p.runs.length === 0) return out.join('\n  ');
  const rows = p.runs.length + 1;
  const lx = left + width - 170;
  const ly = top + height - 14 - rows * 18;
  out.push(
    `<rect x="${lx - 8}" y="${ly - 14}" width="172" height="${rows * 18 + 8}" fill="#fff" fill-opacity="0.9" stroke="#ccc"/>`,
  );
  out.push(`<text x="${lx}" y="${ly}" fill="#555">rounds to ${Math.round(TARGET * 100)} %</text>`);
  p.runs.forEach((run, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    const yy = ly + (i + 1) * 18;
    out.push(`<line x1="${lx}" y1="${yy - 4}" x2="${lx + 22}" y2="${yy - 4}" stroke="${colour}" stroke-width="2.5"/>`);
    const reached = run.roundsTo90 === null ? '–' : String(run.roundsTo90);
    out.push(`<text x="${lx + 30}" y="${yy}">${xml(run.label)}: ${reached}</text>`);
  });
  return out.join('\n  ');
}

/** The whole SVG document for two panels (non-IID, IID); `note` goes under the title. */
export function renderConvergenceSvg(panels: readonly [PlotPanel, PlotPanel], title: string, note: string): string {
  const rounds = panels.map((p) => Math.max(1, ...p.runs.map((r) => r.accuracy.length - 1)));
  const body = panels.map((p, i) => panel(p, PANEL.left[i] as number, rounds[i] as number, `plot${i}`)).join('\n  ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">
  <title>${xml(title)}</title>
  <rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>
  <text x="${WIDTH / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${xml(title)}</text>
  <text x="${WIDTH / 2}" y="${HEIGHT - 8}" text-anchor="middle" fill="#555">${xml(note)}</text>
  ${body}
</svg>
`;
}
