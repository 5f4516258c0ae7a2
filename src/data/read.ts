// Reads a dataset file (JSONL, JSON array, CSV/TSV, optionally gzipped) into Examples, with errors that name file, line and field, exact-duplicate removal and a seeded train/holdout split.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse/sync';
import { WhetError } from '../errors.ts';
import { Rng } from '../tensor/random.ts';
import { exampleKey, FieldError, isBlank, parseRow, ROW_FORMATS, type Example, type RowFormat } from './formats.ts';

export interface ReadOptions {
  /** Stop collecting error messages after this many (all rows are still checked and counted). Default 50. */
  maxErrors?: number;
  /** Drop exact duplicates (default true); evaluation keeps them so that rows line up with predictions. */
  dedupe?: boolean;
}

export interface Dataset {
  /** Valid, non-blank, deduplicated examples in file order. */
  examples: Example[];
  /** For each example, where it is (`file:17`, `file[17]`) and the row as read (what `whet data split` writes back). */
  sources: { where: string; row: unknown }[];
  /** Rows in the file (records, array elements or non-empty lines). */
  rows: number;
  /** Valid rows per detected format (before deduplication). */
  formats: Record<RowFormat, number>;
  /** Exact duplicates dropped (the first copy is kept). */
  duplicates: number;
  /** Rows with no text (blank `text`), skipped. */
  blank: number;
  /** Rows that failed, in total. */
  errorCount: number;
  /** `file:line: field 'x': problem`, at most maxErrors of them. */
  errors: string[];
}

export interface RawRow {
  /** `file:17` for a line, `file[17]` for a JSON array element. */
  where: string;
  value?: unknown;
  /** Set when the row itself does not parse. */
  error?: string;
}

// CSV cells holding a conversation are JSON text; prompt/completion cells are JSON only when they parse to a message list.
const JSON_CELLS = ['messages', 'conversations', 'history'];
const MAYBE_JSON_CELLS = ['prompt', 'completion'];

function csvRows(text: string, name: string, delimiter: string): RawRow[] {
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parseCsv(text, { columns: true, info: true, bom: true, skip_empty_lines: true, delimiter, relax_column_count: false });
  } catch (e) {
    const err = e as { lines?: number; message: string };
    throw new WhetError(`${name}:${err.lines ?? '?'}: not valid CSV: ${err.message}`);
  }
  return records.map(({ record, info }) => {
    // info.lines is where the record ends; quoted newlines inside it move its start up.
    let newlines = 0;
    for (const v of Object.values(record)) for (const c of v) if (c === '\n') newlines++;
    const where = `${name}:${info.lines - newlines}`;
    const value: Record<string, unknown> = { ...record };
    for (const key of JSON_CELLS) {
      const cell = record[key];
      if (cell === undefined || !/^\s*[[{]/.test(cell)) continue;
      try {
        value[key] = JSON.parse(cell);
      } catch (e) {
        return { where, error: `field '${key}': not valid JSON: ${(e as Error).message}` };
      }
    }
    for (const key of MAYBE_JSON_CELLS) {
      const cell = record[key];
      if (cell === undefined || !/^\s*\[/.test(cell)) continue;
      try {
        const parsed: unknown = JSON.parse(cell);
        if (Array.isArray(parsed) && parsed.every((m) => m !== null && typeof m === 'object' && 'role' in m)) value[key] = parsed;
      } catch {
        /* plain text that starts with a bracket */
      }
    }
    return { where, value };
  });
}

function jsonlRows(text: string, name: string): RawRow[] {
  const out: RawRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${name}:${i + 1}`;
    try {
      out.push({ where, value: JSON.parse(line) });
    } catch (e) {
      out.push({ where, error: `not valid JSON: ${(e as Error).message}` });
    }
  });
  return out;
}

function jsonArrayRows(text: string, name: string): RawRow[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new WhetError(`${name}: not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value)) throw new WhetError(`${name}: expected a JSON array of rows (or JSON Lines), got ${value === null ? 'null' : typeof value}`);
  return value.map((v, i) => ({ where: `${name}[${i}]`, value: v }));
}

/** Plain text for continued pretraining: every non-blank line is one {text} row (WikiText's paragraphs). */
function textRows(text: string, name: string): RawRow[] {
  const rows: RawRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() !== '') rows.push({ where: `${name}:${i + 1}`, value: { text: line.trim() } });
  });
  return rows;
}

/** Splits a file's text into rows by its extension, sniffing `.json` (which is often JSON Lines) and unknown ones. */
function rawRows(text: string, path: string): RawRow[] {
  const name = basename(path);
  const ext = name.toLowerCase().replace(/\.gz$/, '').split('.').pop() ?? '';
  if (ext === 'csv') return csvRows(text, name, ',');
  if (ext === 'tsv') return csvRows(text, name, '\t');
  if (ext === 'jsonl' || ext === 'ndjson') return jsonlRows(text, name);
  if (ext === 'txt') return textRows(text, name);
  const start = text.trimStart()[0];
  if (start === '[') return jsonArrayRows(text, name);
  if (start === '{' && text.trim().includes('\n')) {
    // A pretty-printed object would otherwise fail line by line.
    let whole: unknown;
    try {
      whole = JSON.parse(text);
    } catch {
      /* several objects: JSON Lines */
    }
    if (whole !== undefined) throw new WhetError(`${name}: holds a single JSON object: expected a JSON array of rows or JSON Lines (one object per line)`);
  }
  if (start === '{' || start === undefined) return jsonlRows(text, name);
  throw new WhetError(`${name}: unknown dataset format: expected .jsonl, .json (array or lines), .csv, .tsv or .txt`);
}

/** The rows of a dataset file (JSONL, JSON, CSV/TSV, text; optionally gzipped), each with where it is, unparsed. */
export function readRawRows(path: string): RawRow[] {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new WhetError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (path.endsWith('.gz')) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new WhetError(`${path}: not valid gzip: ${(e as Error).message}`);
    }
  }
  return rawRows(buf.toString('utf8'), path);
}

/** Reads and checks every row of a dataset file. Rows that fail are counted and described, not thrown. */
export function readDataset(path: string, opts: ReadOptions = {}): Dataset {
  const maxErrors = opts.maxErrors ?? 50;
  const rows = readRawRows(path);
  const out: Dataset = {
    examples: [],
    sources: [],
    rows: rows.length,
    formats: Object.fromEntries(ROW_FORMATS.map((f) => [f, 0])) as Record<RowFormat, number>,
    duplicates: 0,
    blank: 0,
    errorCount: 0,
    errors: [],
  };
  const seen = new Set<string>();
  const fail = (where: string, message: string): void => {
    out.errorCount++;
    if (out.errors.length < maxErrors) out.errors.push(`${where}: ${message}`);
  };
  for (const row of rows) {
    if (row.error !== undefined) {
      fail(row.where, row.error);
      continue;
    }
    let parsed: ReturnType<typeof parseRow>;
    try {
      parsed = parseRow(row.value);
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      fail(row.where, e.message);
      continue;
    }
    out.formats[parsed.format]++;
    if (isBlank(parsed.example)) {
      out.blank++;
      continue;
    }
    const key = exampleKey(parsed.example);
    if (opts.dedupe !== false && seen.has(key)) {
      out.duplicates++;
      continue;
    }
    seen.add(key);
    out.examples.push(parsed.example);
    out.sources.push({ where: row.where, row: row.value });
  }
  return out;
}

/** readDataset that throws one WhetError listing the problems when any row is bad. */
export function readExamples(path: string, opts: Pick<ReadOptions, 'dedupe'> = {}): Dataset {
  const data = readDataset(path, { maxErrors: 10, ...opts });
  if (data.errorCount > 0) {
    const more = data.errorCount > data.errors.length ? `\n(${data.errorCount - data.errors.length} more)` : '';
    throw new WhetError(`${data.errorCount} bad row${data.errorCount === 1 ? '' : 's'} in ${path}:\n${data.errors.join('\n')}${more}`);
  }
  if (data.examples.length === 0) throw new WhetError(`${path}: no examples`);
  return data;
}

/**
 * A seeded split: the same examples, fraction and seed always give the same two disjoint parts, each in file
 * order. The holdout gets round(n·fraction) examples, at least one when the fraction is positive and n ≥ 2,
 * and never all of them.
 */
export function splitExamples<T>(examples: readonly T[], fraction: number, seed: number): { train: T[]; holdout: T[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new WhetError(`holdout fraction must be in [0, 1), got ${fraction}`);
  const n = examples.length;
  let k = Math.round(n * fraction);
  if (fraction > 0 && n >= 2) k = Math.min(Math.max(k, 1), n - 1);
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const inHoldout = new Uint8Array(n);
  for (let i = 0; i < k; i++) inHoldout[order[i]!] = 1;
  return { train: examples.filter((_, i) => inHoldout[i] === 0), holdout: examples.filter((_, i) => inHoldout[i] === 1) };
}
