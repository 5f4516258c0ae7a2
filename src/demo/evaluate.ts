// One model's score on the demo's holdout: greedy SQL for every request, its execution accuracy against the house's
// gold query on the shop database (real SQLite, through eval's SQL metric), and the share of answers in house style.
import type { Example } from '../data/formats.ts';
import type { LoadedModel } from '../model/load.ts';
import { defaultStopStrings, evalPrompt, predict } from '../eval/predict.ts';
import { executionAccuracy } from '../eval/sql.ts';
import type { DemoRequest } from './dataset.ts';
import { isHouseStyle } from './sql-style.ts';

export interface HoldoutScore {
  /** Execution accuracy, 0..1. */
  accuracy: number;
  correct: number;
  n: number;
  /** Share of answers that run on the database and follow every house rule, 0..1. */
  houseStyle: number;
  /** Share of answers that are correct and in house style. */
  correctHouseStyle: number;
  predictions: string[];
  perExample: (number | null)[];
}

export interface Ticker {
  update(done: number): void;
  done(): void;
}

/** Chat examples of the requests, their gold answers in house style. */
export function holdoutExamples(requests: readonly DemoRequest[]): Example[] {
  return requests.map((r) => ({ kind: 'chat', messages: [{ role: 'user', content: r.request }, { role: 'assistant', content: r.houseSql }] }));
}

/** Scores the loaded model (with whatever adapter it carries) on the requests; ticks once per generated and per scored example. */
export async function scoreHoldout(loaded: LoadedModel, requests: readonly DemoRequest[], db: string, opts: { maxTokens: number; batchSize: number; ticker?: Ticker }): Promise<HoldoutScore> {
  const examples = holdoutExamples(requests);
  const prompts = examples.map((e, i) => evalPrompt(e, loaded.tokenizer, i));
  const predictions = predict(loaded.model, loaded.tokenizer, prompts, {
    maxTokens: opts.maxTokens,
    batchSize: opts.batchSize,
    stopStrings: defaultStopStrings(examples, loaded.tokenizer),
    onProgress: (d) => opts.ticker?.update(d),
  }).map((p) => p.trim());
  const items = requests.map((r, i) => ({ prediction: predictions[i]!, gold: r.houseSql, db }));
  const r = await executionAccuracy(items, { timeoutMs: 5000, onProgress: (d) => opts.ticker?.update(examples.length + d) });
  opts.ticker?.done();
  // House style counts queries that run: text that only looks like house SQL is not a query in any style.
  const house = r.perExample.map((x, i) => (x.outcome === 'correct' || x.outcome === 'wrong') && isHouseStyle(predictions[i]!));
  const share = (xs: boolean[]): number => (xs.length === 0 ? 0 : xs.filter(Boolean).length / xs.length);
  return {
    accuracy: r.score,
    correct: r.correct,
    n: r.n,
    houseStyle: share(house),
    correctHouseStyle: share(house.map((h, i) => h && r.perExample[i]!.outcome === 'correct')),
    predictions,
    perExample: r.perExample.map((x) => (x.outcome === 'dataset-error' ? null : Number(x.outcome === 'correct'))),
  };
}
