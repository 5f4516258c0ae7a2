// Dataset row formats (prompt/completion, OpenAI messages, Alpaca, ShareGPT, plain text, Spider) detected per row and normalised to one Example type.

export type Role = 'system' | 'user' | 'assistant';
export const ROLES: readonly Role[] = ['system', 'user', 'assistant'];

export interface ChatTurn {
  role: Role;
  content: string;
  /** Assistant turns only: 0 = context, no loss (OpenAI fine-tuning's `weight`). Default 1. */
  weight?: 0 | 1;
}

export type Example = ({ kind: 'completion'; prompt: string; completion: string } | { kind: 'chat'; messages: ChatTurn[] }) & {
  /** Fields a task needs besides the text, e.g. Spider's `db_id`. */
  meta?: Record<string, unknown>;
};

/** The row shapes recognised, in the order they are tried. */
export const ROW_FORMATS = ['messages', 'prompt-messages', 'sharegpt', 'alpaca', 'spider', 'prompt-completion', 'text'] as const;
export type RowFormat = (typeof ROW_FORMATS)[number];

/** A problem with one field of a row; the reader adds the file and line. */
export class FieldError extends Error {
  constructor(readonly field: string, problem: string) {
    super(field === '' ? problem : `field '${field}': ${problem}`);
    this.name = 'FieldError';
  }
}

export type Row = Record<string, unknown>;

export const has = (row: Row, key: string): boolean => row[key] !== undefined && row[key] !== null;

export function str(row: Row, key: string, field = key): string {
  const v = row[key];
  if (typeof v !== 'string') throw new FieldError(field, v === undefined ? 'missing' : `expected a string, got ${typeName(v)}`);
  return v;
}

function optStr(row: Row, key: string): string | undefined {
  return has(row, key) ? str(row, key) : undefined;
}

export function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v;
}

export function list(row: Row, key: string): unknown[] {
  const v = row[key];
  if (!Array.isArray(v)) throw new FieldError(key, `expected an array, got ${typeName(v)}`);
  if (v.length === 0) throw new FieldError(key, 'empty');
  return v;
}

export function object(v: unknown, field: string): Row {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FieldError(field, `expected an object, got ${typeName(v)}`);
  return v as Row;
}

function role(v: unknown, field: string): Role {
  if (typeof v !== 'string' || !(ROLES as readonly string[]).includes(v)) throw new FieldError(field, `expected one of ${ROLES.join(', ')}`);
  return v as Role;
}

export function turns(items: unknown[], key: string, opts: { weightless?: boolean } = {}): ChatTurn[] {
  return items.map((item, i) => {
    const at = `${key}[${i}]`;
    const m = object(item, at);
    const turn: ChatTurn = { role: role(m.role, `${at}.role`), content: str(m, 'content', `${at}.content`) };
    if (has(m, 'weight')) {
      if (turn.role !== 'assistant') throw new FieldError(`${at}.weight`, 'only assistant turns take a weight');
      if (m.weight !== 0 && m.weight !== 1) throw new FieldError(`${at}.weight`, 'expected 0 or 1');
      if (opts.weightless !== true) turn.weight = m.weight;
    }
    return turn;
  });
}

// A conversation must teach something: at least one assistant turn that carries loss.
function checkLearnable(messages: ChatTurn[], field: string): ChatTurn[] {
  if (!messages.some((m) => m.role === 'assistant')) throw new FieldError(field, 'no assistant turn to learn from');
  if (!messages.some((m) => m.role === 'assistant' && m.weight !== 0)) throw new FieldError(field, 'every assistant turn has weight 0: nothing to learn from');
  return messages;
}

export const SHAREGPT_ROLES: Record<string, Role> = { human: 'user', user: 'user', gpt: 'assistant', assistant: 'assistant', system: 'system' };

function sharegpt(row: Row): ChatTurn[] {
  const out: ChatTurn[] = [];
  if (has(row, 'system')) out.push({ role: 'system', content: str(row, 'system') });
  list(row, 'conversations').forEach((item, i) => {
    const at = `conversations[${i}]`;
    const m = object(item, at);
    const from = m.from;
    const r = typeof from === 'string' ? SHAREGPT_ROLES[from] : undefined;
    if (r === undefined) throw new FieldError(`${at}.from`, `expected one of ${Object.keys(SHAREGPT_ROLES).join(', ')}`);
    out.push({ role: r, content: str(m, 'value', `${at}.value`) });
  });
  return checkLearnable(out, 'conversations');
}

function alpaca(row: Row): ChatTurn[] {
  const out: ChatTurn[] = [];
  const system = optStr(row, 'system');
  if (system !== undefined && system !== '') out.push({ role: 'system', content: system });
  // LLaMA-Factory's Alpaca variant carries earlier turns as [[instruction, response], ...].
  if (has(row, 'history')) {
    const history = row.history;
    if (!Array.isArray(history)) throw new FieldError('history', `expected an array of [instruction, response] pairs, got ${typeName(history)}`);
    history.forEach((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string')
        throw new FieldError(`history[${i}]`, 'expected an [instruction, response] pair of strings');
      out.push({ role: 'user', content: pair[0] }, { role: 'assistant', content: pair[1] });
    });
  }
  const instruction = str(row, 'instruction');
  const input = optStr(row, 'input') ?? '';
  out.push({ role: 'user', content: input === '' ? instruction : `${instruction}\n\n${input}` });
  out.push({ role: 'assistant', content: str(row, 'output') });
  return out;
}

/** Turns one parsed row (a JSON object, or a CSV record) into an Example; throws FieldError naming the field. */
export function parseRow(value: unknown): { example: Example; format: RowFormat } {
  const row = object(value, '');
  if (has(row, 'messages')) return { format: 'messages', example: { kind: 'chat', messages: checkLearnable(turns(list(row, 'messages'), 'messages'), 'messages') } };
  if (Array.isArray(row.prompt) && has(row, 'completion')) {
    // TRL's conversational prompt-completion: the loss is on the completion turns only.
    const prompt = turns(list(row, 'prompt'), 'prompt', { weightless: true }).map((t) => (t.role === 'assistant' ? { ...t, weight: 0 as const } : t));
    const completion = turns(list(row, 'completion'), 'completion');
    return { format: 'prompt-messages', example: { kind: 'chat', messages: checkLearnable([...prompt, ...completion], 'completion') } };
  }
  if (has(row, 'conversations')) return { format: 'sharegpt', example: { kind: 'chat', messages: sharegpt(row) } };
  if (has(row, 'instruction') || (has(row, 'output') && !has(row, 'completion'))) return { format: 'alpaca', example: { kind: 'chat', messages: alpaca(row) } };
  if (has(row, 'question') && has(row, 'query')) {
    const example: Example = { kind: 'completion', prompt: str(row, 'question'), completion: str(row, 'query') };
    if (has(row, 'db_id')) example.meta = { db_id: str(row, 'db_id') };
    return { format: 'spider', example };
  }
  if (has(row, 'prompt') || has(row, 'completion')) {
    const completion = str(row, 'completion');
    if (completion === '') throw new FieldError('completion', 'empty: nothing to learn from');
    return { format: 'prompt-completion', example: { kind: 'completion', prompt: str(row, 'prompt'), completion } };
  }
  if (has(row, 'text')) return { format: 'text', example: { kind: 'completion', prompt: '', completion: str(row, 'text') } };
  const keys = Object.keys(row);
  throw new FieldError(
    '',
    `unrecognised row (${keys.length === 0 ? 'no fields' : `fields ${keys.slice(0, 6).join(', ')}`}): expected {prompt, completion}, {messages}, ` +
      'Alpaca {instruction, input, output}, ShareGPT {conversations}, {text} or Spider {question, query, db_id}',
  );
}

/** True for an Example with no text to learn (a blank {text} line, as WikiText has many): skipped, not an error. */
export function isBlank(example: Example): boolean {
  return example.kind === 'completion' && example.prompt === '' && example.completion.trim() === '';
}

/** A key equal for exact duplicates (same text, roles, weights and meta). */
export function exampleKey(example: Example): string {
  return JSON.stringify(example);
}
