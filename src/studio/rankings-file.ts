// The rankings file: rows `whet train --method reward|dpo|kto` reads as they are, appended one at a time and made
// durable (write + fsync) before the request that made them is answered; read back on start-up to resume.
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, truncateSync } from 'node:fs';
import { WhetError } from '../errors.ts';
import { writeAll } from '../formats/file-io.ts';
import type { Prompt } from '../data/preference.ts';

/** The source name of an answer an annotator wrote in place of the candidates. */
export const HUMAN = 'human';

/** A prompt's identity in the file: turns compared by role and content only. */
export function promptKey(p: Prompt | { role: string; content: string }[]): string {
  return JSON.stringify(typeof p === 'string' ? p : p.map((t) => ({ role: t.role, content: t.content })));
}

/** The prompt field of a row: chat turns as `messages`, plain text as `prompt` (how the training data reader tells them apart). */
export function promptField(p: Prompt): { messages: { role: string; content: string }[] } | { prompt: string } {
  return typeof p === 'string' ? { prompt: p } : { messages: p.map((t) => ({ role: t.role, content: t.content })) };
}

export interface StoredRow {
  messages?: { role: string; content: string }[];
  prompt?: string;
  responses?: string[];
  ranking?: number[];
  completion?: string;
  label?: boolean;
  annotator?: string;
  model_of_response?: string[] | string;
  time?: string;
}

/**
 * Every row of the file (none if it does not exist). A torn last line (a crash mid-write; never a row whose request
 * was answered, as answers wait for fsync) is cut off the file with a warning, so the file stays trainable.
 */
export function readStoredRows(path: string, warn: (line: string) => void): StoredRow[] {
  if (!existsSync(path)) return [];
  const bytes = readFileSync(path);
  const lines = bytes.toString('utf8').split('\n');
  const rows: StoredRow[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const v = JSON.parse(line) as unknown;
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
      rows.push(v as StoredRow);
    } catch {
      if (i !== lines.length - 1) throw new WhetError(`${path}:${i + 1}: not a JSON object; is this a rankings file?`);
      warn(`${path}:${i + 1}: an incomplete last line (a write cut short) is removed`);
      truncateSync(path, bytes.lastIndexOf(0x0a) + 1);
    }
  });
  return rows;
}

/** The row's prompt key as promptKey gives it, or undefined for a row with neither field. */
export function storedPromptKey(row: StoredRow): string | undefined {
  if (Array.isArray(row.messages)) return promptKey(row.messages);
  return typeof row.prompt === 'string' ? promptKey(row.prompt) : undefined;
}

/** Appends rows as JSON lines and fsyncs before returning: once this returns, a crash loses none of them. */
export function appendDurable(path: string, rows: readonly object[]): void {
  const fd = openSync(path, 'a+');
  try {
    const size = fstatSync(fd).size;
    let lead = '';
    if (size > 0) {
      // A torn last line (a crash mid-write before this server) must not swallow the next row.
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) lead = '\n';
    }
    writeAll(fd, Buffer.from(lead + rows.map((r) => JSON.stringify(r) + '\n').join(''), 'utf8'));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
