/**
 * The plot of `npm run bench:privacy`: docs/images/privacy-utility.svg, hand-written SVG (no
 * plotting library, as bench/convergence-svg.ts). Final held-out test accuracy against the run's
 * ε (log axis, δ fixed), one line per mechanism with a marker at every ε, a vertical bar over the
 * central mechanism's repeats (their range), and horizontal lines for the runs without noise:
 * plain FedAvg (dashed) and clipping alone (dotted).
 */

export interface PlotSeries {
  readonly label: string;
  /** (ε, accuracy) points; `low`/`high` draw a range bar (repeats). */
  readonly points: readonly { readonly epsilon: number; readonly accuracy: number; low?: number; high?: number }[];
}

export interface PlotBaseline {
  readonly label: string;
  readonly accuracy: number;
  readonly dash: string;
}

/** Okabe–Ito, colour-blind safe (as convergence-svg.ts). */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00'];
const WIDTH = 860;
const HEIGHT = 460;
const PANEL = { left: 80, top: 60, width: 420, height: 320 };

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fixed = (x: number) => Number(x.toFixed(1)).toString();

export function renderPrivacySvg(
  series: readonly PlotSeries[],
  baselines: readonly PlotBaseline[],
  epsilons: readonly number[],
  title: string,
  note: string,
): string {
  const { left, top, width, height } = PANEL;
  const lo = Math.log(Math.min(...epsilons) / 1.5);
  const hi = Math.log(Math.max(...epsilons) * 1.5);
  const x = (e: number) => left + ((Math.log(e) - lo) / (hi - lo)) * width;
  const y = (a: number) => top + (1 - a) * height;
  const out: string[] = [];
  for (let a = 0; a <= 1 + 1e-9; a += 0.1) {
    const yy = fixed(y(a));
    out.push(`<line x1="${left}" y1="${yy}" x2="${left + width}" y2="${yy}" stroke="#e5e5e5"/>`);
    out.push(
      `<text x="${left - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle">${Math.round(a * 100)} %</text>`,
    );
  }
  for (const e of epsilons) {
    const xx = fixed(x(e));
    out.push(`<line x1="${xx}" y1="${top + height}" x2="${xx}" y2="${top + height + 5}" stroke="#333"/>`);
    out.push(`<text x="${xx}" y="${top + height + 20}" text-anchor="middle">${e}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${width}" height="${height}" fill="none" stroke="#333"/>`);
  out.push(
    `<text x="${left + width / 2}" y="${top + height + 42}" text-anchor="middle">ε over the run (δ = 1e-5, log scale)</text>`,
  );
  out.push(
    `<text transform="translate(${left - 52} ${top + height / 2}) rotate(-90)" text-anchor="middle">final held-out test accuracy</text>`,
  );
  baselines.forEach((b) => {
    const yy = fixed(y(b.accuracy));
    out.push(
      `<line x1="${left}" y1="${yy}" x2="${left + width}" y2="${yy}" stroke="#555" stroke-width="1.5" stroke-dasharray="${b.dash}"/>`,
    );
  });
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    const points = s.points.map((p) => `${fixed(x(p.epsilon))},${fixed(y(p.accuracy))}`).join(' ');
    out.push(`<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round"/>`);
    // Offset markers a little sideways per series, so equal accuracies stay visible.
    for (const p of s.points) {
      const cx = fixed(x(p.epsilon) + (i - (series.length - 1) / 2) * 4);
      if (p.low !== undefined && p.high !== undefined) {
        out.push(
          `<line x1="${cx}" y1="${fixed(y(p.low))}" x2="${cx}" y2="${fixed(y(p.high))}" stroke="${colour}" stroke-width="1.5"/>`,
        );
      }
      out.push(`<circle cx="${cx}" cy="${fixed(y(p.accuracy))}" r="3.5" fill="${colour}"/>`);
    }
  });
  // Legend to the right of the panel.
  const lx = left + width + 24;
  let ly = top + 10;
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length] as string;
    out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="${colour}" stroke-width="2.5"/>`);
    out.push(`<text x="${lx + 30}" y="${ly}">${xml(s.label)}</text>`);
    ly += 20;
  });
  for (const b of baselines) {
    out.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="#555" stroke-width="1.5" stroke-dasharray="${b.dash}"/>`,
    );
    out.push(`<text x="${lx + 30}" y="${ly}">${xml(b.label)}</text>`);
    ly += 20;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">
  <title>${xml(title)}</title>
  <rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>
  <text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${xml(title)}</text>
  <text x="${WIDTH / 2}" y="${HEIGHT - 10}" text-anchor="middle" fill="#555">${xml(note)}</text>
  ${out.join('\n  ')}
</svg>
`;
}
