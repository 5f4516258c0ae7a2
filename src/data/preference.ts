// Preference data: paired answers (TRL explicit and implicit-prompt, Anthropic HH-RLHF text dialogues, OpenAI's
// preference format, LLaMA-Factory's), rankings of k answers expanded into k(k−1)/2 pairs, and unpaired thumbs
// up/down for KTO — each row normalised to a prompt (turns or text) and answers, with errors naming the field.
import { FieldError, has, list, object, SHAREGPT_ROLES, str, turns, typeName, type ChatTurn, type Row } from './formats.ts';
import { readRawRows } from './read.ts';

/** Everything before the answer: a conversation ending in a user turn, or plain text. */
export type Prompt = ChatTurn[] | string;

export interface PreferencePair {
  prompt: Prompt;
  chosen: string;
  rejected: string;
  /** Pairs expanded from one ranking share its row's group, so they can be kept in one batch. */
  group?: number;
  /** How much better the chosen answer was rated (TRL's margin column): the reward model's loss wants at least this gap. */
  margin?: number;
}

export interface Feedback {
  prompt: Prompt;
  completion: string;
  /** true: a desirable answer (thumbs up). */
  label: boolean;
}

export const PREFERENCE_FORMATS = ['paired', 'paired-messages', 'implicit-prompt', 'hh-rlhf', 'openai', 'llamafactory', 'ranking', 'feedback'] as const;
export type PreferenceFormat = (typeof PREFERENCE_FORMATS)[number];

export type PreferenceRow = { format: PreferenceFormat; pairs: PreferencePair[] } | { format: 'feedback'; feedback: Feedback };

/** The answer in a list of messages: exactly one assistant turn. */
function answerTurn(items: unknown, field: string): string {
  if (!Array.isArray(items)) throw new FieldError(field, `expected a list of messages, got ${typeName(items)}`);
  const t = turns(list({ [field]: items }, field), field, { weightless: true });
  if (t.length !== 1 || t[0]!.role !== 'assistant') throw new FieldError(field, 'expected exactly one assistant message');
  return t[0]!.content;
}

/** A prompt's messages: non-empty, ending with a user turn (the answer comes next). */
function promptTurns(items: unknown, field: string): ChatTurn[] {
  const t = turns(list({ [field]: items }, field), field, { weightless: true });
  if (t[t.length - 1]!.role !== 'user') throw new FieldError(field, 'the prompt must end with a user turn');
  return t;
}

/** Anthropic HH-RLHF's text dialogue ("\n\nHuman: …\n\nAssistant: …") as turns. */
function hhTurns(text: string, field: string): ChatTurn[] {
  const parts = text.split(/\n\n(Human|Assistant): /);
  if (parts[0]!.trim() !== '' || parts.length < 3) throw new FieldError(field, "expected a dialogue of '\\n\\nHuman: …' and '\\n\\nAssistant: …' turns");
  const out: ChatTurn[] = [];
  for (let i = 1; i < parts.length; i += 2) out.push({ role: parts[i] === 'Human' ? 'user' : 'assistant', content: parts[i + 1]!.trim() });
  return out;
}

/** Two whole conversations sharing a prefix: the prompt is the shared turns, each answer its one last assistant turn. */
function splitShared(chosen: ChatTurn[], rejected: ChatTurn[]): PreferencePair {
  let k = 0;
  while (k < chosen.length && k < rejected.length && chosen[k]!.role === rejected[k]!.role && chosen[k]!.content === rejected[k]!.content) k++;
  if (k === chosen.length && k === rejected.length) throw new FieldError('chosen', 'chosen and rejected are identical');
  const c = chosen.slice(k);
  const r = rejected.slice(k);
  if (c.length !== 1 || r.length !== 1 || c[0]!.role !== 'assistant' || r[0]!.role !== 'assistant')
    throw new FieldError('chosen', `chosen and rejected must differ only in their last assistant turn (they differ from turn ${k})`);
  const prompt = chosen.slice(0, k);
  if (prompt.length === 0 || prompt[prompt.length - 1]!.role !== 'user') throw new FieldError('chosen', 'the shared turns must end with a user turn');
  return { prompt, chosen: c[0]!.content, rejected: r[0]!.content };
}

function sharegptTurn(v: unknown, field: string): ChatTurn {
  const m = object(v, field);
  const from = m.from;
  const role = typeof from === 'string' ? SHAREGPT_ROLES[from] : undefined;
  if (role === undefined) throw new FieldError(`${field}.from`, `expected one of ${Object.keys(SHAREGPT_ROLES).join(', ')}`);
  return { role, content: str(m, 'value', `${field}.value`) };
}

function rowPrompt(row: Row): Prompt {
  if (has(row, 'messages')) return promptTurns(row.messages, 'messages');
  if (Array.isArray(row.prompt)) return promptTurns(row.prompt, 'prompt');
  return str(row, 'prompt');
}

function distinct(pair: PreferencePair): PreferencePair {
  if (pair.chosen === pair.rejected) throw new FieldError('chosen', 'chosen and rejected are identical');
  return pair;
}

function ranking(row: Row, group: number): PreferencePair[] {
  const prompt = rowPrompt(row);
  const responses = list(row, 'responses').map((r, i) => {
    if (typeof r !== 'string') throw new FieldError(`responses[${i}]`, `expected a string, got ${typeName(r)}`);
    return r;
  });
  const order = list(row, 'ranking');
  const k = responses.length;
  if (k < 2) throw new FieldError('responses', 'a ranking needs at least two responses');
  if (order.length !== k || !order.every((v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < k) || new Set(order).size !== k)
    throw new FieldError('ranking', `expected the ${k} response indices 0..${k - 1}, best first, each once`);
  const pairs: PreferencePair[] = [];
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) pairs.push(distinct({ prompt, chosen: responses[order[i] as number]!, rejected: responses[order[j] as number]!, group }));
  return pairs;
}

function feedback(row: Row): Feedback {
  if (typeof row.label !== 'boolean') throw new FieldError('label', `expected true or false, got ${typeName(row.label)}`);
  if (has(row, 'completion')) {
    const completion = Array.isArray(row.completion) ? answerTurn(row.completion, 'completion') : str(row, 'completion');
    return { prompt: rowPrompt(row), completion, label: row.label };
  }
  // LLaMA-Factory: the conversation's last turn is the answer judged.
  const t = turns(list(row, 'messages'), 'messages', { weightless: true });
  const last = t[t.length - 1]!;
  if (last.role !== 'assistant' || t.length < 2) throw new FieldError('messages', 'expected a conversation ending with the assistant answer that is judged');
  return { prompt: promptTurns(t.slice(0, -1), 'messages'), completion: last.content, label: row.label };
}

/** One row of preference data, normalised; `index` numbers a ranking's group. Throws FieldError naming the field. */
export function parsePreferenceRow(value: unknown, index = 0): PreferenceRow {
  const parsed = parseRow(value, index);
  const row = value as Row;
  if ('pairs' in parsed && has(row, 'margin')) {
    if (typeof row.margin !== 'number' || !Number.isFinite(row.margin)) throw new FieldError('margin', `expected a number, got ${typeName(row.margin)}`);
    for (const p of parsed.pairs) p.margin = row.margin;
  }
  return parsed;
}

function parseRow(value: unknown, index: number): PreferenceRow {
  const row = object(value, '');
  if (has(row, 'label')) return { format: 'feedback', feedback: feedback(row) };
  if (has(row, 'responses') || has(row, 'ranking')) return { format: 'ranking', pairs: ranking(row, index) };
  if (has(row, 'preferred_output') || has(row, 'non_preferred_output')) {
    const input = object(row.input, 'input');
    const prompt = promptTurns(input.messages, 'input.messages');
    return { format: 'openai', pairs: [distinct({ prompt, chosen: answerTurn(row.preferred_output, 'preferred_output'), rejected: answerTurn(row.non_preferred_output, 'non_preferred_output') })] };
  }
  if (has(row, 'conversations')) {
    const prompt = list(row, 'conversations').map((v, i) => sharegptTurn(v, `conversations[${i}]`));
    if (has(row, 'system')) prompt.unshift({ role: 'system', content: str(row, 'system') });
    const [c, r] = [sharegptTurn(row.chosen, 'chosen'), sharegptTurn(row.rejected, 'rejected')];
    if (c.role !== 'assistant' || r.role !== 'assistant') throw new FieldError(c.role !== 'assistant' ? 'chosen' : 'rejected', 'expected an assistant (gpt) answer');
    return { format: 'llamafactory', pairs: [distinct({ prompt: promptTurns(prompt, 'conversations'), chosen: c.content, rejected: r.content })] };
  }
  if (!has(row, 'chosen') || !has(row, 'rejected')) {
    const keys = Object.keys(row);
    throw new FieldError('', `unrecognised preference row (${keys.length === 0 ? 'no fields' : `fields ${keys.slice(0, 6).join(', ')}`}): expected {prompt, chosen, rejected}, {chosen, rejected}, OpenAI {input, preferred_output, non_preferred_output}, LLaMA-Factory {conversations, chosen, rejected}, {prompt, responses, ranking} or {prompt, completion, label}`);
  }
  if (has(row, 'prompt')) {
    if (Array.isArray(row.prompt)) return { format: 'paired-messages', pairs: [distinct({ prompt: promptTurns(row.prompt, 'prompt'), chosen: answerTurn(row.chosen, 'chosen'), rejected: answerTurn(row.rejected, 'rejected') })] };
    return { format: 'paired', pairs: [distinct({ prompt: str(row, 'prompt'), chosen: str(row, 'chosen'), rejected: str(row, 'rejected') })] };
  }
  if (typeof row.chosen === 'string') {
    const rejected = str(row, 'rejected');
    return { format: 'hh-rlhf', pairs: [splitShared(hhTurns(row.chosen, 'chosen'), hhTurns(rejected, 'rejected'))] };
  }
  return { format: 'implicit-prompt', pairs: [splitShared(turns(list(row, 'chosen'), 'chosen', { weightless: true }), turns(list(row, 'rejected'), 'rejected', { weightless: true }))] };
}

export interface PreferenceData {
  pairs: PreferencePair[];
  /** Where each pair comes from (`file:17`). */
  pairSources: string[];
  feedback: Feedback[];
  feedbackSources: string[];
  formats: Record<PreferenceFormat, number>;
  rows: number;
  /** The rows as read, each whole (a ranking stays one row), exact duplicates dropped: what a split writes. */
  distinctRows: { where: string; row: unknown }[];
  duplicates: number;
  errorCount: number;
  /** `file:line: field 'x': problem`, at most maxErrors of them. */
  errors: string[];
}

/** Reads every row of a preference file; bad rows are counted and described, not thrown. */
export function readPreferenceData(path: string, opts: { maxErrors?: number } = {}): PreferenceData {
  const rows = readRawRows(path);
  const out: PreferenceData = { pairs: [], pairSources: [], feedback: [], feedbackSources: [], formats: Object.fromEntries(PREFERENCE_FORMATS.map((f) => [f, 0])) as Record<PreferenceFormat, number>, rows: rows.length, distinctRows: [], duplicates: 0, errorCount: 0, errors: [] };
  const seen = new Set<string>();
  rows.forEach((row, index) => {
    const key = JSON.stringify(row.value);
    if (seen.has(key)) out.duplicates++;
    else out.distinctRows.push({ where: row.where, row: row.value });
    seen.add(key);
    try {
      if (row.error !== undefined) throw new FieldError('', row.error);
      const parsed = parsePreferenceRow(row.value, index);
      out.formats[parsed.format]++;
      if ('feedback' in parsed) {
        out.feedback.push(parsed.feedback);
        out.feedbackSources.push(row.where);
      } else {
        out.pairs.push(...parsed.pairs);
        out.pairSources.push(...parsed.pairs.map(() => row.where));
      }
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      out.errorCount++;
      if (out.errors.length < (opts.maxErrors ?? 50)) out.errors.push(`${row.where}: ${e.message}`);
    }
  });
  return out;
}

/** Fields that mark a row as preference data (any one of them). */
export const PREFERENCE_KEYS = ['chosen', 'rejected', 'label', 'responses', 'ranking', 'preferred_output', 'non_preferred_output'];

/** Whether a dataset file holds preference data: its first row that is an object has a preference field. */
export function isPreferenceFile(path: string): boolean {
  for (const row of readRawRows(path)) {
    if (row.value === null || typeof row.value !== 'object' || Array.isArray(row.value)) continue;
    return PREFERENCE_KEYS.some((k) => k in (row.value as Row));
  }
  return false;
}
