// SentencePiece BPE as llama.cpp runs it (llm_tokenizer_spm): merge the adjacent pair whose token scores highest, then resegment unknown pieces into bytes.
import { Heap } from './heap.ts';

export interface SpmVocab {
  tokenId(text: string): number | undefined;
  score(id: number): number;
  /** The `<0xNN>` token of a byte (byte fallback). */
  byteToken(byte: number): number;
}

interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

const encoder = new TextEncoder();

/** Tokenises one run of text whose spaces are already escaped as U+2581, appending ids to `out`. */
export function spmTokenize(text: string, vocab: SpmVocab, out: number[]): void {
  // One symbol per code point; merging appends the right symbol's text to the left one and empties the right.
  const sym = Array.from(text);
  const n = sym.length;
  if (n === 0) return;
  const prev = Array.from({ length: n }, (_, i) => i - 1);
  const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const queue = new Heap<Bigram>((a, b) => a.score > b.score || (a.score === b.score && a.left < b.left));
  // The last pair of symbols each merged text came from, to undo merges that produced no usable token.
  const revMerge = new Map<string, [number, number]>();

  const tryAddBigram = (left: number, right: number): void => {
    if (left === -1 || right === -1) return;
    const merged = sym[left] + sym[right];
    const id = vocab.tokenId(merged);
    if (id === undefined) return;
    queue.push({ left, right, score: vocab.score(id), size: merged.length });
    revMerge.set(merged, [left, right]);
  };

  for (let i = 1; i < n; i++) tryAddBigram(i - 1, i);

  for (let b = queue.pop(); b !== undefined; b = queue.pop()) {
    const l = sym[b.left];
    const r = sym[b.right];
    // Skip pairs made stale by an earlier merge of either side.
    if (l.length === 0 || r.length === 0 || l.length + r.length !== b.size) continue;
    sym[b.left] = l + r;
    sym[b.right] = '';
    next[b.left] = next[b.right];
    if (next[b.right] >= 0) prev[next[b.right]] = b.left;
    tryAddBigram(prev[b.left], b.left);
    tryAddBigram(b.left, next[b.left]);
  }

  const resegment = (i: number): void => {
    const id = vocab.tokenId(sym[i]);
    if (id !== undefined) {
      out.push(id);
      return;
    }
    const parts = revMerge.get(sym[i]);
    if (parts === undefined) {
      for (const byte of encoder.encode(sym[i])) out.push(vocab.byteToken(byte));
      return;
    }
    resegment(parts[0]);
    resegment(parts[1]);
  };
  for (let i = 0; i !== -1; i = next[i]) resegment(i);
}
