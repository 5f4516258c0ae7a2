// A Tokenizer rebuilt from GGUF metadata (tokenizer.ggml.*), matching llama.cpp's llama-vocab.cpp for SentencePiece ("llama") and byte-level BPE ("gpt2") vocabs.
import { WhetError } from '../errors.ts';
import type { GgufValue } from '../formats/gguf.ts';
import { bpeTokenize, mergeRanks, type BpeVocab } from './bpe.ts';
import { spmTokenize, type SpmVocab } from './spm.ts';
import { preTokenize, UNICODE_TO_BYTE, type PreTokenizer } from './unicode.ts';
import {
  END_OF_GENERATION_TEXTS,
  collectEosIds,
  createWindowDecodeStream,
  type DecodeOptions,
  type EncodeOptions,
  type TokenOffsets,
  type Tokenizer,
} from './tokenizer.ts';
import { alignOffsets } from './offsets.ts';

// Token attributes (llama.h, llama_token_attr).
const ATTR_UNKNOWN = 1 << 0;
const ATTR_NORMAL = 1 << 2;
const ATTR_CONTROL = 1 << 3;
const ATTR_USER_DEFINED = 1 << 4;
const ATTR_BYTE = 1 << 5;
const ATTR_RSTRIP = 1 << 8;

// GGUF's tokenizer.ggml.token_type values, in order 0..6: undefined, normal, unknown, control, user-defined, unused, byte.
const ATTR_OF_TYPE = [0, ATTR_NORMAL, ATTR_UNKNOWN, ATTR_CONTROL, ATTR_USER_DEFINED, 1 << 1, ATTR_BYTE];

interface PreConfig {
  regexes: PreTokenizer;
  ignoreMerges?: boolean;
  addBos?: boolean;
}

// tokenizer.ggml.pre names llama.cpp maps onto the regex families implemented in unicode.ts.
const PRE_CONFIGS: Record<string, PreConfig> = {
  default: { regexes: 'default' },
  ...Object.fromEntries(['gpt-2', 'phi-2', 'mpt', 'olmo', 'jais', 'exaone4'].map((n) => [n, { regexes: 'gpt2' }])),
  ...Object.fromEntries(
    ['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2'].map((n) => [n, { regexes: 'llama3', ignoreMerges: true, addBos: true }]),
  ),
  ...Object.fromEntries(['dbrx', 'smaug-bpe'].map((n) => [n, { regexes: 'llama3' }])),
  ...Object.fromEntries(['qwen2', 'deepseek-r1-qwen', 'megrez', 'stablelm2'].map((n) => [n, { regexes: 'qwen2' }])),
};

// Special tokens llama.cpp finds by their text when the metadata does not name them; finding one marks it
// as a control token. The FIM pad/repo/file-separator tokens also end generation.
const AUTO_DETECTED: ReadonlyArray<{ key: string; texts: readonly string[]; endsGeneration: boolean }> = [
  { key: 'eot', endsGeneration: true, texts: ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>', '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>'] },
  { key: 'eom', endsGeneration: true, texts: ['<|eom_id|>'] },
  { key: 'fim_pre', endsGeneration: false, texts: ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>'] },
  { key: 'fim_suf', endsGeneration: false, texts: ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>'] },
  { key: 'fim_mid', endsGeneration: false, texts: ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>'] },
  { key: 'fim_pad', endsGeneration: true, texts: ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'] },
  { key: 'fim_rep', endsGeneration: true, texts: ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'] },
  { key: 'fim_sep', endsGeneration: true, texts: ['<|file_sep|>'] },
];

function field(meta: Record<string, GgufValue>, key: string): GgufValue | undefined {
  return Object.prototype.hasOwnProperty.call(meta, key) ? meta[key] : undefined;
}

function stringField(meta: Record<string, GgufValue>, key: string): string | undefined {
  const v = field(meta, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new WhetError(`GGUF metadata '${key}' must be a string`);
  return v;
}

function boolField(meta: Record<string, GgufValue>, key: string): boolean | undefined {
  const v = field(meta, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new WhetError(`GGUF metadata '${key}' must be a boolean`);
  return v;
}

function idField(meta: Record<string, GgufValue>, key: string): number | undefined {
  const v = field(meta, key);
  if (v === undefined) return undefined;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new WhetError(`GGUF metadata '${key}' must be an integer`);
  return v;
}

function arrayField(meta: Record<string, GgufValue>, key: string, kind: 'string' | 'number', minLength: number): GgufValue[] | undefined {
  const v = field(meta, key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== kind)) throw new WhetError(`GGUF metadata '${key}' must be an array of ${kind}s`);
  if (v.length < minLength) throw new WhetError(`GGUF metadata '${key}' has ${v.length} entries, fewer than the ${minLength} tokens`);
  return v;
}

const stringArray = (meta: Record<string, GgufValue>, key: string): string[] | undefined => arrayField(meta, key, 'string', 0) as string[] | undefined;
const numberArray = (meta: Record<string, GgufValue>, key: string, minLength: number): number[] | undefined =>
  arrayField(meta, key, 'number', minLength) as number[] | undefined;

const isCSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';

type Fragment = { text: string } | { id: number };

/** A GGUF vocabulary: its tokens, their ids and scores, and the llama_token_attr bits that steer encoding and decoding. */
interface GgufVocab {
  tokens: string[];
  ids: Map<string, number>;
  scores: number[] | undefined;
  /** Starts from tokenizer.ggml.token_type; special-token detection adds CONTROL and RSTRIP bits afterwards. */
  attrs: Uint16Array;
  tokenToId: (s: string) => number | undefined;
}

/** Encodes one run of plain text (no special tokens in it); `afterSpecial` says whether it starts the text or follows a special token. */
type EncodeText = (text: string, afterSpecial: boolean, out: number[]) => void;

/** Which of the two vocab types the file carries; anything else is refused rather than tokenised wrongly. */
function readTokenizerModel(meta: Record<string, GgufValue>): 'llama' | 'gpt2' {
  const model = stringField(meta, 'tokenizer.ggml.model');
  if (model === undefined) throw new WhetError("GGUF metadata has no 'tokenizer.ggml.model': the file carries no tokenizer");
  if (model !== 'llama' && model !== 'gpt2') {
    throw new WhetError(`GGUF tokenizer model '${model}' is not supported (only 'llama' SentencePiece and 'gpt2' byte-level BPE)`);
  }
  return model;
}

/** Reads tokens, scores and token types, refusing duplicate tokens since ids must map back to one text. */
function readVocab(meta: Record<string, GgufValue>): GgufVocab {
  const tokens = stringArray(meta, 'tokenizer.ggml.tokens');
  if (tokens === undefined || tokens.length === 0) throw new WhetError("GGUF metadata has no 'tokenizer.ggml.tokens'");
  const n = tokens.length;
  const scores = numberArray(meta, 'tokenizer.ggml.scores', n);
  const types = numberArray(meta, 'tokenizer.ggml.token_type', n);

  const ids = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (ids.has(t)) throw new WhetError(`GGUF vocab has duplicate token '${t}' (ids ${ids.get(t)} and ${i})`);
    ids.set(t, i);
  });
  const attrs = new Uint16Array(n).fill(ATTR_NORMAL);
  if (types) for (let i = 0; i < n; i++) attrs[i] = ATTR_OF_TYPE[types[i]] ?? 0;
  return { tokens, ids, scores, attrs, tokenToId: (s) => ids.get(s) };
}

/** The pre-tokenizer a byte-level BPE vocab names in tokenizer.ggml.pre; SentencePiece vocabs have none. */
function choosePreTokenizer(meta: Record<string, GgufValue>, isSpm: boolean): PreConfig {
  if (isSpm) return { regexes: 'default' };
  const name = stringField(meta, 'tokenizer.ggml.pre') ?? 'default';
  const found = PRE_CONFIGS[name];
  if (found === undefined) throw new WhetError(`GGUF pre-tokenizer '${name}' is not supported (supported: ${Object.keys(PRE_CONFIGS).join(', ')})`);
  return found;
}

const inVocab = (id: number | undefined, n: number): number | undefined => (id !== undefined && id >= 0 && id < n ? id : undefined);

/** A special id from tokenizer.ggml.<key>_token_id, else llama.cpp's default for the vocab type; out-of-range ids count as absent. */
function specialId(meta: Record<string, GgufValue>, key: string, n: number, fallback?: number): number | undefined {
  return inVocab(idField(meta, `tokenizer.ggml.${key}_token_id`), n) ?? inVocab(fallback, n);
}

/**
 * The ids that end generation besides EOS (EOT, EOM, FIM pad/repo/sep), from metadata or found by their text as llama.cpp does.
 * Marks every token found by text, and every END_OF_GENERATION_TEXTS token, as a control token.
 */
function detectEndOfGeneration(meta: Record<string, GgufValue>, vocab: GgufVocab): number[] {
  const { attrs, tokenToId } = vocab;
  const endOfGeneration: number[] = [];
  for (const { key, texts, endsGeneration } of AUTO_DETECTED) {
    let id = specialId(meta, key, vocab.tokens.length);
    if (id === undefined) {
      id = texts.map(tokenToId).filter((x): x is number => x !== undefined).sort((a, b) => a - b)[0];
      if (id !== undefined) attrs[id] |= ATTR_CONTROL;
    }
    if (id !== undefined && endsGeneration) endOfGeneration.push(id);
  }
  for (const text of END_OF_GENERATION_TEXTS) {
    const id = tokenToId(text);
    if (id !== undefined) attrs[id] |= ATTR_CONTROL;
  }
  return endOfGeneration;
}

/** Tokens matched in raw text before tokenising, longest (in UTF-8 bytes) first so that a longer special wins over its prefix. */
function specialTokensLongestFirst({ tokens, attrs }: GgufVocab): number[] {
  const utf8Length = (t: string): number => Buffer.byteLength(t, 'utf8');
  return [...attrs.keys()]
    .filter((i) => attrs[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN))
    .sort((a, b) => utf8Length(tokens[b]) - utf8Length(tokens[a]) || a - b);
}

/** llama.cpp gives Phi-3's special tokens rstrip by model name (GGUF carries no per-token strip flags). */
function applyPhi3Rstrip(meta: Record<string, GgufValue>, { ids, attrs }: GgufVocab, specialIds: readonly number[]): void {
  const modelName = (stringField(meta, 'general.name') ?? '').toLowerCase();
  if (modelName.includes('phi-3') || modelName.includes('phi3')) {
    for (const id of specialIds) attrs[id] |= ATTR_RSTRIP;
    if (ids.has('</s>')) attrs[ids.get('</s>')!] |= ATTR_RSTRIP;
    for (const t of ['<unk>', '<s>', '<|endoftext|>']) if (ids.has(t)) attrs[ids.get(t)!] &= ~ATTR_RSTRIP;
  }
}

/** llama.cpp's tokenizer_st_partition: cut the text around every occurrence of each special token. */
function partitionOnSpecials(text: string, parseSpecial: boolean, { tokens, attrs }: GgufVocab, specialIds: readonly number[]): Fragment[] {
  let frags: Fragment[] = text.length > 0 ? [{ text }] : [];
  for (const id of specialIds) {
    if (!parseSpecial && attrs[id] & (ATTR_CONTROL | ATTR_UNKNOWN)) continue;
    const tok = tokens[id];
    const next: Fragment[] = [];
    for (const frag of frags) {
      if (!('text' in frag)) {
        next.push(frag);
        continue;
      }
      let rest = frag.text;
      for (;;) {
        const at = rest.indexOf(tok);
        if (at === -1) {
          if (rest.length > 0) next.push({ text: rest });
          break;
        }
        if (at > 0) next.push({ text: rest.slice(0, at) });
        next.push({ id });
        rest = rest.slice(at + tok.length);
        if (attrs[id] & ATTR_RSTRIP) while (rest.length > 0 && isCSpace(rest[0])) rest = rest.slice(1);
        if (rest.length === 0) break;
      }
    }
    frags = next;
  }
  return frags;
}

/** SentencePiece merges by score with byte fallback; a 'gpt2' vocab instead needs tokenizer.ggml.merges and runs its pre-tokenizer first. */
function buildTextEncoder(meta: Record<string, GgufValue>, vocab: GgufVocab, isSpm: boolean, pre: PreConfig, addSpacePrefix: boolean): EncodeText {
  const { ids, scores, tokenToId } = vocab;
  if (isSpm) {
    const spmVocab: SpmVocab = {
      tokenId: tokenToId,
      score: (id) => scores?.[id] ?? 0,
      byteToken(byte) {
        const id = ids.get(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`) ?? (byte < 0x80 ? ids.get(String.fromCharCode(byte)) : undefined);
        if (id === undefined) throw new WhetError(`GGUF vocab has no token for byte 0x${byte.toString(16).padStart(2, '0')} (no byte fallback)`);
        return id;
      },
    };
    // SentencePiece prefixes a space to the text at the start and after every special token.
    return (text, afterSpecial, out) => {
      const prefixed = addSpacePrefix && afterSpecial ? ` ${text}` : text;
      spmTokenize(prefixed.replaceAll(' ', '\u2581'), spmVocab, out);
    };
  }
  const merges = stringArray(meta, 'tokenizer.ggml.merges');
  if (merges === undefined) throw new WhetError("GGUF metadata has no 'tokenizer.ggml.merges', which a 'gpt2' tokenizer needs");
  const bpeVocab: BpeVocab = { tokenId: tokenToId, rank: mergeRanks(merges), ignoreMerges: pre.ignoreMerges === true };
  return (text, _afterSpecial, out) => {
    for (const word of preTokenize(text, pre.regexes)) bpeTokenize(word, bpeVocab, out);
  };
}

/** BOS (when asked and known), then special tokens cut out of the text and the text between them encoded. */
function buildEncode(
  vocab: GgufVocab,
  specialIds: readonly number[],
  encodeText: EncodeText,
  bosId: number | undefined,
  addBos: boolean,
): (text: string, opts?: EncodeOptions) => number[] {
  return (text, opts = {}) => {
    const out: number[] = [];
    if (opts.addBos ?? addBos) {
      if (bosId === undefined) throw new WhetError('this tokenizer has no BOS token to add');
      out.push(bosId);
    }
    let afterSpecial = true;
    for (const frag of partitionOnSpecials(text, opts.addSpecial ?? true, vocab, specialIds)) {
      if ('id' in frag) {
        out.push(frag.id);
        afterSpecial = true;
      } else {
        encodeText(frag.text, afterSpecial, out);
        afterSpecial = false;
      }
    }
    return out;
  };
}

const utf8 = new TextEncoder();

/** A byte-level BPE token's bytes; a character outside the byte-level alphabet keeps its own UTF-8 (llama.cpp writes an [UNK_BYTE_..] marker). */
const byteLevelBytes = (text: string): number[] =>
  Array.from(text).flatMap((c) => {
    const b = UNICODE_TO_BYTE.get(c);
    return b === undefined ? [...utf8.encode(c)] : [b];
  });

/** llama.cpp's token_to_piece, as bytes and cached per id; special tokens render as their text. */
function buildPieceBytes({ tokens, attrs }: GgufVocab, isSpm: boolean): (id: number) => Uint8Array {
  const pieceCache: (Uint8Array | undefined)[] = new Array(tokens.length);
  return (id) => {
    let bytes = pieceCache[id];
    if (bytes !== undefined) return bytes;
    const a = attrs[id];
    const text = tokens[id];
    if (a & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) bytes = utf8.encode(text);
    else if (a & ATTR_NORMAL) bytes = isSpm ? utf8.encode(text.replaceAll('\u2581', ' ')) : Uint8Array.from(byteLevelBytes(text));
    else if (a & ATTR_BYTE) bytes = Uint8Array.of(parseInt(text.slice(3, 5), 16));
    else bytes = new Uint8Array(0);
    pieceCache[id] = bytes;
    return bytes;
  };
}

/** Joins the pieces' bytes before decoding UTF-8, so characters split across byte tokens come out whole. */
function buildDecode(
  { tokens, attrs }: GgufVocab,
  piece: (id: number) => Uint8Array,
  addSpacePrefix: boolean,
): (idList: readonly number[], opts?: DecodeOptions) => string {
  const n = tokens.length;
  const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  return (idList, opts = {}) => {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const id of idList) {
      if (!Number.isInteger(id) || id < 0 || id >= n) throw new WhetError(`token id ${id} is outside the vocabulary (0..${n - 1})`);
      if (opts.skipSpecial && attrs[id] & (ATTR_UNKNOWN | ATTR_CONTROL)) continue;
      const p = piece(id);
      parts.push(p);
      total += p.length;
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    const text = utf8Decoder.decode(all);
    // The space SentencePiece prefixed to the text is not part of it (HF's Strip decoder).
    return addSpacePrefix && text.startsWith(' ') ? text.slice(1) : text;
  };
}

/** Builds the tokenizer described by a GGUF file's metadata (`readGguf(path).metadata`). */
export function tokenizerFromGguf(meta: Record<string, GgufValue>): Tokenizer {
  const isSpm = readTokenizerModel(meta) === 'llama';
  const vocab = readVocab(meta);
  const { tokens, attrs, tokenToId } = vocab;
  const n = tokens.length;
  const pre = choosePreTokenizer(meta, isSpm);

  // Special ids: llama.cpp's defaults per vocab type, replaced by in-range metadata values.
  const bosId = specialId(meta, 'bos', n, isSpm ? 1 : 11);
  const eosId = specialId(meta, 'eos', n, isSpm ? 2 : 11);
  const padId = specialId(meta, 'padding', n);
  const addBos = boolField(meta, 'tokenizer.ggml.add_bos_token') ?? (isSpm || pre.addBos === true);
  const addSpacePrefix = isSpm && (boolField(meta, 'tokenizer.ggml.add_space_prefix') ?? true);
  const eosIds = collectEosIds([eosId, ...detectEndOfGeneration(meta, vocab)], tokenToId);

  const specialIds = specialTokensLongestFirst(vocab);
  applyPhi3Rstrip(meta, vocab, specialIds);

  const encode = buildEncode(vocab, specialIds, buildTextEncoder(meta, vocab, isSpm, pre, addSpacePrefix), bosId, addBos);
  const piece = buildPieceBytes(vocab, isSpm);
  const decode = buildDecode(vocab, piece, addSpacePrefix);

  const encodeWithOffsets = (text: string, opts: EncodeOptions = {}): TokenOffsets => {
    const ids = encode(text, opts);
    const bos = (opts.addBos ?? addBos) ? 1 : 0;
    const pieces = ids.map((id, i) => ({
      bytes: i < bos ? null : piece(id),
      special: (attrs[id]! & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) !== 0,
      rstrip: (attrs[id]! & ATTR_RSTRIP) !== 0,
    }));
    return { ids, offsets: alignOffsets(text, pieces, { prefixSpace: addSpacePrefix, isStripSpace: isCSpace }) };
  };

  return {
    vocabSize: n,
    bosId,
    eosId,
    eosIds,
    padId,
    addBos,
    chatTemplate: stringField(meta, 'tokenizer.chat_template'),
    encode,
    encodeWithOffsets,
    decode,
    tokenToId,
    idToToken: (id) => (Number.isInteger(id) && id >= 0 && id < n ? tokens[id] : undefined),
    createDecodeStream: (opts) => createWindowDecodeStream(decode, opts),
  };
}
