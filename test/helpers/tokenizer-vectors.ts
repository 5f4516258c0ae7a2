// llama.cpp's tokenizer test vectors (shared/data/tokenizers/llamacpp-vocab), read exactly as its tests/test-tokenizer-0.cpp reads them.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import type { GgufValue } from '../../src/formats/gguf.ts';

export const SHARED_DATA = path.resolve('../shared/data');
export const VOCAB_DIR = path.join(SHARED_DATA, 'tokenizers/llamacpp-vocab');

/** false when the shared data is there, else the reason to skip (printed once). */
export function skipWithoutSharedData(what: string): string | false {
  if (existsSync(VOCAB_DIR)) return false;
  const reason = `${VOCAB_DIR} is absent, skipping ${what}`;
  console.log(reason);
  return reason;
}

export interface VectorCase {
  text: string;
  ids: number[];
}

/**
 * NAME.gguf.inp holds the strings, each followed by the line "__ggml_vocab_test__" (so the separator is
 * "\n__ggml_vocab_test__\n" and the file ends with it); NAME.gguf.out holds one line of ids per string.
 */
export function readVectors(name: string): VectorCase[] {
  const base = path.join(VOCAB_DIR, `ggml-vocab-${name}.gguf`);
  const raw = readFileSync(`${base}.inp`, 'utf8');
  const sep = '\n__ggml_vocab_test__\n';
  const texts: string[] = [];
  for (let pos = 0; pos < raw.length; ) {
    const next = raw.indexOf(sep, pos);
    if (next === -1) {
      texts.push(raw.slice(pos));
      break;
    }
    texts.push(raw.slice(pos, next));
    pos = next + sep.length;
  }
  const lines = readFileSync(`${base}.out`, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== texts.length) throw new Error(`${base}: ${texts.length} inputs but ${lines.length} outputs`);
  return texts.map((text, i) => ({ text, ids: lines[i].trim() === '' ? [] : lines[i].trim().split(' ').map(Number) }));
}

/** Tokenises every case as the llama.cpp test does (no BOS, special tokens not parsed); returns the misses. */
export function runVectors(tok: Tokenizer, cases: readonly VectorCase[]): { matched: number; misses: string[] } {
  const misses: string[] = [];
  for (const c of cases) {
    const got = tok.encode(c.text, { addBos: false, addSpecial: false });
    if (got.length !== c.ids.length || got.some((id, i) => id !== c.ids[i])) {
      misses.push(`${JSON.stringify(c.text)}: got [${got.join(' ')}], expected [${c.ids.join(' ')}]`);
    }
  }
  return { matched: cases.length - misses.length, misses };
}

/** Streams ids through a DecodeStream; returns the chunks (flush last). */
export function streamChunks(tok: Tokenizer, ids: readonly number[], opts: { skipSpecial?: boolean; prompt?: number[] } = {}): string[] {
  const stream = tok.createDecodeStream(opts);
  const chunks = ids.map((id) => stream.push(id));
  chunks.push(stream.flush());
  return chunks;
}

/**
 * GGUF metadata of a hand-made SentencePiece vocab: <unk>, <s>, </s>, the 256 byte-fallback tokens, then
 * `pieces` as [text, score, token type].
 */
export function tinySpmMetadata(pieces: readonly [string, number, number][]): Record<string, GgufValue> {
  const tokens = ['<unk>', '<s>', '</s>'];
  const scores = [0, 0, 0];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    scores.push(0);
    types.push(6);
  }
  for (const [t, score, type] of pieces) {
    tokens.push(t);
    scores.push(score);
    types.push(type);
  }
  return { 'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.tokens': tokens, 'tokenizer.ggml.scores': scores, 'tokenizer.ggml.token_type': types };
}
