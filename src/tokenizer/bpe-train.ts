// Trains a byte-level BPE tokenizer (GPT-2 style: regex pre-tokenisation, bytes mapped to printable characters,
// merges learned by pair frequency) and writes it as a Hugging Face tokenizer.json.
import { WhetError } from '../errors.ts';
import { Heap } from './heap.ts';
import { BYTE_TO_UNICODE, preTokenize } from './unicode.ts';
import type { HfTokenizerFolder } from './convert.ts';

export interface BpeTrainOptions {
  /** Size of the vocabulary: special tokens, the 256 bytes, then one token per merge. */
  vocabSize: number;
  /** Added tokens, given the first ids in order (e.g. <|endoftext|>). They are never split or learned from. */
  specialTokens: readonly string[];
  /** A pair must occur at least this often to be merged (default 2). */
  minFrequency?: number;
}

export interface BpeModel {
  /** Token text (byte-level alphabet) → id. */
  vocab: Map<string, number>;
  /** Merges in the order learned, "left right". */
  merges: string[];
  specialTokens: readonly string[];
}

/** Counts of the pre-tokenised words of some texts (words in the byte-level alphabet). */
export function countWords(texts: Iterable<string>, counts = new Map<string, number>()): Map<string, number> {
  for (const text of texts) for (const w of preTokenize(text, 'gpt2')) counts.set(w, (counts.get(w) ?? 0) + 1);
  return counts;
}

/**
 * Learns merges from word counts: repeatedly the most frequent adjacent pair (ties: the pair whose merged text
 * comes first, so the result does not depend on the order of the counts) becomes a new token.
 */
export function trainBpe(wordCounts: ReadonlyMap<string, number>, opts: BpeTrainOptions): BpeModel {
  const minFrequency = opts.minFrequency ?? 2;
  const base = opts.specialTokens.length + 256;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < base) throw new WhetError(`vocabulary size must be an integer of at least ${base} (special tokens and 256 bytes), got ${opts.vocabSize}`);
  const texts: string[] = [...opts.specialTokens, ...BYTE_TO_UNICODE];
  const idOfByteChar = new Map(BYTE_TO_UNICODE.map((ch, b) => [ch, opts.specialTokens.length + b]));

  // Words sorted so that ids and tie-breaks never depend on the Map's insertion order.
  const entries = [...wordCounts].filter(([, c]) => c > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const words: number[][] = entries.map(([w]) => Array.from(w, (ch) => idOfByteChar.get(ch) ?? fail(ch)));
  const freq = entries.map(([, c]) => c);

  const key = (a: number, b: number): number => a * 0x100000 + b; // ids stay below 2^20
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: 1 | -1): void => {
    const s = words[w]!;
    for (let i = 0; i + 1 < s.length; i++) {
      const k = key(s[i]!, s[i + 1]!);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freq[w]!);
      if (sign === 1) {
        let set = pairWords.get(k);
        if (set === undefined) pairWords.set(k, (set = new Set()));
        set.add(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1);

  // A lazy max-heap: stale entries (count changed since pushed) are skipped when popped.
  interface Entry { count: number; k: number; text: string }
  const heap = new Heap<Entry>((a, b) => a.count > b.count || (a.count === b.count && a.text < b.text));
  const textOf = (k: number): string => texts[Math.floor(k / 0x100000)]! + texts[k % 0x100000]!;
  const push = (k: number): void => {
    const count = pairCount.get(k)!;
    if (count >= minFrequency) heap.push({ count, k, text: textOf(k) });
  };
  for (const k of pairCount.keys()) push(k);

  const merges: string[] = [];
  while (texts.length < opts.vocabSize) {
    const top = heap.pop();
    if (top === undefined) break;
    if (pairCount.get(top.k) !== top.count) continue;
    const a = Math.floor(top.k / 0x100000);
    const b = top.k % 0x100000;
    const id = texts.length;
    texts.push(top.text);
    merges.push(`${texts[a]} ${texts[b]}`);
    const touched = new Set<number>();
    for (const w of [...(pairWords.get(top.k) ?? [])]) {
      const s = words[w]!;
      addPairs(w, -1);
      const merged: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          merged.push(id);
          i++;
        } else merged.push(s[i]!);
      }
      words[w] = merged;
      addPairs(w, 1);
      for (let i = 0; i + 1 < merged.length; i++) touched.add(key(merged[i]!, merged[i + 1]!));
      for (let i = 0; i + 1 < s.length; i++) touched.add(key(s[i]!, s[i + 1]!));
    }
    pairWords.delete(top.k);
    pairCount.delete(top.k);
    for (const k of touched) if (pairCount.has(k)) push(k);
  }
  return { vocab: new Map(texts.map((t, i) => [t, i])), merges, specialTokens: opts.specialTokens };
}

function fail(ch: string): never {
  throw new Error(`character ${JSON.stringify(ch)} is outside the byte-level alphabet`);
}

/** The model as a Hugging Face tokenizer.json: BPE with ByteLevel pre-tokeniser and decoder, special tokens added. */
export function bpeTokenizerJson(model: BpeModel): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: model.specialTokens.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(model.vocab),
      merges: model.merges,
    },
  };
}

/** ChatML, as SmolLM2-Instruct's template without its default system prompt. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** The ChatML special tokens, <|endoftext|> first: it ends documents and pads, <|im_end|> ends turns. */
export const CHATML_SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

/**
 * The tokenizer files of a model folder for a model trained with CHATML_SPECIAL_TOKENS: no BOS added, documents
 * ended by <|endoftext|>, generation stopped by it or by <|im_end|>.
 */
export function chatmlTokenizerFiles(model: BpeModel, modelMaxLength: number): HfTokenizerFolder {
  const [endOfText, , imEnd] = CHATML_SPECIAL_TOKENS;
  if (model.specialTokens.join() !== CHATML_SPECIAL_TOKENS.join()) throw new WhetError(`a ChatML tokenizer needs the special tokens ${CHATML_SPECIAL_TOKENS.join(', ')} first`);
  return {
    tokenizerJson: bpeTokenizerJson(model),
    tokenizerConfig: {
      tokenizer_class: 'PreTrainedTokenizerFast',
      add_bos_token: false,
      add_prefix_space: false,
      bos_token: endOfText,
      eos_token: endOfText,
      pad_token: endOfText,
      unk_token: endOfText,
      additional_special_tokens: CHATML_SPECIAL_TOKENS.slice(1),
      model_max_length: modelMaxLength,
      clean_up_tokenization_spaces: false,
      chat_template: CHATML_TEMPLATE,
    },
    generationConfig: { bos_token_id: model.vocab.get(endOfText), eos_token_id: [model.vocab.get(endOfText), model.vocab.get(imEnd)], pad_token_id: model.vocab.get(endOfText) },
  };
}
