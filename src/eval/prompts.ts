// Prompts to answer, from any file eval reads: preference rows (pairs, rankings, thumbs), training examples (the
// prompt before the reference answer), or bare {prompt} rows (text or messages); distinct prompts, in file order.
import { WhetError } from '../errors.ts';
import { FieldError, has, object, parseRow, turns, type Example } from '../data/formats.ts';
import { parsePreferenceRow, PREFERENCE_KEYS, type Prompt } from '../data/preference.ts';
import { answerExample } from '../data/preference-tokenize.ts';
import { readRawRows } from '../data/read.ts';

export interface PromptItem {
  prompt: Prompt;
  /** The row's good answer when it has one (a pair's chosen, an example's completion): only hints at stop strings. */
  reference?: string;
  /** `file:17`: the row it came from (the first, for a prompt that repeats). */
  where: string;
  /** The row as read: its other fields (a gold answer, a database id) reach RL's reward functions. */
  row: Record<string, unknown>;
}

export interface PromptSet {
  items: PromptItem[];
  rows: number;
  /** Rows whose prompt an earlier row already had. */
  repeated: number;
  /** Rows left out as invalid (as training leaves them out), and the first few as `file:line: field 'x': problem`. */
  errorCount: number;
  errors: string[];
}

/** Reads a file's prompts; bad rows are counted and described (an error only when no row is good). */
export function readPrompts(path: string): PromptSet {
  const rows = readRawRows(path);
  const items: PromptItem[] = [];
  const seen = new Set<string>();
  const errors: string[] = [];
  let errorCount = 0;
  let repeated = 0;
  rows.forEach((row, index) => {
    let item: Omit<PromptItem, 'where' | 'row'>;
    try {
      if (row.error !== undefined) throw new FieldError('', row.error);
      item = promptOf(row.value, index);
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      if (++errorCount <= 10) errors.push(`${row.where}: ${e.message}`);
      return;
    }
    const key = JSON.stringify(item.prompt);
    if (seen.has(key)) {
      repeated++;
      return;
    }
    seen.add(key);
    items.push({ ...item, where: row.where, row: row.value as Record<string, unknown> });
  });
  if (items.length === 0) throw new WhetError(`${path}: no prompts${errorCount > 0 ? `; every row is invalid, e.g.\n  ${errors.slice(0, 5).join('\n  ')}` : ''}`);
  return { items, rows: rows.length, repeated, errorCount, errors };
}

function promptOf(value: unknown, index: number): Omit<PromptItem, 'where' | 'row'> {
  const row = object(value, '');
  if (PREFERENCE_KEYS.some((k) => has(row, k))) {
    const parsed = parsePreferenceRow(row, index);
    if ('feedback' in parsed) return { prompt: parsed.feedback.prompt, ...(parsed.feedback.label ? { reference: parsed.feedback.completion } : {}) };
    // A ranking's pairs share one prompt; its first pair's chosen answer is the best one.
    return { prompt: parsed.pairs[0]!.prompt, reference: parsed.pairs[0]!.chosen };
  }
  // A bare prompt: nothing to compare with, only something to answer.
  if (has(row, 'prompt') && !has(row, 'completion')) {
    if (typeof row.prompt === 'string') return { prompt: row.prompt };
    if (!Array.isArray(row.prompt)) throw new FieldError('prompt', 'expected text or a list of messages');
    const t = turns(row.prompt, 'prompt', { weightless: true });
    if (t.at(-1)?.role !== 'user') throw new FieldError('prompt', 'the prompt must end with a user turn');
    return { prompt: t };
  }
  if (Array.isArray(row.messages) && (row.messages.at(-1) as { role?: unknown } | undefined)?.role === 'user') return { prompt: turns(row.messages, 'messages', { weightless: true }) };
  return exampleItem(parseRow(row).example);
}

/** A training example's prompt: a completion's text, or a conversation up to its last user turn; its answer is the reference. */
function exampleItem(e: Example): Omit<PromptItem, 'where' | 'row'> {
  if (e.kind === 'completion') return { prompt: e.prompt, reference: e.completion };
  let last = e.messages.length - 1;
  while (last >= 0 && e.messages[last]!.role !== 'user') last--;
  if (last < 0) throw new FieldError('messages', 'no user turn to answer');
  const answer = e.messages.slice(last + 1).find((m) => m.role === 'assistant');
  return { prompt: e.messages.slice(0, last + 1), ...(answer !== undefined ? { reference: answer.content } : {}) };
}

/** The prompt as an Example whose answer is the reference (or empty): what evalPrompt and defaultStopStrings take. */
export function promptExample(item: PromptItem): Example {
  return answerExample(item.prompt, item.reference ?? '');
}
