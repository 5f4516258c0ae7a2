// Byte-level BPE as llama.cpp runs it (llm_tokenizer_bpe_session): within each pre-tokenised word, merge the adjacent pair of lowest merge rank until none is left.
import { Heap } from './heap.ts';

export interface BpeVocab {
  tokenId(text: string): number | undefined;
  /** Rank of the merge `left right` (lower merges first), or undefined when there is no such merge. */
  rank(left: string, right: string): number | undefined;
  /** Llama 3's tokenizer takes a whole word that is already a token without merging (`ignore_merges`). */
  ignoreMerges: boolean;
}

interface Bigram {
  left: number;
  right: number;
  text: string;
  rank: number;
}

/** Builds the merge-rank lookup from GGUF's `tokenizer.ggml.merges` ("left right" per line, first wins). */
export function mergeRanks(merges: readonly string[]): (left: string, right: string) => number | undefined {
  const ranks = new Map<string, Map<string, number>>();
  merges.forEach((line, i) => {
    const space = line.indexOf(' ', 1);
    if (space === -1) return;
    const first = line.slice(0, space);
    const second = line.slice(space + 1);
    let inner = ranks.get(first);
    if (inner === undefined) ranks.set(first, (inner = new Map()));
    if (!inner.has(second)) inner.set(second, i);
  });
  return (left, right) => ranks.get(left)?.get(right);
}

/** Tokenises one pre-tokenised, byte-level-encoded word, appending ids to `out`. */
export function bpeTokenize(word: string, vocab: BpeVocab, out: number[]): void {
  const sym = vocab.ignoreMerges && vocab.tokenId(word) !== undefined ? [word] : Array.from(word);
  const n = sym.length;
  const prev = Array.from({ length: n }, (_, i) => i - 1);
  const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const queue = new Heap<Bigram>((a, b) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left));

  const addBigram = (left: number, right: number): void => {
    if (left === -1 || right === -1) return;
    const rank = vocab.rank(sym[left], sym[right]);
    if (rank === undefined) return;
    queue.push({ left, right, text: sym[left] + sym[right], rank });
  };

  for (let i = 1; i < n; i++) addBigram(i - 1, i);

  for (let b = queue.pop(); b !== undefined; b = queue.pop()) {
    const l = sym[b.left];
    const r = sym[b.right];
    if (l.length === 0 || r.length === 0 || l + r !== b.text) continue;
    sym[b.left] = b.text;
    sym[b.right] = '';
    next[b.left] = next[b.right];
    if (next[b.right] >= 0) prev[next[b.right]] = b.left;
    addBigram(prev[b.left], b.left);
    addBigram(b.left, next[b.left]);
  }

  for (let i = 0; i !== -1 && n > 0; i = next[i]) {
    const id = vocab.tokenId(sym[i]);
    if (id !== undefined) {
      out.push(id);
      continue;
    }
    // A piece with no token: llama.cpp looks up each of its bytes alone, which only ASCII characters survive.
    for (const c of sym[i]) {
      const byteId = c.charCodeAt(0) < 0x80 ? vocab.tokenId(c) : undefined;
      if (byteId !== undefined) out.push(byteId);
    }
  }
}
