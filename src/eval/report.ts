// Run report: training curves from a run folder's metrics.jsonl and the before/after evaluation table, written
// as report.md (+ report-loss.svg, which it shows) and a self-contained report.html (inline CSS and SVG, no scripts);
// a DPO, KTO or reward-model run also gets its reward margins and accuracies (report-rewards.svg). A summary may add
// text tables (sample answers side by side) and further training runs (a preference step after SFT).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { writeTextAtomic } from '../formats/atomic.ts';
import type { ForgettingResult } from './forgetting.ts';
import { esc, lineChart, type ChartSeries } from './svg-chart.ts';

/**
 * One line of metrics.jsonl. Training lines carry loss; evaluation lines may carry only holdout_loss. Every other
 * numeric key is kept as written (a method's own metrics: DPO's `rewards/margins`, a reward model's `accuracy`, …).
 */
export interface MetricsRecord {
  step: number;
  loss?: number;
  lr?: number;
  grad_norm?: number;
  tokens_per_s?: number;
  holdout_loss?: number;
  [key: string]: number | undefined;
}

export interface SummaryRow {
  metric: string;
  before: number | null;
  after: number | null;
  /** Default: after − before. */
  delta?: number | null;
  /** Which way is an improvement (colours the delta); unknown when absent. */
  better?: 'higher' | 'lower';
}

/** A table of text cells (sample answers side by side, served answers) shown after the evaluation. */
export interface ReportTable {
  title: string;
  headers: string[];
  rows: string[][];
  /** Columns shown as code (SQL, model output). */
  codeColumns?: number[];
}

export interface EvalSummary {
  title?: string;
  /** Paragraphs under the title: what was run. */
  intro?: string[];
  rows: SummaryRow[];
  forgetting?: ForgettingResult;
  tables?: ReportTable[];
  /** Further training runs (a preference step after SFT), each with its curves and figures after the main run's. */
  runs?: { title: string; metrics: MetricsRecord[] }[];
}

export const METRICS_FILE = 'metrics.jsonl';

/** Reads metrics.jsonl; a torn last line (a run killed mid-write) is dropped, any other bad line is an error. */
export function readMetrics(path: string): MetricsRecord[] {
  if (!existsSync(path)) throw new WhetError(`${path}: no such file`);
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  let last = lines.length - 1;
  while (last > 0 && lines[last]!.trim() === '') last--;
  const out: MetricsRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      // Every complete record ends in a newline; only an unterminated last line can be a torn write.
      if (i === last && !text.endsWith('\n')) return;
      throw new WhetError(`${path}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) throw new WhetError(`${path}:${i + 1}: expected a JSON object`);
    const r = rec as Record<string, unknown>;
    if (typeof r.step !== 'number' || !Number.isFinite(r.step)) throw new WhetError(`${path}:${i + 1}: 'step' must be a number`);
    for (const k of ['loss', 'lr', 'grad_norm', 'tokens_per_s', 'holdout_loss'] as const)
      // null is how JSON.stringify writes NaN and Infinity: a diverged step, kept as a gap.
      if (r[k] !== undefined && r[k] !== null && typeof r[k] !== 'number') throw new WhetError(`${path}:${i + 1}: '${k}' must be a number`);
    const record: MetricsRecord = { step: r.step };
    // Fields that are not numbers (a note, a nested object) make no curve: left out rather than refused.
    for (const [k, v] of Object.entries(r)) if (typeof v === 'number' || v === null) record[k] = v === null ? NaN : v;
    out.push(record);
  });
  return out;
}

/** The chart of training and holdout loss against step. */
export function lossChart(metrics: readonly MetricsRecord[]): string {
  const series: ChartSeries[] = [{ name: 'training loss', color: '#1f77b4', points: metrics.filter((m) => m.loss !== undefined).map((m) => [m.step, m.loss!]) }];
  const holdout = metrics.filter((m) => m.holdout_loss !== undefined).map((m) => [m.step, m.holdout_loss!] as const);
  if (holdout.length > 0) series.push({ name: 'holdout loss', color: '#d62728', points: holdout, markers: true });
  return lineChart(series, { title: 'Loss', xLabel: 'step', yLabel: 'loss (nats/token)' });
}

/** What a preference run logs: DPO's and KTO's implicit rewards, or a reward model's own accuracy and margin. */
const REWARD_SERIES: readonly { key: string; name: string; color: string; share?: boolean }[] = [
  { key: 'rewards/margins', name: 'reward margin', color: '#1f77b4' },
  { key: 'holdout_rewards/margins', name: 'holdout reward margin', color: '#d62728' },
  { key: 'rewards/accuracies', name: 'reward accuracy', color: '#2ca02c', share: true },
  { key: 'holdout_rewards/accuracies', name: 'holdout reward accuracy', color: '#ff7f0e', share: true },
];
const REWARD_MODEL_SERIES: typeof REWARD_SERIES = [
  { key: 'margin', name: 'margin', color: '#1f77b4' },
  { key: 'holdout_margin', name: 'holdout margin', color: '#d62728' },
  { key: 'accuracy', name: 'accuracy', color: '#2ca02c', share: true },
  { key: 'holdout_accuracy', name: 'holdout accuracy', color: '#ff7f0e', share: true },
];

/** What an RL run logs: the rollouts' mean reward, the held-out prompts', and the KL to the reference (right axis). */
const RL_SERIES: typeof REWARD_SERIES = [
  { key: 'reward', name: 'reward (rollouts)', color: '#1f77b4' },
  { key: 'holdout_reward', name: 'holdout reward (greedy)', color: '#d62728' },
  { key: 'kl', name: 'KL to the reference', color: '#2ca02c', share: true },
];

/** The series of the run's reward chart: none for SFT (a reward model is told by its margin beside an accuracy). */
function rewardSeries(metrics: readonly MetricsRecord[]): typeof REWARD_SERIES {
  const has = (key: string): boolean => metrics.some((m) => m[key] !== undefined);
  if (has('reward') && has('completion_length/mean')) return RL_SERIES.filter((s) => has(s.key));
  if (REWARD_SERIES.some((s) => has(s.key))) return REWARD_SERIES.filter((s) => has(s.key));
  if ((has('margin') || has('holdout_margin')) && (has('accuracy') || has('holdout_accuracy'))) return REWARD_MODEL_SERIES.filter((s) => has(s.key));
  return [];
}

/**
 * Reward margins (left axis) and pairwise accuracies (right axis, 0 to 1) against step, holdout ones with a dot
 * per evaluation; undefined for a run that logs none (SFT).
 */
export function rewardChart(metrics: readonly MetricsRecord[]): string | undefined {
  const chosen = rewardSeries(metrics);
  if (chosen.length === 0) return undefined;
  const series: ChartSeries[] = chosen.map((s) => ({
    name: s.name,
    color: s.color,
    points: metrics.filter((m) => m[s.key] !== undefined).map((m) => [m.step, m[s.key]!] as const),
    ...(s.key.startsWith('holdout_') ? { markers: true } : {}),
    ...(s.share === true ? { axis: 'right' as const } : {}),
  }));
  if (chosen.some((s) => s.key === 'reward' || s.key === 'holdout_reward')) {
    const kl = metrics.flatMap((m) => (m.kl === undefined ? [] : [m.kl]));
    return lineChart(series, { title: 'Rewards', xLabel: 'step', yLabel: 'mean reward', right: { label: 'KL to the reference', range: [0, Math.max(1e-6, ...kl)] } });
  }
  return lineChart(series, { title: 'Rewards', xLabel: 'step', yLabel: 'margin (chosen − rejected reward)', right: { label: 'accuracy (share of pairs)', range: [0, 1] } });
}

interface RunStats {
  steps: number;
  firstLoss?: number;
  lastLoss?: number;
  minLoss?: number;
  lastHoldout?: number;
  meanTokensPerS?: number;
}

function runStats(metrics: readonly MetricsRecord[]): RunStats {
  const losses = metrics.map((m) => m.loss).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const holdout = metrics.map((m) => m.holdout_loss).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const tps = metrics.map((m) => m.tokens_per_s).filter((v): v is number => v !== undefined && Number.isFinite(v));
  return {
    steps: metrics.reduce((a, m) => Math.max(a, m.step), 0),
    firstLoss: losses[0],
    lastLoss: losses.at(-1),
    minLoss: losses.length > 0 ? losses.reduce((a, b) => Math.min(a, b)) : undefined,
    lastHoldout: holdout.at(-1),
    meanTokensPerS: tps.length > 0 ? tps.reduce((a, b) => a + b, 0) / tps.length : undefined,
  };
}

export function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4);
}

function deltaOf(row: SummaryRow): number | null {
  if (row.delta !== undefined) return row.delta;
  return row.before === null || row.after === null ? null : row.after - row.before;
}

function signed(v: number | null): string {
  return v !== null && v > 0 ? `+${fmt(v)}` : fmt(v);
}

/** 'good', 'bad' or '' for the delta's colour. */
function judge(row: SummaryRow, delta: number | null): string {
  if (row.better === undefined || delta === null || delta === 0 || !Number.isFinite(delta)) return '';
  return (delta > 0) === (row.better === 'higher') ? 'good' : 'bad';
}

function percent(v: number): string {
  return `${v > 0 ? '+' : ''}${(v * 100).toFixed(2)} %`;
}

function forgettingLine(f: ForgettingResult): string {
  return `NLL on general text: base ${fmt(f.base.nll)}, fine-tuned ${fmt(f.tuned.nll)} nats/token (${f.base.tokens} tokens); ` +
    `change ${percent(f.nllIncrease)} against a threshold of ${percent(f.threshold)}: **${f.verdict}**`;
}

/** The last value of each reward series (none for SFT): what the table under the reward chart adds. */
function rewardStatsLines(metrics: readonly MetricsRecord[]): [string, string][] {
  return rewardSeries(metrics).map((s) => {
    const values = metrics.map((m) => m[s.key]).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return [`last ${s.name}`, fmt(values.at(-1))];
  });
}

function statsLines(s: RunStats): [string, string][] {
  return [
    ['steps', fmt(s.steps)],
    ['first training loss', fmt(s.firstLoss)],
    ['last training loss', fmt(s.lastLoss)],
    ['lowest training loss', fmt(s.minLoss)],
    ['last holdout loss', fmt(s.lastHoldout)],
    ['mean tokens/s', fmt(s.meanTokensPerS)],
  ];
}

export function renderMarkdown(metrics: readonly MetricsRecord[], summary: EvalSummary, chartFile?: string, rewardChartFile?: string): string {
  const md: string[] = [`# ${summary.title ?? 'Fine-tuning report'}`, ''];
  for (const p of summary.intro ?? []) md.push(p, '');
  if (summary.rows.length > 0) {
    md.push('## Evaluation', '', '| metric | before | after | delta |', '|---|---:|---:|---:|');
    for (const row of summary.rows) md.push(`| ${row.metric.replace(/\|/g, '\\|')} | ${fmt(row.before)} | ${fmt(row.after)} | ${signed(deltaOf(row))} |`);
    md.push('');
  }
  if (summary.forgetting !== undefined) md.push('## Forgetting check', '', forgettingLine(summary.forgetting), '');
  const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  for (const t of summary.tables ?? [])
    md.push(`## ${t.title}`, '', `| ${t.headers.map(cell).join(' | ')} |`, `|${t.headers.map(() => '---').join('|')}|`, ...t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`), '');
  const stats = (m: readonly MetricsRecord[]): string[] => ['| | |', '|---|---:|', ...[...statsLines(runStats(m)), ...rewardStatsLines(m)].map(([k, v]) => `| ${k} | ${v} |`), ''];
  if (metrics.length > 0) {
    md.push('## Training', '');
    if (chartFile !== undefined) md.push(`![training and holdout loss](${chartFile})`, '');
    if (rewardChartFile !== undefined) md.push(`![reward margins and accuracies](${rewardChartFile})`, '');
    md.push(...stats(metrics));
  }
  for (const run of summary.runs ?? []) if (run.metrics.length > 0) md.push(`## ${run.title}`, '', ...stats(run.metrics));
  return md.join('\n');
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 780px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 4px 12px; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.good { color: #137333; } .bad { color: #b3261e; } .verdict-ok { color: #137333; font-weight: 600; } .verdict-forgot { color: #b3261e; font-weight: 600; }
svg.chart { max-width: 100%; height: auto; }
table.text td { vertical-align: top; } code { font: 12px/1.35 ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-word; }
`;

export function renderHtml(metrics: readonly MetricsRecord[], summary: EvalSummary): string {
  const title = esc(summary.title ?? 'Fine-tuning report');
  const h: string[] = [
    '<!doctype html>', '<html lang="en">', '<head>', '<meta charset="utf-8">', '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // An empty icon, or the browser asks the network for /favicon.ico.
    '<link rel="icon" href="data:,">', `<title>${title}</title>`, `<style>${CSS}</style>`, '</head>', '<body>', `<h1>${title}</h1>`,
    ...(summary.intro ?? []).map((p) => `<p>${esc(p)}</p>`),
  ];
  if (summary.rows.length > 0) {
    h.push('<h2>Evaluation</h2>', '<table id="eval"><thead><tr><th>metric</th><th>before</th><th>after</th><th>delta</th></tr></thead><tbody>');
    for (const row of summary.rows) {
      const d = deltaOf(row);
      const cls = judge(row, d);
      h.push(`<tr><td>${esc(row.metric)}</td><td class="num">${fmt(row.before)}</td><td class="num">${fmt(row.after)}</td><td class="num${cls === '' ? '' : ` ${cls}`}">${signed(d)}</td></tr>`);
    }
    h.push('</tbody></table>');
  }
  if (summary.forgetting !== undefined) {
    const f = summary.forgetting;
    h.push('<h2>Forgetting check</h2>', '<table id="forgetting"><tbody>',
      `<tr><td>base NLL</td><td class="num">${fmt(f.base.nll)}</td></tr>`,
      `<tr><td>fine-tuned NLL</td><td class="num">${fmt(f.tuned.nll)}</td></tr>`,
      `<tr><td>change</td><td class="num">${percent(f.nllIncrease)}</td></tr>`,
      `<tr><td>threshold</td><td class="num">${percent(f.threshold)}</td></tr>`,
      `<tr><td>verdict</td><td class="num verdict-${f.verdict}">${f.verdict}</td></tr>`, '</tbody></table>');
  }
  for (const t of summary.tables ?? []) {
    const code = new Set(t.codeColumns ?? []);
    h.push(`<h2>${esc(t.title)}</h2>`, `<table class="text"><thead><tr>${t.headers.map((x) => `<th>${esc(x)}</th>`).join('')}</tr></thead><tbody>`);
    for (const r of t.rows) h.push(`<tr>${r.map((x, i) => `<td>${code.has(i) ? `<code>${esc(x)}</code>` : esc(x)}</td>`).join('')}</tr>`);
    h.push('</tbody></table>');
  }
  const training = (title: string, id: string, m: readonly MetricsRecord[]): void => {
    const rewards = rewardChart(m);
    h.push(`<h2>${esc(title)}</h2>`, lossChart(m), ...(rewards === undefined ? [] : [rewards]), `<table id="${id}"><tbody>`);
    for (const [k, v] of [...statsLines(runStats(m)), ...rewardStatsLines(m)]) h.push(`<tr><td>${k}</td><td class="num">${v}</td></tr>`);
    h.push('</tbody></table>');
  };
  if (metrics.length > 0) training('Training', 'training', metrics);
  (summary.runs ?? []).forEach((run, i) => {
    if (run.metrics.length > 0) training(run.title, `training-${i + 2}`, run.metrics);
  });
  h.push('</body>', '</html>', '');
  return h.join('\n');
}

export interface ReportFiles {
  markdown: string;
  html: string;
  /** Absent when the run folder has no metrics.jsonl (an evaluation without a training run). */
  chart?: string;
  /** The reward margins and accuracies of a DPO, KTO or reward-model run; absent for SFT. */
  rewardChart?: string;
}

/**
 * Writes report.md, report-loss.svg and report.html into outDir (default: the run folder), each atomically.
 * Without a metrics.jsonl in runDir the report has no training section and no chart.
 */
export function writeReport(runDir: string, summary: EvalSummary, opts: { outDir?: string } = {}): ReportFiles {
  const metricsPath = join(runDir, METRICS_FILE);
  const metrics = existsSync(metricsPath) ? readMetrics(metricsPath) : [];
  const outDir = opts.outDir ?? runDir;
  const files: ReportFiles = { markdown: join(outDir, 'report.md'), html: join(outDir, 'report.html') };
  if (metrics.length > 0) {
    files.chart = join(outDir, 'report-loss.svg');
    writeTextAtomic(files.chart, lossChart(metrics) + '\n');
  }
  const rewards = rewardChart(metrics);
  if (rewards !== undefined) {
    files.rewardChart = join(outDir, 'report-rewards.svg');
    writeTextAtomic(files.rewardChart, rewards + '\n');
  }
  writeTextAtomic(files.markdown, renderMarkdown(metrics, summary, files.chart === undefined ? undefined : 'report-loss.svg', rewards === undefined ? undefined : 'report-rewards.svg'));
  writeTextAtomic(files.html, renderHtml(metrics, summary));
  return files;
}
