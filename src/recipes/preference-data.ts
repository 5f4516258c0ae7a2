// Preference data for the reward, DPO and KTO recipes: the file read (bad rows stop the run with their lines),
// a seeded holdout split that keeps a ranking's pairs on one side, and tokenisation that reports the pairs it
// cannot train on (prompt cut off by max_length, prompt tokens differing) instead of training on them silently.
import { WhetError } from '../errors.ts';
import { readPreferenceData, type Feedback, type PreferencePair } from '../data/preference.ts';
import { tokenizeFeedback, tokenizePair, type TokenizedFeedback, type TokenizedPair } from '../data/preference-tokenize.ts';
import { splitExamples } from '../data/read.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import type { TrainConfig } from './train-config.ts';

type Options = Pick<TrainConfig, 'data' | 'holdout' | 'holdout_fraction' | 'seed' | 'max_length'> & { template?: string };

/**
 * The file's valid rows; invalid ones are reported with their line and field and left out. Real preference sets
 * carry a few rows that cannot be pairs (HH-RLHF has dialogues that differ before their last turn).
 */
function readChecked(path: string, log: (line: string) => void): ReturnType<typeof readPreferenceData> {
  const d = readPreferenceData(path);
  if (d.errorCount === d.rows) throw new WhetError(`${path}: no valid preference row, e.g.\n  ${d.errors.slice(0, 5).join('\n  ')}`);
  if (d.errorCount > 0) log(`${path}: ${d.errorCount} of ${d.rows} rows left out as invalid, e.g.\n  ${d.errors.slice(0, 5).join('\n  ')}\n(run 'whet data validate ${path}' for the full list)`);
  return d;
}

/** Items in units that stay together: one item each, or all the items of one group (a ranking's pairs), in first-seen order. */
export function groupUnits<T extends object & { group?: number }>(items: readonly T[]): T[][] {
  const units: T[][] = [];
  const byGroup = new Map<number, T[]>();
  for (const item of items) {
    if (item.group === undefined) units.push([item]);
    else if (byGroup.has(item.group)) byGroup.get(item.group)!.push(item);
    else byGroup.set(item.group, units[units.push([item]) - 1]!);
  }
  return units;
}

/** Items split into train and holdout as whole units (a ranking's pairs share a unit), from --holdout or a seeded fraction. */
function splitUnits<T extends object & { group?: number }>(items: T[], holdoutItems: T[] | undefined, o: Options): { train: T[]; holdout: T[] } {
  if (holdoutItems !== undefined) return { train: items, holdout: holdoutItems };
  const units = groupUnits(items);
  if (!(o.holdout_fraction > 0 && units.length >= 20)) return { train: items, holdout: [] };
  const split = splitExamples(units, o.holdout_fraction, o.seed);
  return { train: split.train.flat(), holdout: split.holdout.flat() };
}

/** Tokenises items, dropping (and reporting) those that cannot be trained on. */
function tokenizeAll<T, R>(items: readonly T[], what: string, file: string, tok: (item: T) => R, log: (line: string) => void): R[] {
  const out: R[] = [];
  const reasons = new Map<string, number>();
  for (const item of items) {
    try {
      out.push(tok(item));
    } catch (e) {
      const reason = (e as Error).message;
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
  }
  for (const [reason, n] of reasons) log(`${file}: skipped ${n} ${what}: ${reason}`);
  return out;
}

export interface PairData {
  train: TokenizedPair[];
  holdout: TokenizedPair[];
}

/** Preference pairs (pairs, rankings expanded) for reward models and DPO, tokenised on shared prompt tokens. */
export function preferencePairs(o: Options, tokenizer: Tokenizer, log: (line: string) => void): PairData {
  const read = (path: string): PreferencePair[] => {
    const d = readChecked(path, log);
    if (d.pairs.length === 0) throw new WhetError(`${path}: no preference pairs (${d.feedback.length} thumbs up/down rows: those train with --method kto)`);
    if (d.feedback.length > 0) log(`${path}: ${d.feedback.length} thumbs up/down rows ignored (pairs only)`);
    return d.pairs;
  };
  const { train, holdout } = splitUnits(read(o.data), o.holdout === undefined ? undefined : read(o.holdout), o);
  const tok = (p: PreferencePair): TokenizedPair => tokenizePair(p, tokenizer, { template: o.template, maxLength: o.max_length });
  const data = { train: tokenizeAll(train, 'pairs', o.data, tok, log), holdout: tokenizeAll(holdout, 'holdout pairs', o.holdout ?? o.data, tok, log) };
  if (data.train.length === 0) throw new WhetError(`${o.data}: no pair is left to train on`);
  return data;
}

export interface FeedbackData {
  train: TokenizedFeedback[];
  holdout: TokenizedFeedback[];
  /** Per example, the same prompt with another example's answer: KTO's KL reference point. */
  trainMismatched: TokenizedFeedback[];
  holdoutMismatched: TokenizedFeedback[];
}

/**
 * Thumbs up/down for KTO; pairs count as one answer up and one down (TRL's unpairing). Each example also gets a
 * mismatched twin, its prompt with the answer of the example half-way round the set, as TRL builds its KL set.
 */
export function feedbackExamples(o: Options, tokenizer: Tokenizer, log: (line: string) => void): FeedbackData {
  // A pair's two answers stay on one side of the split (so do a ranking's).
  const read = (path: string): (Feedback & { group?: number })[] => {
    const d = readChecked(path, log);
    const unpaired = d.pairs.flatMap((p, i) => {
      const group = p.group ?? -1 - i;
      return [{ prompt: p.prompt, completion: p.chosen, label: true, group }, { prompt: p.prompt, completion: p.rejected, label: false, group }];
    });
    return [...d.feedback, ...unpaired];
  };
  const { train, holdout } = splitUnits(read(o.data), o.holdout === undefined ? undefined : read(o.holdout), o);
  const tok = (f: Feedback): TokenizedFeedback => tokenizeFeedback(f, tokenizer, { template: o.template, maxLength: o.max_length });
  const withTwins = (items: Feedback[], file: string, what: string): [TokenizedFeedback[], TokenizedFeedback[]] => {
    const kept = tokenizeAll(items.map((f, i) => ({ f, i })), what, file, ({ f }) => ({ f, t: tok(f) }), log);
    const twins = kept.map(({ f }, k) => {
      // Half-way round, not the neighbour: an unpaired pair's two answers sit side by side with one prompt.
      const other = kept[(k + Math.floor(kept.length / 2)) % kept.length]!.f;
      try {
        return tok({ prompt: f.prompt, completion: other.completion, label: f.label });
      } catch {
        return tok({ prompt: f.prompt, completion: f.completion, label: f.label }); // the twin's prompt fills max_length: fall back to its own answer
      }
    });
    return [kept.map(({ t }) => t), twins];
  };
  const [trainT, trainM] = withTwins(train, o.data, 'answers');
  const [holdT, holdM] = withTwins(holdout, o.holdout ?? o.data, 'holdout answers');
  if (trainT.length === 0) throw new WhetError(`${o.data}: no answer is left to train on`);
  if (!trainT.some((t) => t.label) || !trainT.some((t) => !t.label)) log(`${o.data}: every answer is ${trainT[0]!.label ? 'desirable' : 'undesirable'}; KTO learns from both kinds`);
  return { train: trainT, holdout: holdT, trainMismatched: trainM, holdoutMismatched: holdM };
}
