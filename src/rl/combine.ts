// What a reward function is (RewardFn), and several of them combined into a weighted sum whose parts stay visible
// (each part's mean is what the RL trainer logs per step), for one completion or a batch scored concurrently.
import { WhetError } from '../errors.ts';
import type { Prompt } from '../data/preference.ts';

/** A prompt as the data layer reads it: text, or chat turns ({role, content}). */
export type RewardPrompt = Prompt;

/** Scores one completion of a prompt; `example` is the dataset row as read (gold `answer`, `query`, `db_id`, …). */
export type RewardFn = (prompt: RewardPrompt, completion: string, example: Record<string, unknown>) => number | Promise<number>;

export interface NamedReward {
  /** The part's key in RewardScore.parts and in logs. */
  name: string;
  fn: RewardFn;
  /** Default 1. */
  weight?: number;
  /** Frees what the function holds (the SQL reward's query process). */
  close?: () => void;
}

export interface RewardScore {
  /** Σ weight · part, as TRL sums reward functions with reward_weights. */
  total: number;
  parts: Record<string, number>;
}

/** `row` names the row in errors (e.g. 'train.jsonl:12'); without it the prompt's first words do. */
export type CombinedReward = ((prompt: RewardPrompt, completion: string, example: Record<string, unknown>, row?: string) => Promise<RewardScore>) & {
  readonly names: readonly string[];
  close(): void;
};

/** One function scoring a completion with every reward at once (async ones, e.g. SQL, run concurrently). */
export function combineRewards(rewards: readonly NamedReward[]): CombinedReward {
  if (rewards.length === 0) throw new WhetError('no reward functions given');
  const seen = new Set<string>();
  for (const r of rewards) {
    if (seen.has(r.name)) throw new WhetError(`reward '${r.name}' is listed twice`);
    seen.add(r.name);
    if (r.weight !== undefined && !Number.isFinite(r.weight)) throw new WhetError(`reward '${r.name}': weight ${r.weight} is not a finite number`);
  }
  const score = async (prompt: RewardPrompt, completion: string, example: Record<string, unknown>, row?: string): Promise<RewardScore> => {
    const where = row ?? describeRow(prompt);
    const values = await Promise.all(rewards.map((r) => callReward(r, prompt, completion, example, where)));
    const parts: Record<string, number> = {};
    let total = 0;
    rewards.forEach((r, i) => {
      parts[r.name] = values[i]!;
      total += (r.weight ?? 1) * values[i]!;
    });
    return { total, parts };
  };
  return Object.assign(score, { names: rewards.map((r) => r.name), close: () => rewards.forEach((r) => r.close?.()) });
}

/** A step's rewards, one column per completion: the totals, and each reward's values under its name. */
export interface BatchScores {
  total: number[];
  parts: Record<string, number[]>;
}

/** `where` names each row in errors (e.g. 'train.jsonl:12'). */
export type BatchReward = ((prompts: readonly RewardPrompt[], completions: readonly string[], rows: readonly Record<string, unknown>[], where?: readonly string[]) => Promise<BatchScores>) & {
  readonly names: readonly string[];
  close(): void;
};

/** The combined reward over a batch (a GRPO step's completions), every completion scored concurrently. */
export function batchReward(reward: CombinedReward): BatchReward {
  const score = async (prompts: readonly RewardPrompt[], completions: readonly string[], rows: readonly Record<string, unknown>[], where?: readonly string[]): Promise<BatchScores> => {
    if (prompts.length !== completions.length || rows.length !== completions.length) throw new Error(`batchReward: ${prompts.length} prompts, ${completions.length} completions, ${rows.length} rows`);
    const scores = await Promise.all(completions.map((c, i) => reward(prompts[i]!, c, rows[i]!, where?.[i])));
    const parts = Object.fromEntries(reward.names.map((name) => [name, scores.map((s) => s.parts[name]!)]));
    return { total: scores.map((s) => s.total), parts };
  };
  return Object.assign(score, { names: reward.names, close: () => reward.close() });
}

async function callReward(r: NamedReward, prompt: RewardPrompt, completion: string, example: Record<string, unknown>, where: string): Promise<number> {
  let raw: unknown;
  try {
    raw = await r.fn(prompt, completion, example);
  } catch (e) {
    throw new WhetError(`reward '${r.name}' failed on ${where}: ${(e as Error).message}`);
  }
  // Booleans count as 1/0, as they do for eval's scorers and in Python (True + 0.5 == 1.5).
  const value = typeof raw === 'boolean' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new WhetError(`reward '${r.name}' returned ${describeValue(raw)} for ${where}; a reward must be a finite number`);
  return value;
}

function describeValue(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 40))}`;
  return v === null ? 'null' : v === undefined ? 'undefined' : `a value of type ${typeof v}`;
}

function describeRow(prompt: RewardPrompt): string {
  const text = (typeof prompt === 'string' ? prompt : prompt.at(-1)?.content ?? '').replace(/\s+/g, ' ').trim();
  return `the row whose prompt ${typeof prompt === 'string' ? 'begins' : 'ends with a turn beginning'} ${JSON.stringify(text.slice(0, 50))}`;
}
