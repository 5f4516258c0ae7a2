// `whet eval`: scores a model (or a file of its predictions) on a dataset: exact/normalised match, SQL execution
// accuracy, a user scorer, or the holdout loss (ppl) of the data's target tokens; optionally against the model
// before fine-tuning (--base, or the --model without its --adapter), with a forgetting check and a report.
// The reward metrics (reward-accuracy, win-rate) take their own path: eval-reward.ts.
import type { FrozenDType } from '../model/frozen-weights.ts';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { WhetError } from '../errors.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { setLoraEnabled } from '../adapters/apply.ts';
import { readExamples } from '../data/read.ts';
import type { Example } from '../data/formats.ts';
import { readPredictions, writePredictions } from '../eval/predict.ts';
import { scorePredictions, type TextMetric } from '../eval/score.ts';
import { targetLoss } from '../eval/target-loss.ts';
import { perplexity, type PerplexityResult } from '../eval/perplexity.ts';
import { forgettingSummaryLine, forgettingVerdict, type ForgettingResult } from '../eval/forgetting.ts';
import { writeReport, type SummaryRow } from '../eval/report.ts';
import { parseCommand } from './options.ts';
import { EVAL_METRICS, evalSpec } from './specs.ts';
import { UsageError } from './errors.ts';
import { Progress } from './progress.ts';
import { generatePredictions, loadWithAdapter } from './eval-generate.ts';
import { rewardMetricCommand } from './eval-reward.ts';

type Metric = (typeof EVAL_METRICS)[number];

const LABELS: Record<Metric, string> = {
  exact: 'exact match',
  normalized: 'normalised match',
  sql: 'SQL execution accuracy',
  ppl: 'holdout loss',
  scorer: 'scorer mean',
  'reward-accuracy': 'reward pairwise accuracy',
  'win-rate': 'win rate',
};

/** Window length of the forgetting check's perplexity: whet perplexity's default, so the two agree. */
const FORGETTING_CTX = 512;

export type Result = { metric: string; score: number; n: number; [extra: string]: unknown };

/** The parsed options of `whet eval` (see evalSpec). */
export interface EvalValues {
  model?: string; adapter?: string; base?: string; 'base-adapter'?: string; 'reward-model'?: string; 'reward-adapter'?: string; data: string; metric: Metric;
  scorer?: string; db?: string; predictions?: string; 'save-predictions'?: string; 'max-tokens': number; stop?: string[]; limit?: number; 'batch-size': number;
  'sql-timeout': number; dtype: 'f32' | FrozenDType; forgetting?: string; 'forgetting-threshold'?: number; report?: string; json: boolean;
}
type Role = 'before' | 'after';

interface TaskOptions {
  metric: Metric;
  dataPath: string;
  data: ReturnType<typeof readExamples>;
  examples: readonly Example[];
  predictions?: string;
  savePredictions?: string;
  maxTokens: number;
  batchSize: number;
  stop?: string[];
  db?: string;
  scorer?: string;
  sqlTimeoutMs: number;
  /** Labels progress bars when two models are scored. */
  prefix: string;
}

export async function evalCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(evalSpec, argv);
  if (parsed === null) return 0;
  const values = parsed.values as unknown as EvalValues;
  // A reward model's accuracy and a judged win rate read other data (pairs, prompts) and other models: their own path.
  if (values.metric === 'reward-accuracy' || values.metric === 'win-rate') return rewardMetricCommand(values);
  for (const o of ['base-adapter', 'reward-model', 'reward-adapter'] as const)
    if (values[o] !== undefined) throw new UsageError(`--${o} applies to --metric win-rate`);
  const { metric, data: dataPath, 'max-tokens': maxTokens, limit, 'batch-size': batchSize, 'sql-timeout': sqlTimeout, dtype } = values;
  const threshold = values['forgetting-threshold'] ?? 0.1;
  if (metric === 'scorer' && values.scorer === undefined) throw new UsageError('--metric scorer needs --scorer MODULE (.js, .mjs or .ts; default export (prediction, example) => number | boolean)');
  if (metric === 'sql' && values.db === undefined) throw new UsageError('--metric sql needs --db (a .sqlite file, or a folder of <db_id>/<db_id>.sqlite)');
  if (metric === 'ppl' && values.predictions !== undefined) throw new UsageError('--metric ppl scores the model itself; --predictions does not apply');
  if (values.predictions === undefined && values.model === undefined) throw new UsageError('--model is required (or --predictions, to score predictions made elsewhere)');
  if (values.adapter !== undefined && values.model === undefined) throw new UsageError('--adapter needs --model (its base)');
  if (values.base !== undefined && values.model === undefined) throw new UsageError('--base needs --model (the fine-tuned model to compare with it)');
  const compare = values.base !== undefined || values.adapter !== undefined;
  if (values.forgetting !== undefined && !compare)
    throw new UsageError('--forgetting compares the model before and after fine-tuning: give --adapter (before = --model without it) or --base PATH');
  if (values['forgetting-threshold'] !== undefined && values.forgetting === undefined) throw new UsageError('--forgetting-threshold needs --forgetting FILE');
  if (values.forgetting !== undefined && !existsSync(values.forgetting)) throw new WhetError(`${values.forgetting}: no such file`);

  const data = readExamples(dataPath, { dedupe: false }); // rows must line up with a predictions file
  const examples = limit === undefined ? data.examples : data.examples.slice(0, limit);
  const forgettingText = values.forgetting === undefined ? undefined : readFileSync(values.forgetting, 'utf8');
  const opts: TaskOptions = {
    metric, dataPath, data, examples, maxTokens, batchSize, stop: values.stop, db: values.db, scorer: values.scorer, sqlTimeoutMs: sqlTimeout * 1000,
    predictions: values.predictions, savePredictions: values['save-predictions'], prefix: compare ? 'after: ' : '',
  };

  let before: Result | undefined;
  let beforeText: TextNll | undefined;
  // A separate base is scored and freed before the fine-tuned model is loaded: one model in memory at a time.
  if (values.base !== undefined) {
    const base = loadModel(values.base, { dtype });
    try {
      before = await task(base, 'before', opts);
      if (forgettingText !== undefined) beforeText = textNll(base, forgettingText, values.forgetting!, 'before');
    } finally {
      base.model.dispose();
    }
  }

  // The fine-tuned model is needed unless its predictions are given; with --adapter alone it is also the "before".
  const needModel = metric === 'ppl' || values.predictions === undefined || forgettingText !== undefined || (values.adapter !== undefined && values.base === undefined);
  const loaded = values.model !== undefined && needModel ? loadWithAdapter(values.model, values.adapter, dtype) : undefined;
  let after: Result;
  let afterText: TextNll | undefined;
  try {
    if (loaded !== undefined && values.adapter !== undefined && values.base === undefined) {
      // Before = the same weights with the adapter switched off (no second copy of the base).
      setLoraEnabled(loaded.model, false);
      try {
        before = await task(loaded, 'before', opts);
        if (forgettingText !== undefined) beforeText = textNll(loaded, forgettingText, values.forgetting!, 'before');
      } finally {
        setLoraEnabled(loaded.model, true);
      }
    }
    after = await task(loaded, 'after', opts);
    if (forgettingText !== undefined) afterText = textNll(loaded!, forgettingText, values.forgetting!, 'after');
  } finally {
    loaded?.model.dispose();
  }

  let forgetting: ForgettingResult | undefined;
  if (beforeText !== undefined && afterText !== undefined) {
    if (!sameTokens(beforeText.ids, afterText.ids))
      throw new WhetError(`${values.forgetting}: the base and the fine-tuned model tokenise the text differently (${beforeText.ids.length} vs ${afterText.ids.length} tokens); the forgetting check compares NLL on the same tokens`);
    forgetting = forgettingVerdict(beforeText.ppl, afterText.ppl, threshold);
  }

  const result: Result = { ...after };
  if (before !== undefined) {
    result.before = before.score;
    result.after = after.score;
  }
  if (forgetting !== undefined)
    result.forgetting = { before_nll: forgetting.base.nll, after_nll: forgetting.tuned.nll, increase: forgetting.nllIncrease, threshold: forgetting.threshold, verdict: forgetting.verdict, tokens: forgetting.base.tokens };

  let reportFiles: string[] | undefined;
  if (values.report !== undefined) {
    mkdirSync(values.report, { recursive: true });
    const rows: SummaryRow[] = [{ metric: metric === 'ppl' ? `${LABELS.ppl} (nats/token)` : LABELS[metric], before: before?.score ?? null, after: after.score, better: metric === 'ppl' ? 'lower' : 'higher' }];
    if (forgetting !== undefined) rows.push({ metric: 'general-text NLL (forgetting check)', before: forgetting.base.nll, after: forgetting.tuned.nll, better: 'lower' });
    const files = writeReport(values.report, { rows, forgetting });
    reportFiles = [files.markdown, files.html];
  }

  if (values.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
    // Stdout is for the JSON; a failed forgetting check still deserves a line a person sees.
    if (forgetting?.verdict === 'forgot') process.stderr.write(`warning: ${forgettingSummaryLine(forgetting)}\n`);
  } else {
    const lines = [before === undefined ? humanLine(after) : compareLine(before, after)];
    if (forgetting !== undefined) lines.push(forgettingSummaryLine(forgetting) + (forgetting.verdict === 'forgot' ? ` — general-text NLL rose by more than the threshold` : ''));
    if (reportFiles !== undefined) lines.push(`report: ${reportFiles.join(', ')}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  // A "forgot" verdict is a finding about the model, not a failure of the command.
  return 0;
}

/** The metric for one model; the "after" model's predictions may come from --predictions instead. */
async function task(loaded: LoadedModel | undefined, role: Role, o: TaskOptions): Promise<Result> {
  const prefix = role === 'before' ? 'before: ' : o.prefix;
  if (o.metric === 'ppl') {
    const bar = new Progress(`${prefix}eval ppl`, o.examples.length, 'ex');
    const r = targetLoss(loaded!.model, loaded!.tokenizer, o.examples, { batchTokens: o.batchSize * 512, onProgress: (d) => bar.update(d) });
    bar.done();
    if (r.tokens === 0) throw new WhetError(`${o.dataPath}: no target tokens to score`);
    return { metric: o.metric, score: r.nll, n: o.examples.length, nll: r.nll, ppl: r.ppl, tokens: r.tokens, truncated: r.truncated };
  }
  const given = role === 'after' && o.predictions !== undefined;
  const predictions = given ? predictionsFor(o.predictions!, o.data, o.examples.length) : generatePredictions(loaded!, o.examples, { ...o, prefix });
  if (role === 'after' && o.savePredictions !== undefined) writePredictions(o.savePredictions, predictions);
  const bar = new Progress(`${prefix}eval ${o.metric}`, o.examples.length, 'ex');
  const r = await scorePredictions(o.metric as TextMetric, predictions, o.examples, { db: o.db, scorer: o.scorer, sqlTimeoutMs: o.sqlTimeoutMs, onProgress: (d) => bar.update(d) });
  bar.done();
  if (r.n === 0) {
    const first = (r.details?.firstDatasetErrors as { index: number; error: string }[] | undefined)?.[0];
    throw new WhetError(`${o.dataPath}: no example could be scored${first === undefined ? '' : `; every gold query failed, the first (example ${first.index + 1}) with: ${first.error}`}`);
  }
  return { metric: o.metric, score: r.score, n: r.n, ...r.details };
}

interface TextNll {
  ids: number[];
  ppl: PerplexityResult;
}

/** Perplexity on the general text, tokenised as `whet perplexity` does (BOS first, windows of 512). */
function textNll(loaded: LoadedModel, text: string, path: string, role: Role): TextNll {
  const ids = loaded.tokenizer.encode(text, { addBos: true });
  if (ids.length < 2) throw new WhetError(`${path}: too little text (${ids.length} token) for the forgetting check`);
  const bar = new Progress(`${role}: forgetting`, ids.length - 1);
  const ppl = perplexity(loaded.model, ids, FORGETTING_CTX, (d) => bar.update(d));
  bar.done();
  return { ids, ppl };
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The predictions file, which must hold one line per example of the data, or per example of --limit. */
function predictionsFor(path: string, data: ReturnType<typeof readExamples>, wanted: number): string[] {
  const preds = readPredictions(path);
  if (preds.length === wanted) return preds;
  if (preds.length === data.examples.length) return preds.slice(0, wanted);
  const dropped = data.duplicates + data.blank;
  const why = dropped > 0 ? ` (the data's ${data.rows} rows gave ${data.examples.length} examples: ${data.duplicates} exact duplicates and ${data.blank} blank rows are dropped)` : '';
  throw new WhetError(`${path}: ${preds.length} predictions for ${data.examples.length} examples${why}; give one line {"prediction": ...} per example, in data order`);
}

function humanLine(r: Result): string {
  const label = LABELS[r.metric as Metric];
  if (r.metric === 'ppl') return `${label}: nll ${r.score.toFixed(4)} nats/token  perplexity ${(r.ppl as number).toFixed(3)}  (${r.tokens} target tokens in ${r.n} examples)`;
  let line = `${label}: ${r.score.toFixed(4)} over ${r.n} examples`;
  if (r.metric === 'sql') line += sqlCounts(r);
  return line;
}

/** "exact match: 0.2500 → 0.7500 (+0.5000) over 4 examples": before → after. */
function compareLine(before: Result, after: Result): string {
  const label = LABELS[after.metric as Metric];
  const d = after.score - before.score;
  const delta = `${d > 0 ? '+' : ''}${d.toFixed(4)}`;
  if (after.metric === 'ppl')
    return `${label}: nll ${before.score.toFixed(4)} → ${after.score.toFixed(4)} nats/token (${delta})  perplexity ${(before.ppl as number).toFixed(3)} → ${(after.ppl as number).toFixed(3)}  (${after.tokens} target tokens in ${after.n} examples)`;
  let line = `${label}: ${before.score.toFixed(4)} → ${after.score.toFixed(4)} (${delta}) over ${after.n} examples`;
  if (after.metric === 'sql') line += sqlCounts(after);
  return line;
}

function sqlCounts(r: Result): string {
  return `  (${r.correct} correct, ${r.predictionErrors} predictions failed to run, ${r.timeouts} timed out, ${r.datasetErrors} dataset errors)`;
}
