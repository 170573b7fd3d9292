/**
 * A tiny SVG line chart of accuracy (0..1) per round: what both pages draw.
 * No library: a polyline, a dot per point, a few grid lines.
 */

const SVG = 'http://www.w3.org/2000/svg';

export interface Point {
  readonly roundId: number;
  readonly accuracy: number;
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

/** Redraws `svg` (its viewBox is 0 0 W H) with `points`, rounds on x, accuracy 0..1 on y. */
export function drawAccuracyChart(svg: SVGSVGElement, points: readonly Point[]): void {
  const W = 480;
  const H = 200;
  const left = 36;
  const right = 12;
  const top = 12;
  const bottom = 28;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const x0 = points[0]?.roundId ?? 0;
  const x1 = Math.max(x0 + 1, points[points.length - 1]?.roundId ?? 1);
  const x = (r: number) => left + ((r - x0) / (x1 - x0)) * (W - left - right);
  const y = (a: number) => top + (1 - a) * (H - top - bottom);
  for (const a of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(el('line', { x1: left, x2: W - right, y1: y(a), y2: y(a), class: 'grid' }));
    svg.append(el('text', { x: left - 6, y: y(a) + 4, 'text-anchor': 'end', class: 'tick' }, a.toFixed(2)));
  }
  if (points.length === 0) {
    svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'no global model yet'));
    return;
  }
  const step = Math.max(1, Math.ceil((x1 - x0) / 10));
  for (let r = x0; r <= x1; r += step) {
    svg.append(el('text', { x: x(r), y: H - 10, 'text-anchor': 'middle', class: 'tick' }, String(r)));
  }
  svg.append(
    el('polyline', { points: points.map((p) => `${x(p.roundId)},${y(p.accuracy)}`).join(' '), class: 'line' }),
  );
  for (const p of points) {
    const dot = el('circle', { cx: x(p.roundId), cy: y(p.accuracy), r: 3, class: 'dot' });
    dot.append(el('title', {}, `round ${p.roundId}: ${(p.accuracy * 100).toFixed(2)}%`));
    svg.append(dot);
  }
}
