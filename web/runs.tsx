// The runs pages: every run under --runs with its state and numbers; one run's curves, live over server-sent events
// while it trains; and several runs overlaid metric by metric.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api } from './api.ts';
import { Chart, type Series } from './chart.tsx';

interface RunSummary {
  id: string; method: string; model: string; state: string; steps: number; totalSteps?: number; bestHoldout?: number; lastLoss?: number;
  updated: string; checkpoints: number; reports: string[];
}
type Metrics = Record<string, number>[];

const fmt = (v: number | undefined): string => (v === undefined ? '–' : Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(4));
/** Bookkeeping columns of metrics.jsonl that are not curves worth drawing. */
const NOT_CURVES = new Set(['step', 'tokens', 'tokens_per_s', 'step_s', 'elapsed_s', 'eval_s', 'live_mb', 'pooled_mb', 'peak_mb']);
/** The curves a person looks at first. */
const FIRST = ['loss', 'holdout_loss', 'lr', 'grad_norm', 'rewards/margins', 'rewards/accuracies', 'reward', 'kl'];

function metricNames(rows: Metrics): string[] {
  const names = new Set<string>();
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && !NOT_CURVES.has(k)) names.add(k);
  return [...names].sort((a, b) => (FIRST.indexOf(a) + 1 || 99) - (FIRST.indexOf(b) + 1 || 99) || a.localeCompare(b));
}

function points(rows: Metrics, name: string): [number, number][] {
  return rows.filter((r) => typeof r[name] === 'number').map((r) => [r.step!, r[name]!]);
}

export function RunsList() {
  const [runs, setRuns] = useState<RunSummary[] | undefined>();
  const [chosen, setChosen] = useState<string[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    const load = (): void => void api<{ runs: RunSummary[] }>('/api/runs').then((r) => setRuns(r.runs), (e: Error) => setError(e.message));
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, []);
  if (error !== '') return <p class="error" role="alert">{error}</p>;
  if (runs === undefined) return <p class="muted">Loading…</p>;
  if (runs.length === 0) return <p>No runs yet: a run is a folder with a metrics.jsonl (what <code>whet train --out DIR</code> writes).</p>;
  return (
    <section aria-label="runs">
      <div class="table-wrap">
        <table id="runs">
          <thead><tr><th scope="col"><span class="sr">overlay</span></th><th scope="col">run</th><th scope="col">method</th><th scope="col">model</th><th scope="col">status</th><th scope="col">steps</th><th scope="col">best holdout loss</th><th scope="col">last loss</th><th scope="col">updated</th></tr></thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id} data-run={r.id}>
                <td><input type="checkbox" aria-label={`overlay ${r.id}`} checked={chosen.includes(r.id)} onChange={(e) => setChosen((e.target as HTMLInputElement).checked ? [...chosen, r.id] : chosen.filter((c) => c !== r.id))} /></td>
                <td><a href={`#/run/${encodeURIComponent(r.id)}`}>{r.id}</a></td>
                <td>{r.method}</td>
                <td class="model" title={r.model}>{r.model.split(/[\\/]/).filter((p) => p !== '').at(-1) ?? r.model}</td>
                <td><span class={`state ${r.state}`}>{r.state}</span></td>
                <td class="num">{r.steps}{r.totalSteps !== undefined ? ` / ${r.totalSteps}` : ''}</td>
                <td class="num">{fmt(r.bestHoldout)}</td>
                <td class="num">{fmt(r.lastLoss)}</td>
                <td>{new Date(r.updated).toLocaleString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p><a class={`button${chosen.length < 2 ? ' disabled' : ''}`} aria-disabled={chosen.length < 2} href={chosen.length < 2 ? undefined : `#/overlay/${chosen.map(encodeURIComponent).join(',')}`}>Overlay {chosen.length} selected runs</a></p>
    </section>
  );
}

export function RunPage({ id }: { id: string }) {
  const [summary, setSummary] = useState<RunSummary | undefined>();
  const [rows, setRows] = useState<Metrics>([]);
  const [live, setLive] = useState(false);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    // The server sends the whole file first, then each line as it lands: no polling of the file.
    const es = new EventSource(`/api/runs/events?run=${encodeURIComponent(id)}`);
    es.addEventListener('metrics', (e) => {
      const m = JSON.parse((e as MessageEvent).data) as { reset: boolean; lines: Metrics };
      setRows((old) => (m.reset ? m.lines : [...old, ...m.lines]));
    });
    es.addEventListener('summary', (e) => setSummary(JSON.parse((e as MessageEvent).data) as RunSummary));
    es.onopen = () => setLive(true);
    let retry: ReturnType<typeof setTimeout> | undefined;
    es.onerror = () => {
      setLive(false);
      // The browser gives up on a refused stream (the run folder not there yet): ask again a little later.
      if (es.readyState === EventSource.CLOSED) retry = setTimeout(() => setAttempt((a) => a + 1), 2000);
    };
    return () => {
      clearTimeout(retry);
      es.close();
    };
  }, [id, attempt]);
  useEffect(() => {
    setRows([]);
    setSummary(undefined);
  }, [id]);
  const names = useMemo(() => metricNames(rows), [rows]);
  return (
    <section aria-label={`run ${id}`}>
      <h2>{id} {summary !== undefined && <span class={`state ${summary.state}`} id="state">{summary.state}</span>}</h2>
      {summary !== undefined && (
        <p class="muted" id="summary">
          {summary.method} on {summary.model} · step {summary.steps}{summary.totalSteps !== undefined ? ` of ${summary.totalSteps}` : ''} · best holdout loss {fmt(summary.bestHoldout)} · {summary.checkpoints} checkpoint{summary.checkpoints === 1 ? '' : 's'} · {live ? 'live' : 'not connected'}
        </p>
      )}
      {summary !== undefined && summary.reports.length > 0 && (
        <p>Reports: {summary.reports.map((r) => <a key={r} href={`/api/runs/file?run=${encodeURIComponent(id)}&name=${encodeURIComponent(r)}`}>{r} </a>)}</p>
      )}
      <div class="charts">{names.map((n) => <Chart key={n} metric={n} series={[{ label: id, points: points(rows, n) }]} />)}</div>
      {rows.length === 0 && <p class="muted">No steps yet.</p>}
    </section>
  );
}

export function OverlayPage({ ids }: { ids: string[] }) {
  const [runs, setRuns] = useState<{ id: string; rows: Metrics }[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    Promise.all(ids.map((id) => api<{ metrics: Metrics }>(`/api/runs/metrics?run=${encodeURIComponent(id)}`).then((r) => ({ id, rows: r.metrics }))))
      .then(setRuns, (e: Error) => setError(e.message));
  }, [ids.join(',')]);
  const names = useMemo(() => [...new Set(runs.flatMap((r) => metricNames(r.rows)))], [runs]);
  if (error !== '') return <p class="error" role="alert">{error}</p>;
  return (
    <section aria-label="runs overlaid">
      <h2>{ids.join(' vs ')}</h2>
      <div class="charts">{names.map((n) => <Chart key={n} metric={n} series={runs.filter((r) => r.rows.some((row) => typeof row[n] === 'number')).map((r) => ({ label: r.id, points: points(r.rows, n) }))} />)}</div>
    </section>
  );
}
