/**
 * A tiny SVG line chart per round: the pages' accuracy (0..1) and the dashboard's training run,
 * whose secure evaluation draws accuracy on the left axis and loss on a right one.
 * No library: a polyline per series, a dot per point, a few grid lines.
 */

const SVG = 'http://www.w3.org/2000/svg';

export interface Point {
  readonly roundId: number;
  readonly accuracy: number;
}

/** One line: its points (x a round, y in its axis' range), a CSS class and a name for the legend. */
export interface Series {
  readonly name: string;
  /** Styles the line and its dots (style.css: `.chart .line.<class>`). */
  readonly className: string;
  readonly axis: 'left' | 'right';
  readonly points: readonly { readonly x: number; readonly y: number; readonly title: string }[];
}

export interface Axis {
  readonly min: number;
  readonly max: number;
  readonly format: (value: number) => string;
}

export interface ChartOptions {
  readonly series: readonly Series[];
  readonly left: Axis;
  /** A second scale on the right (the grid lines are the left one's). */
  readonly right?: Axis;
  /** Shown when no series has a point. */
  readonly empty: string;
}

function el<K extends keyof SVGElementTagNameMap>(
  name: K,
  attrs: Record<string, string | number>,
  text?: string,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Redraws `svg` (its viewBox is 0 0 W H): rounds on x, each series on its axis. */
export function drawChart(svg: SVGSVGElement, { series, left: leftAxis, right: rightAxis, empty }: ChartOptions): void {
  const W = 480;
  const H = 200;
  const left = 36;
  const right = rightAxis === undefined ? 12 : 40;
  const top = 12;
  const bottom = 28;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const x0 = xs.length === 0 ? 0 : Math.min(...xs);
  const x1 = Math.max(x0 + 1, xs.length === 0 ? 1 : Math.max(...xs));
  const x = (r: number) => left + ((r - x0) / (x1 - x0)) * (W - left - right);
  // A fraction of the plot's height, 0 at the bottom.
  const y = (f: number) => top + (1 - f) * (H - top - bottom);
  const scale = (axis: Axis) => (v: number) => y((v - axis.min) / (axis.max - axis.min || 1));
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(el('line', { x1: left, x2: W - right, y1: y(f), y2: y(f), class: 'grid' }));
    const at = (axis: Axis) => axis.format(axis.min + f * (axis.max - axis.min));
    svg.append(el('text', { x: left - 6, y: y(f) + 4, 'text-anchor': 'end', class: 'tick' }, at(leftAxis)));
    if (rightAxis !== undefined) {
      svg.append(el('text', { x: W - right + 6, y: y(f) + 4, 'text-anchor': 'start', class: 'tick' }, at(rightAxis)));
    }
  }
  if (xs.length === 0) {
    svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, empty));
    return;
  }
  const step = Math.max(1, Math.ceil((x1 - x0) / 10));
  for (let r = x0; r <= x1; r += step) {
    svg.append(el('text', { x: x(r), y: H - 10, 'text-anchor': 'middle', class: 'tick' }, String(r)));
  }
  for (const s of series) {
    const yOf = scale(s.axis === 'left' || rightAxis === undefined ? leftAxis : rightAxis);
    const points = [...s.points].sort((a, b) => a.x - b.x);
    svg.append(
      el('polyline', { points: points.map((p) => `${x(p.x)},${yOf(p.y)}`).join(' '), class: `line ${s.className}` }),
    );
    for (const p of points) {
      const dot = el('circle', { cx: x(p.x), cy: yOf(p.y), r: 3, class: `dot ${s.className}` });
      dot.append(el('title', {}, p.title));
      svg.append(dot);
    }
  }
}

/** Redraws `svg` with `points`, rounds on x, accuracy 0..1 on y. */
export function drawAccuracyChart(svg: SVGSVGElement, points: readonly Point[]): void {
  drawChart(svg, {
    series: [
      {
        name: 'accuracy',
        className: 'accuracy',
        axis: 'left',
        points: points.map((p) => ({
          x: p.roundId,
          y: p.accuracy,
          title: `round ${p.roundId}: ${(p.accuracy * 100).toFixed(2)}%`,
        })),
      },
    ],
    left: { min: 0, max: 1, format: (v) => v.toFixed(2) },
    empty: 'no global model yet',
  });
}
