// Self-contained SVG line charts (axes, ticks, legend, one <path> per series, an optional right-hand axis) for reports:
// no scripts, fonts or network.

export interface ChartSeries {
  name: string;
  /** (x, y) points in x order; non-finite y values leave a gap. */
  points: readonly (readonly [number, number])[];
  color: string;
  /** Draw a dot on every point (sparse series such as holdout loss). */
  markers?: boolean;
  /** Plot against the right-hand axis (a share in [0, 1] beside a margin on the left, say). */
  axis?: 'right';
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** The right-hand axis, drawn when a series asks for it; its range always includes `range`. */
  right?: { label: string; range?: readonly [number, number] };
  width?: number;
  height?: number;
}

/** Above this many points a series is thinned to each bucket's first, lowest and highest point (spikes survive). */
export const MAX_POINTS = 4000;

const MARGIN = { left: 64, right: 16, top: 36, bottom: 44 };
/** The right margin when a right-hand axis needs room for its tick labels and title. */
const RIGHT_AXIS_MARGIN = 60;

export function lineChart(series: readonly ChartSeries[], opts: ChartOptions): string {
  const width = opts.width ?? 720;
  const height = opts.height ?? 320;
  const twoAxes = opts.right !== undefined && series.some((s) => s.axis === 'right');
  const marginRight = twoAxes ? RIGHT_AXIS_MARGIN : MARGIN.right;
  const plotW = width - MARGIN.left - marginRight;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const finitePoints = (ss: readonly ChartSeries[]) => ss.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const finite = finitePoints(series);
  const onRight = (s: ChartSeries): boolean => twoAxes && s.axis === 'right';
  const xs = niceScale(finite.map((p) => p[0]));
  const ys = niceScale(finitePoints(series.filter((s) => !onRight(s))).map((p) => p[1]));
  const ys2 = twoAxes ? niceScale([...finitePoints(series.filter(onRight)).map((p) => p[1]), ...(opts.right!.range ?? [])]) : ys;
  const px = (x: number): number => MARGIN.left + ((x - xs.min) / (xs.max - xs.min)) * plotW;
  const scaleY = (sc: typeof ys) => (y: number): number => MARGIN.top + plotH - ((y - sc.min) / (sc.max - sc.min)) * plotH;
  const py = scaleY(ys);
  const py2 = scaleY(ys2);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(opts.title)}">`);
  out.push(`<title>${esc(opts.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${MARGIN.left}" y="20" font-size="14" font-weight="600" fill="#222">${esc(opts.title)}</text>`);
  for (const t of ys.ticks) {
    const y = r(py(t));
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${y + 4}" font-size="11" text-anchor="end" fill="#555">${fmtTick(t, ys.step)}</text>`);
  }
  for (const t of xs.ticks) {
    const x = r(px(t));
    out.push(`<line x1="${x}" x2="${x}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${x}" y="${MARGIN.top + plotH + 16}" font-size="11" text-anchor="middle" fill="#555">${fmtTick(t, xs.step)}</text>`);
  }
  if (twoAxes) {
    // Ticks only, no grid of its own: two grids would cross each other.
    for (const t of ys2.ticks) out.push(`<text x="${MARGIN.left + plotW + 6}" y="${r(py2(t)) + 4}" font-size="11" text-anchor="start" fill="#555">${fmtTick(t, ys2.step)}</text>`);
    out.push(`<text transform="translate(${width - 12} ${MARGIN.top + plotH / 2}) rotate(90)" font-size="12" text-anchor="middle" fill="#333">${esc(opts.right!.label)}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${height - 8}" font-size="12" text-anchor="middle" fill="#333">${esc(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${MARGIN.top + plotH / 2}) rotate(-90)" font-size="12" text-anchor="middle" fill="#333">${esc(opts.yLabel)}</text>`);
  if (finite.length === 0) out.push(`<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH / 2}" font-size="13" text-anchor="middle" fill="#888">no data</text>`);

  for (const s of series) {
    const y = onRight(s) ? py2 : py;
    const pts = thin(s.points);
    let d = '';
    let pen = false;
    for (const [x, v] of pts) {
      if (!Number.isFinite(x) || !Number.isFinite(v)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${r(px(x))},${r(y(v))}`;
      pen = true;
    }
    out.push(`<path class="series" data-series="${esc(s.name)}" d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6" stroke-linejoin="round"/>`);
    if (s.markers === true)
      for (const [x, v] of pts) if (Number.isFinite(x) && Number.isFinite(v)) out.push(`<circle cx="${r(px(x))}" cy="${r(y(v))}" r="2.5" fill="${s.color}"/>`);
  }
  const legend = (s: ChartSeries): string => (onRight(s) ? `${s.name} (right axis)` : s.name);
  // Room for the longest legend entry (about 6 px a character at 11 px), at least the 150 px one line of loss takes.
  const legendW = Math.max(150, ...series.map((s) => 32 + Math.ceil(legend(s).length * 6.2)));
  // Two axes: the legend goes bottom right, on a backing, since accuracies run along the top as they approach 1.
  const legendTop = twoAxes ? MARGIN.top + plotH - 6 - series.length * 16 : MARGIN.top;
  if (twoAxes) out.push(`<rect x="${MARGIN.left + plotW - legendW - 6}" y="${legendTop + 2}" width="${legendW}" height="${series.length * 16 + 2}" fill="#fff" fill-opacity="0.85"/>`);
  series.forEach((s, i) => {
    const x = MARGIN.left + plotW - legendW;
    const y = legendTop + 14 + i * 16;
    out.push(`<line x1="${x}" x2="${x + 18}" y1="${y - 4}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${x + 24}" y="${y}" font-size="11" fill="#333">${esc(legend(s))}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Axis range rounded out to a 1/2/5 × 10^k step, with the ticks inside it. */
function niceScale(values: readonly number[]): { min: number; max: number; step: number; ticks: number[] } {
  // A loop, not Math.min(...values): a long run's values would overflow the argument limit.
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (lo === hi) [lo, hi] = [lo - (Math.abs(lo) || 1) * 0.5, hi + (Math.abs(hi) || 1) * 0.5];
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const min = Math.floor(lo / step) * step;
  const max = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let t = min; t <= max + step * 1e-9; t += step) ticks.push(t);
  return { min, max, step, ticks };
}

function thin(points: readonly (readonly [number, number])[]): readonly (readonly [number, number])[] {
  if (points.length <= MAX_POINTS) return points;
  const buckets = Math.floor(MAX_POINTS / 3);
  const size = points.length / buckets;
  const out: (readonly [number, number])[] = [];
  for (let b = 0; b < buckets; b++) {
    const chunk = points.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    const ok = chunk.filter(([, y]) => Number.isFinite(y));
    if (ok.length === 0) continue;
    const lo = ok.reduce((a, p) => (p[1] < a[1] ? p : a));
    const hi = ok.reduce((a, p) => (p[1] > a[1] ? p : a));
    for (const p of new Set([ok[0]!, lo, hi].sort((a, c) => a[0] - c[0]))) out.push(p);
  }
  return out;
}

function fmtTick(v: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(decimals, 6));
}

const r = (v: number): number => Math.round(v * 10) / 10;

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
