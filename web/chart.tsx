// A uPlot line chart of one metric against step, one series per run; it resizes with its box and keeps the data it
// draws on its element (data-x / data-y) so what is on screen can be checked against metrics.jsonl.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface Series {
  label: string;
  /** [step, value] points in step order. */
  points: [number, number][];
}

const COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#bf3989'];

/** Joins the series on one x axis (the union of their steps; gaps where a run has no value). */
function aligned(series: Series[]): uPlot.AlignedData {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const ys = series.map((s) => {
    const at = new Map(s.points);
    return xs.map((x) => at.get(x) ?? null);
  });
  return [xs, ...ys] as uPlot.AlignedData;
}

export function Chart({ metric, series }: { metric: string; series: Series[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>();
  const labels = series.map((s) => s.label).join('\n');

  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: Math.max(260, el.clientWidth), height: 220, title: metric,
      scales: { x: { time: false } },
      axes: [{ label: 'step' }, {}],
      series: [{ label: 'step' }, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true, points: { show: false } }))],
    };
    plot.current = new uPlot(opts, aligned(series), el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(260, el.clientWidth), height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = undefined;
    };
  }, [metric, labels]);

  useEffect(() => {
    const data = aligned(series);
    plot.current?.setData(data);
    const el = box.current!;
    el.dataset.x = JSON.stringify(data[0]);
    el.dataset.y = JSON.stringify(data.slice(1));
    el.dataset.points = String(data[0].length);
  }, [series]);

  return <div class="chart" ref={box} data-metric={metric} role="img" aria-label={`${metric} against step`} />;
}
