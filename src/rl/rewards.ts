// Rewards for RL from specs as the CLI takes them, `NAME[:ARG][@WEIGHT]`, combined into one weighted sum:
//   exact[:FIELD]       1 when the completion, trimmed, equals the row's FIELD, trimmed (default: answer, else completion)
//   normalized[:FIELD]  the same after SQuAD normalisation (case, punctuation, articles, spacing)
//   regex:PATTERN       1 when the completion matches PATTERN (JavaScript syntax, unanchored unless ^…$);
//                       regex:/PATTERN/FLAGS to give flags (i m s u v), e.g. regex:/^<think>.*<\/think>/s
//   sql:DB              1 when the completion's first SQL statement (out of a ``` fence if any) returns the rows of the
//                       row's gold query (query, else answer, else completion) on DB: a .sqlite file, or a folder of
//                       Spider databases picked by the row's db_id; wrong, failing or timed-out queries score 0
//   file:PATH           the default export of a user's module (.ts/.mts/.cts/.js/.mjs/.cjs): (prompt, completion, row) => number
//   …@WEIGHT            a trailing @ and a number weighs the reward (default 1); total = Σ weight · reward, like TRL's
//                       reward_weights. An ARG that itself ends in @ and a number needs a weight after it: regex:a@2@1.
// A reward's name (its key in the parts and the logs) is its spec without the weight.
import { WhetError } from '../errors.ts';
import { loadDefaultFunction } from '../eval/user-module.ts';
import { exactReward, normalizedReward, regexReward, sqlReward } from './builtin-rewards.ts';
import { batchReward, combineRewards, type BatchReward, type CombinedReward, type NamedReward, type RewardFn } from './combine.ts';

// Each reward's ARG, as its error messages name it.
const ARGS = { exact: 'FIELD', normalized: 'FIELD', regex: 'PATTERN', sql: 'DB', file: 'PATH' } as const;
type Kind = keyof typeof ARGS;
const KINDS = Object.keys(ARGS) as Kind[];

export interface RewardSpec {
  kind: Kind;
  /** What follows the ':' ('' when nothing does). */
  arg: string;
  weight: number;
  name: string;
}

export interface RewardSpecOptions {
  /** sql: per-query time limit, milliseconds. */
  sqlTimeoutMs?: number;
}

const WEIGHT = /@([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)$/i;
const REGEX_LITERAL = /^\/(.*)\/([a-z]*)$/s;

/** The default export of a user's module (.ts/.mts/.cts through tsx, or .js/.mjs/.cjs); the same loader as eval's scorers. */
export async function loadRewardFunction(path: string): Promise<RewardFn> {
  return (await loadDefaultFunction(path, 'reward function', '(prompt, completion, example) => number')) as RewardFn;
}

export function parseRewardSpec(spec: string): RewardSpec {
  const w = WEIGHT.exec(spec);
  const name = w === null ? spec : spec.slice(0, w.index);
  const colon = name.indexOf(':');
  const kind = colon === -1 ? name : name.slice(0, colon);
  const arg = colon === -1 ? '' : name.slice(colon + 1);
  if (!KINDS.includes(kind as Kind)) {
    const hint = kind.includes('@') ? ' (a weight is @ and a number, e.g. exact@0.5)' : '';
    throw new WhetError(`reward spec '${spec}': unknown reward '${kind}'; one of ${KINDS.join(', ')}${hint}`);
  }
  // exact and normalized may go without an ARG, not with an empty one.
  if (arg === '' && (colon !== -1 || kind === 'regex' || kind === 'sql' || kind === 'file')) throw new WhetError(`reward spec '${spec}': ${kind} needs ${kind}:${ARGS[kind as Kind]}`);
  return { kind: kind as Kind, arg, weight: w === null ? 1 : Number(w[1]), name };
}

/** The reward one spec describes (a user module is imported, an SQL database checked). */
export async function rewardFromSpec(spec: string, opts: RewardSpecOptions = {}): Promise<NamedReward> {
  const s = parseRewardSpec(spec);
  try {
    const base = { name: s.name, weight: s.weight };
    switch (s.kind) {
      case 'exact':
        return { ...base, fn: exactReward(s.arg === '' ? undefined : [s.arg]) };
      case 'normalized':
        return { ...base, fn: normalizedReward(s.arg === '' ? undefined : [s.arg]) };
      case 'regex':
        return { ...base, fn: regexReward(compilePattern(s.arg)) };
      case 'sql':
        return { ...base, ...sqlReward({ db: s.arg, timeoutMs: opts.sqlTimeoutMs }) };
      case 'file':
        return { ...base, fn: await loadRewardFunction(s.arg) };
    }
  } catch (e) {
    if (!(e instanceof WhetError)) throw e;
    throw new WhetError(`reward spec '${spec}': ${e.message}`);
  }
}

/** One function scoring a completion with every spec's reward; close() it when training ends. */
export async function rewardsFromSpecs(specs: readonly string[], opts: RewardSpecOptions = {}): Promise<CombinedReward> {
  const rewards: NamedReward[] = [];
  try {
    for (const spec of specs) rewards.push(await rewardFromSpec(spec, opts));
    return combineRewards(rewards);
  } catch (e) {
    rewards.forEach((r) => r.close?.());
    throw e;
  }
}

/** The same over a batch of completions, as the RL trainer scores a step. */
export async function rewardFunctions(specs: readonly string[], opts: RewardSpecOptions = {}): Promise<BatchReward> {
  return batchReward(await rewardsFromSpecs(specs, opts));
}

function compilePattern(arg: string): RegExp {
  const literal = REGEX_LITERAL.exec(arg);
  const [source, flags] = literal === null ? [arg, ''] : [literal[1]!, literal[2]!];
  try {
    return new RegExp(source, flags);
  } catch (e) {
    throw new WhetError(`bad pattern: ${(e as Error).message}`);
  }
}
