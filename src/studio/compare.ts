// Compare: each model's greedy answer to every holdout prompt, scored with eval's task metric (exact, normalized,
// SQL execution, a scorer module) and, given a reward model, its reward; a person's pick of the better answer is
// appended to the rankings file.
import type { Example } from '../data/formats.ts';
import type { Prompt } from '../data/preference.ts';
import { defaultStopStrings, evalPrompt, referenceOf } from '../eval/predict.ts';
import { scorePredictions, type ScoreOptions, type TextMetric } from '../eval/score.ts';
import { judgeAnswers } from '../eval/win-rate.ts';
import { modelContext } from '../model/context.ts';
import type { LoadedModel } from '../model/load.ts';
import type { ServingEngine } from '../serve/types.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import type { Source } from './candidates.ts';
import { appendDurable, promptField } from './rankings-file.ts';

export interface CompareAnswer {
  source: string;
  text: string;
  /** The task metric of this answer (1/0 for exact and SQL), null where the metric leaves the example out. */
  score: number | null;
  /** The reward model's score of this answer to its prompt (with a reward model). */
  reward?: number;
}

export interface CompareRow {
  prompt: Prompt;
  reference: string;
  answers: CompareAnswer[];
}

export interface CompareTable {
  metric: string;
  /** Each model's mean task metric, and its mean reward with a reward model. */
  sources: { name: string; score: number; reward?: number }[];
  rows: CompareRow[];
}

/** Requests handed to the engine at once (its queue is bounded). */
const CHUNK = 64;

/** What the prompt of an example is: its text, or its conversation up to the last user turn. */
function promptOf(e: Example): Prompt {
  if (e.kind === 'completion') return e.prompt;
  let last = e.messages.length - 1;
  while (last > 0 && e.messages[last]!.role !== 'user') last--;
  return e.messages.slice(0, last + 1).map((m) => ({ role: m.role, content: m.content }));
}

export async function compareModels(
  engine: ServingEngine, tokenizer: Tokenizer, examples: readonly Example[], sources: readonly Source[],
  o: { metric: TextMetric; maxTokens: number; stop?: string[]; score: ScoreOptions; judge?: LoadedModel; onProgress: (done: number, total: number) => void },
): Promise<CompareTable> {
  const ids = examples.map((e, i) => evalPrompt(e, tokenizer, i).ids);
  const stop = o.stop ?? defaultStopStrings(examples, tokenizer);
  const total = examples.length * sources.length;
  let done = 0;
  const answers: string[][] = [];
  for (const src of sources) {
    const texts: string[] = [];
    for (let at = 0; at < ids.length; at += CHUNK) {
      const chunk = await Promise.all(ids.slice(at, at + CHUNK).map(async (prompt) => {
        const r = await engine.generate({ adapter: src.adapter, prompt, n: 1, maxTokens: o.maxTokens, temperature: 0, topP: 1, stop });
        o.onProgress(++done, total);
        return r.choices[0]!.text;
      }));
      texts.push(...chunk);
    }
    answers.push(texts);
  }
  const scores: Awaited<ReturnType<typeof scorePredictions>>[] = [];
  for (const texts of answers) scores.push(await scorePredictions(o.metric, texts, examples, o.score));
  const prompts = examples.map(promptOf);
  // Every answer judged in one pass (the same prompt and answer from two models scores the same).
  const rewards = o.judge === undefined ? undefined
    : judgeAnswers(o.judge, sources.flatMap(() => prompts), answers.flat(), { maxLength: modelContext(o.judge.config), batchRows: 16 }).rewards;
  const reward = (j: number, i: number): number | undefined => rewards?.[j * examples.length + i];
  const meanReward = (j: number): number | undefined => (rewards === undefined ? undefined : examples.reduce((a, _, i) => a + reward(j, i)!, 0) / examples.length);
  return {
    metric: o.metric,
    sources: sources.map((s, j) => ({ name: s.name, score: scores[j]!.score, reward: meanReward(j) })),
    rows: examples.map((e, i) => ({
      prompt: prompts[i]!,
      reference: referenceOf(e, i),
      answers: sources.map((s, j) => ({ source: s.name, text: answers[j]![i]!, score: scores[j]!.perExample[i] ?? null, reward: reward(j, i) })),
    })),
  };
}

/** The picked answer ranked over each other distinct answer of the row (two-answer rankings); returns the rows written. */
export function appendPick(out: string, annotator: string, row: CompareRow, picked: number): number {
  const chosen = row.answers[picked]!;
  const time = new Date().toISOString();
  const rows = row.answers.filter((a) => a.text !== chosen.text).map((a) => ({
    ...promptField(row.prompt), responses: [chosen.text, a.text], ranking: [0, 1], annotator, model_of_response: [chosen.source, a.source], time,
  }));
  if (rows.length > 0) appendDurable(out, rows);
  return rows.length;
}
