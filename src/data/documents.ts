// Plain-text documents for pretraining: read from .txt (blank lines between documents) or any dataset file of
// {text} rows, tokenised with an EOS after each, and cut into pieces of at most max_length tokens for packing.
import { readFileSync } from 'node:fs';
import { WhetError } from '../errors.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { readExamples } from './read.ts';
import type { TokenizedExample } from './tokenize.ts';
import { ROW_FORMATS } from './formats.ts';

/** The documents of a file, in order. */
export function readDocuments(path: string): string[] {
  if (/\.txt$/i.test(path)) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new WhetError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    const docs = text.replace(/\r\n/g, '\n').split(/\n[ \t]*\n/).map((d) => d.trim()).filter((d) => d !== '');
    if (docs.length === 0) throw new WhetError(`${path}: no text`);
    return docs;
  }
  const data = readExamples(path, { dedupe: false });
  const other = ROW_FORMATS.filter((f) => f !== 'text' && data.formats[f] > 0);
  if (other.length > 0) throw new WhetError(`${path}: pretraining reads plain text, {text} rows, but this file has ${other.join(', ')} rows`);
  return data.examples.map((e) => (e.kind === 'completion' ? e.prompt + e.completion : ''));
}

/**
 * Each document's tokens (BOS first when the tokenizer adds one) and an EOS, in pieces of at most maxLength
 * tokens: loss on every token but a piece's first, which nothing in its piece precedes.
 */
export function tokenizeDocuments(docs: readonly string[], tokenizer: Tokenizer, maxLength: number): TokenizedExample[] {
  const eos = tokenizer.eosId ?? tokenizer.eosIds[0];
  if (eos === undefined) throw new WhetError('the tokenizer has no EOS token to end documents with');
  const pieces: TokenizedExample[] = [];
  for (const doc of docs) {
    const ids = tokenizer.encode(doc, { addBos: tokenizer.addBos });
    ids.push(eos);
    for (let start = 0; start < ids.length; start += maxLength) {
      const piece = Int32Array.from(ids.slice(start, start + maxLength));
      if (piece.length < 2) continue; // a lone trailing token has nothing to predict it
      const labels = Int32Array.from(piece);
      labels[0] = IGNORE_INDEX;
      pieces.push({ ids: piece, labels, truncated: 0 });
    }
  }
  return pieces;
}
