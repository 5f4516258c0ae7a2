// Hugging Face tokenizer files → GGUF tokenizer metadata, as llama.cpp's convert_hf_to_gguf.py writes it (SentencePiece-style byte-fallback BPE as 'llama', byte-level BPE as 'gpt2').
import { WhetError } from '../errors.ts';
import type { GgufWriteValue } from '../formats/gguf-write.ts';
import { ggufPreName } from './convert-pre.ts';
import type { HfTokenizerFolder } from './convert.ts';
import { tokenizerFromJson } from './hf.ts';
import { decodeSpmModel, SPM_BYTE, SPM_CONTROL, SPM_NORMAL, SPM_UNKNOWN, SPM_UNUSED, SPM_USER_DEFINED } from './spm-model.ts';

type Json = Record<string, unknown>;

const SPACE = '\u2581';
const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;
// llama.cpp's converter gives tokens it adds or pads this score.
const ADDED_SCORE = -1000;
const PAD_SCORE = -10000;
// Ids past this are a malformed file, not a vocabulary to allocate for.
const MAX_VOCAB = 1 << 24;

export interface GgufTokenizerOptions {
  /** The model's embedding rows (config.json's vocab_size): ids past the tokenizer's are padded as unused `[PADn]` tokens. */
  vocabSize?: number;
}

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

// llama.cpp's does_token_look_special: added tokens it makes control tokens though not marked special.
function looksSpecial(t: string): boolean {
  return ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) || (t.startsWith('<|') && t.endsWith('|>')) ||
    (t.startsWith('<｜') && t.endsWith('｜>')) || (t.startsWith('<unused') && t.endsWith('>'));
}

function flatten(node: unknown, listKey: string): Json[] {
  if (!isObject(node)) return [];
  if (node.type === 'Sequence' && Array.isArray(node[listKey])) return (node[listKey] as unknown[]).flatMap((x) => flatten(x, listKey));
  return [node];
}

const isReplaceSpace = (n: Json): boolean => n.type === 'Replace' && isObject(n.pattern) && n.pattern.String === ' ' && n.content === SPACE;

// Whether a SentencePiece-style tokenizer.json prefixes text with a space (llama.cpp's add_space_prefix).
function spmAddSpacePrefix(json: Json): boolean {
  const normalizers = flatten(json.normalizer, 'normalizers');
  const pre = flatten(json.pre_tokenizer, 'pretokenizers');
  const describe = () => JSON.stringify({ normalizer: json.normalizer, pre_tokenizer: json.pre_tokenizer });
  const prepend = normalizers.filter((n) => n.type === 'Prepend' && n.prepend === SPACE);
  const metaspace = pre.filter((p) => p.type === 'Metaspace' && (p.replacement ?? SPACE) === SPACE);
  const known = normalizers.length === prepend.length + normalizers.filter(isReplaceSpace).length && pre.length === metaspace.length;
  // Either the legacy normalizer (Prepend + Replace) or a Metaspace pre-tokenizer, not both.
  if (!known || (metaspace.length > 0) === (normalizers.length > 0)) {
    throw new WhetError(`tokenizer.json's SentencePiece normalisation ${describe()} has no GGUF equivalent (expected Prepend('▁') + Replace(' ', '▁'), or Metaspace)`);
  }
  if (metaspace.length > 0) {
    const m = metaspace[0];
    // 'first' prefixes only the start of the text, llama.cpp also each run after a special token: the nearest GGUF form.
    return typeof m.prepend_scheme === 'string' ? m.prepend_scheme !== 'never' : m.add_prefix_space !== false;
  }
  return prepend.length > 0;
}

function mergePairs(model: Json): [string, string][] {
  if (!Array.isArray(model.merges)) throw new WhetError('tokenizer.json BPE model has no merges list');
  return model.merges.map((m: unknown): [string, string] => {
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    if (typeof m === 'string') {
      const space = m.indexOf(' ', 1);
      if (space > 0) return [m.slice(0, space), m.slice(space + 1)];
    }
    throw new WhetError(`tokenizer.json has a malformed merge ${JSON.stringify(m)}`);
  });
}

/**
 * Scores that make llama.cpp's merge-by-score reproduce the BPE merges: a piece scores −k when it is the k-th
 * distinct piece the ranked merges produce (SentencePiece's own convention: −(order learned)); pieces no merge
 * produces (single characters) follow in id order.
 */
function scoresFromMerges(tokens: readonly string[], types: readonly number[], merges: readonly [string, string][]): number[] {
  const ids = new Map(tokens.map((t, i) => [t, i]));
  const order: number[] = [];
  const seen = new Set<number>();
  for (const [l, r] of merges) {
    const id = ids.get(l + r);
    if (id !== undefined && types[id] === SPM_NORMAL && !seen.has(id)) {
      seen.add(id);
      order.push(id);
    }
  }
  for (let id = 0; id < tokens.length; id++) if (types[id] === SPM_NORMAL && !seen.has(id)) order.push(id);
  const scores = types.map((t): number => (t === SPM_UNUSED ? PAD_SCORE : 0));
  order.forEach((id, k) => {
    scores[id] = 0 - k; // not -k, which is −0 for the first piece
  });
  return scores;
}

/** Builds the tokenizer.* metadata of a GGUF file from a Hugging Face folder's tokenizer files. */
export function ggufTokenizerMetadataFromHf(files: HfTokenizerFolder, opts: GgufTokenizerOptions = {}): Record<string, GgufWriteValue> {
  const json = files.tokenizerJson;
  const model = json.model;
  if (!isObject(model) || model.type !== 'BPE' || !isObject(model.vocab)) {
    const kind = isObject(model) ? String(model.type) : 'missing';
    throw new WhetError(`tokenizer.json model '${kind}' cannot be converted to GGUF here (only BPE: SentencePiece-style with byte fallback, or byte-level)`);
  }
  // Building the tokenizer validates the files and settles BOS/EOS/padding exactly as encoding here does.
  const tok = tokenizerFromJson(files);
  const isSpm = model.byte_fallback === true;

  const entries = Object.entries(model.vocab);
  const added = (Array.isArray(json.added_tokens) ? json.added_tokens : []).filter(isObject);
  let n = 0;
  for (const [, id] of entries) if (typeof id === 'number') n = Math.max(n, id + 1);
  for (const a of added) if (typeof a.id === 'number') n = Math.max(n, a.id + 1);
  if (n > MAX_VOCAB) throw new WhetError(`tokenizer.json has a token id of ${n - 1}, beyond any real vocabulary`);
  if (opts.vocabSize !== undefined) {
    if (opts.vocabSize < n) throw new WhetError(`vocab_size ${opts.vocabSize} is smaller than the tokenizer's ${n} tokens`);
    n = opts.vocabSize;
  }

  const tokens: string[] = new Array(n);
  const types: number[] = new Array(n).fill(SPM_UNUSED);
  const setToken = (id: unknown, text: string, type: number, what: string): void => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new WhetError(`tokenizer.json ${what} '${text}' has a bad id ${JSON.stringify(id)}`);
    tokens[id] = text;
    types[id] = type;
  };
  const unkToken = typeof model.unk_token === 'string' ? model.unk_token : undefined;
  for (const [text, id] of entries) {
    const type = text === unkToken ? SPM_UNKNOWN : isSpm && BYTE_TOKEN.test(text) ? SPM_BYTE : SPM_NORMAL;
    setToken(id, text, type, 'vocab token');
  }
  const addedIds = new Set<number>();
  for (const a of added) {
    if (typeof a.content !== 'string') throw new WhetError(`tokenizer.json added token ${JSON.stringify(a)} has no content`);
    let text = a.content;
    const special = a.special === true || looksSpecial(text);
    // A normalised added token is matched after spaces became '▁'; GGUF matches raw text, so spell the spaces out.
    if (isSpm && !special && (a.normalized ?? true)) text = text.replaceAll(SPACE, ' ');
    const type = text === unkToken ? SPM_UNKNOWN : special ? SPM_CONTROL : SPM_USER_DEFINED;
    setToken(a.id, text, type, 'added token');
    addedIds.add(a.id as number);
  }
  for (let id = 0; id < n; id++) if (tokens[id] === undefined) tokens[id] = `[PAD${id}]`;

  const meta: Record<string, GgufWriteValue> = {};
  const u32 = (key: string, v: number | undefined): void => {
    if (v !== undefined) meta[key] = { type: 'u32', value: v };
  };
  if (isSpm) {
    meta['tokenizer.ggml.model'] = 'llama';
    meta['tokenizer.ggml.pre'] = 'default';
    meta['tokenizer.ggml.tokens'] = { type: { array: 'string' }, value: tokens };
    meta['tokenizer.ggml.scores'] = { type: { array: 'f32' }, value: spmScoresAndTypes(files, tokens, types, addedIds, mergePairs(model)) };
    meta['tokenizer.ggml.token_type'] = { type: { array: 'i32' }, value: types };
    meta['tokenizer.ggml.add_space_prefix'] = spmAddSpacePrefix(json);
  } else {
    const normalizers = flatten(json.normalizer, 'normalizers');
    // llama.cpp applies no normaliser; NFC (Qwen's) only changes text that is not already composed.
    const other = normalizers.filter((x) => x.type !== 'NFC');
    if (other.length > 0) throw new WhetError(`tokenizer.json normalizer ${JSON.stringify(json.normalizer)} has no GGUF equivalent`);
    const merges = mergePairs(model).map(([l, r]) => {
      if (l.includes(' ') || r.includes(' ')) throw new WhetError(`tokenizer.json merge ${JSON.stringify([l, r])} holds a space, which GGUF's "left right" merges cannot store`);
      return `${l} ${r}`;
    });
    meta['tokenizer.ggml.model'] = 'gpt2';
    meta['tokenizer.ggml.pre'] = ggufPreName(json.pre_tokenizer, model.ignore_merges === true);
    meta['tokenizer.ggml.tokens'] = { type: { array: 'string' }, value: tokens };
    meta['tokenizer.ggml.token_type'] = { type: { array: 'i32' }, value: types };
    meta['tokenizer.ggml.merges'] = { type: { array: 'string' }, value: merges };
  }
  u32('tokenizer.ggml.bos_token_id', tok.bosId);
  u32('tokenizer.ggml.eos_token_id', tok.eosId);
  u32('tokenizer.ggml.unknown_token_id', unkToken !== undefined ? tok.tokenToId(unkToken) : undefined);
  u32('tokenizer.ggml.padding_token_id', tok.padId);
  meta['tokenizer.ggml.add_bos_token'] = tok.addBos;
  const config = files.tokenizerConfig ?? {};
  if (typeof config.add_eos_token === 'boolean') meta['tokenizer.ggml.add_eos_token'] = config.add_eos_token;
  if (tok.chatTemplate !== undefined) meta['tokenizer.chat_template'] = tok.chatTemplate;
  return meta;
}

// The pieces' scores and types from tokenizer.model when it describes this very vocab (added tokens keep the
// types tokenizer.json gives them, as llama.cpp's converter does); otherwise the types as given and scores from the merges.
function spmScoresAndTypes(files: HfTokenizerFolder, tokens: readonly string[], types: number[], addedIds: ReadonlySet<number>, merges: readonly [string, string][]): number[] {
  if (files.sentencePieceModel !== undefined) {
    const proto = decodeSpmModel(files.sentencePieceModel);
    const same = proto.modelType === 2 && proto.pieces.length <= tokens.length && proto.pieces.every((p, i) => p.piece === tokens[i]);
    if (same) {
      proto.pieces.forEach((p, i) => {
        if (!addedIds.has(i)) types[i] = p.type;
      });
      return tokens.map((_, i) => (i < proto.pieces.length ? proto.pieces[i].score : addedIds.has(i) ? ADDED_SCORE : PAD_SCORE));
    }
  }
  return scoresFromMerges(tokens, types, merges);
}
