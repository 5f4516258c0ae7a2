// `whet eval`: scores a model (or a file of its predictions) on a dataset: exact/normalised match, SQL execution
// accuracy, a user scorer, or the holdout loss (ppl) of the data's target tokens.
import { parseArgs } from 'node:util';
import { WhetError } from '../errors.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { loadAdapter } from '../adapters/peft.ts';
import { readExamples } from '../data/read.ts';
import type { Example } from '../data/formats.ts';
import { defaultStopStrings, evalPrompt, predict, readPredictions, writePredictions } from '../eval/predict.ts';
import { scorePredictions, type TextMetric } from '../eval/score.ts';
import { targetLoss } from '../eval/target-loss.ts';
import { choiceFlag, numberFlag, requireFlag } from './args.ts';
import { UsageError } from './errors.ts';
import { Progress } from './progress.ts';

const METRICS = ['exact', 'normalized', 'sql', 'ppl', 'scorer'] as const;

const LABELS: Record<(typeof METRICS)[number], string> = {
  exact: 'exact match',
  normalized: 'normalised match',
  sql: 'SQL execution accuracy',
  ppl: 'holdout loss',
  scorer: 'scorer mean',
};

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      adapter: { type: 'string' },
      data: { type: 'string' },
      metric: { type: 'string' },
      scorer: { type: 'string' },
      db: { type: 'string' },
      predictions: { type: 'string' },
      'save-predictions': { type: 'string' },
      'max-tokens': { type: 'string', default: '256' },
      stop: { type: 'string', multiple: true },
      limit: { type: 'string' },
      'batch-size': { type: 'string', default: '8' },
      'sql-timeout': { type: 'string', default: '10' },
      dtype: { type: 'string', default: 'f32' },
      json: { type: 'boolean', default: false },
    },
  });
  const metric = requireFlag(choiceFlag(values.metric, 'metric', METRICS), 'metric');
  const dataPath = requireFlag(values.data, 'data');
  const maxTokens = numberFlag(values['max-tokens'], 'max-tokens', { integer: true, min: 1 })!;
  const limit = numberFlag(values.limit, 'limit', { integer: true, min: 1 });
  const batchSize = numberFlag(values['batch-size'], 'batch-size', { integer: true, min: 1 })!;
  const sqlTimeout = numberFlag(values['sql-timeout'], 'sql-timeout', { min: 0.001 })!;
  const dtype = choiceFlag(values.dtype, 'dtype', ['f32', 'bf16'] as const)!;
  if (metric === 'scorer' && values.scorer === undefined) throw new UsageError('--metric scorer needs --scorer MODULE (.js, .mjs or .ts; default export (prediction, example) => number | boolean)');
  if (metric === 'sql' && values.db === undefined) throw new UsageError('--metric sql needs --db (a .sqlite file, or a folder of <db_id>/<db_id>.sqlite)');
  if (metric === 'ppl' && values.predictions !== undefined) throw new UsageError('--metric ppl scores the model itself; --predictions does not apply');
  if (values.predictions === undefined && values.model === undefined) throw new UsageError('--model is required (or --predictions, to score predictions made elsewhere)');
  if (values.adapter !== undefined && values.model === undefined) throw new UsageError('--adapter needs --model (its base)');

  const data = readExamples(dataPath);
  const all = data.examples;
  const examples = limit === undefined ? all : all.slice(0, limit);
  const loaded = values.model === undefined || (values.predictions !== undefined && metric !== 'ppl') ? undefined : load(values.model, values.adapter, dtype);

  let result: { metric: string; score: number; n: number; [extra: string]: unknown };
  if (metric === 'ppl') {
    const bar = new Progress('eval ppl', examples.length, 'ex');
    const r = targetLoss(loaded!.model, loaded!.tokenizer, examples, { batchSize, onProgress: (d) => bar.update(d) });
    bar.done();
    if (r.tokens === 0) throw new WhetError(`${dataPath}: no target tokens to score`);
    result = { metric, score: r.nll, n: examples.length, nll: r.nll, ppl: r.ppl, tokens: r.tokens, truncated: r.truncated };
  } else {
    const predictions = values.predictions !== undefined ? predictionsFor(values.predictions, data, examples.length) : generatePredictions(loaded!, examples, { maxTokens, batchSize, stop: values.stop });
    if (values['save-predictions'] !== undefined) writePredictions(values['save-predictions'], predictions);
    const bar = new Progress(`eval ${metric}`, examples.length, 'ex');
    const r = await scorePredictions(metric as TextMetric, predictions, examples, { db: values.db, scorer: values.scorer, sqlTimeoutMs: sqlTimeout * 1000, onProgress: (d) => bar.update(d) });
    bar.done();
    if (r.n === 0) {
      const first = (r.details?.firstDatasetErrors as { index: number; error: string }[] | undefined)?.[0];
      throw new WhetError(`${dataPath}: no example could be scored${first === undefined ? '' : `; every gold query failed, the first (example ${first.index + 1}) with: ${first.error}`}`);
    }
    result = { metric, score: r.score, n: r.n, ...r.details };
  }
  loaded?.model.dispose();

  if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(humanLine(result) + '\n');
  return 0;
}

function load(modelPath: string, adapterDir: string | undefined, dtype: 'f32' | 'bf16'): LoadedModel {
  const loaded = loadModel(modelPath, { dtype });
  if (adapterDir !== undefined) loadAdapter(adapterDir, loaded.model);
  return loaded;
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

function generatePredictions(loaded: LoadedModel, examples: readonly Example[], opts: { maxTokens: number; batchSize: number; stop?: string[] }): string[] {
  const prompts = examples.map((e, i) => evalPrompt(e, loaded.tokenizer, i));
  const bar = new Progress('generate', examples.length, 'ex');
  const preds = predict(loaded.model, loaded.tokenizer, prompts, {
    maxTokens: opts.maxTokens,
    batchSize: opts.batchSize,
    stopStrings: opts.stop ?? defaultStopStrings(examples, loaded.tokenizer),
    onProgress: (d) => bar.update(d),
  });
  bar.done();
  return preds;
}

function humanLine(r: { metric: string; score: number; n: number; [extra: string]: unknown }): string {
  const label = LABELS[r.metric as (typeof METRICS)[number]];
  if (r.metric === 'ppl') return `${label}: nll ${r.score.toFixed(4)} nats/token  perplexity ${(r.ppl as number).toFixed(3)}  (${r.tokens} target tokens in ${r.n} examples)`;
  let line = `${label}: ${r.score.toFixed(4)} over ${r.n} examples`;
  if (r.metric === 'sql') line += `  (${r.correct} correct, ${r.predictionErrors} predictions failed to run, ${r.timeouts} timed out, ${r.datasetErrors} dataset errors)`;
  return line;
}
