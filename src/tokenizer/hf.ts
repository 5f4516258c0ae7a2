// A Tokenizer from a Hugging Face tokenizer.json (+ tokenizer_config.json, generation_config.json) through @huggingface/tokenizers.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { WhetError } from '../errors.ts';
import { collectEosIds, createWindowDecodeStream, type DecodeOptions, type EncodeOptions, type TokenOffsets, type Tokenizer } from './tokenizer.ts';
import { alignOffsets, type AlignOptions, type TokenPiece, type UnicodeForm } from './offsets.ts';
import { UNICODE_TO_BYTE } from './unicode.ts';

type Json = Record<string, unknown>;

export interface HfTokenizerFiles {
  /** Parsed tokenizer.json. */
  tokenizerJson: Json;
  /** Parsed tokenizer_config.json: special tokens, add_bos_token, chat_template. */
  tokenizerConfig?: Json;
  /** Parsed generation_config.json: eos_token_id (often a list), pad_token_id. */
  generationConfig?: Json;
  /** Contents of chat_template.jinja, which newer model folders ship instead of tokenizer_config's chat_template. */
  chatTemplate?: string;
}

function readJson(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new WhetError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Json;
  } catch (e) {
    throw new WhetError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Reads the tokenizer files of a Hugging Face model folder; only tokenizer.json is required. */
export function readHfTokenizerFiles(dir: string): HfTokenizerFiles {
  const file = (name: string): string => join(dir, name);
  if (!existsSync(file('tokenizer.json'))) throw new WhetError(`${dir} has no tokenizer.json`);
  return {
    tokenizerJson: readJson(file('tokenizer.json')),
    tokenizerConfig: existsSync(file('tokenizer_config.json')) ? readJson(file('tokenizer_config.json')) : undefined,
    generationConfig: existsSync(file('generation_config.json')) ? readJson(file('generation_config.json')) : undefined,
    chatTemplate: existsSync(file('chat_template.jinja')) ? readFileSync(file('chat_template.jinja'), 'utf8') : undefined,
  };
}

// tokenizer_config.json writes special tokens as "<s>" or as an AddedToken object {"content": "<s>", ...}.
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

function idList(v: unknown): number[] {
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
}

// chat_template is a string, or a list of named templates of which "default" is the chat one.
function templateOf(config: Json): string | undefined {
  const t = config.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((x: unknown) => (x as Json)?.name === 'default') as Json | undefined;
    return typeof named?.template === 'string' ? named.template : undefined;
  }
  return undefined;
}

// Every normalizer, pre-tokenizer or decoder in a tokenizer.json component, Sequences flattened.
function components(c: unknown): Json[] {
  if (c === null || typeof c !== 'object') return [];
  const j = c as Json;
  const inner = j.normalizers ?? j.pretokenizers ?? j.decoders;
  return Array.isArray(inner) ? inner.flatMap(components) : [j];
}

interface TokenSpelling extends AlignOptions {
  /** The bytes a vocabulary token stands for. */
  bytesOf(token: string): Uint8Array;
}

const utf8 = new TextEncoder();

// How the model's token strings spell bytes, read off the pipeline: byte-level BPE (GPT-2's byte↔unicode map)
// or SentencePiece (U+2581 for space, <0xNN> byte fallback). Undefined when neither (offsets unsupported).
function tokenSpelling(json: Json): TokenSpelling | undefined {
  const normalizers = components(json.normalizer);
  const pre = components(json.pre_tokenizer);
  const decoders = components(json.decoder);
  const all = [...normalizers, ...pre, ...decoders];
  const form = normalizers.map((n) => n.type).find((t): t is UnicodeForm => t === 'NFC' || t === 'NFD' || t === 'NFKC' || t === 'NFKD');
  if (all.some((c) => c.type === 'ByteLevel')) {
    return {
      normalize: form,
      prefixSpace: pre.some((c) => c.type === 'ByteLevel' && c.add_prefix_space === true),
      bytesOf: (token) => {
        const out = new Uint8Array(token.length);
        let n = 0;
        for (const ch of token) {
          const b = UNICODE_TO_BYTE.get(ch);
          if (b === undefined) throw new Error(`token '${token}' is not byte-level text`);
          out[n++] = b;
        }
        return out.subarray(0, n);
      },
    };
  }
  const metaspace = pre.find((c) => c.type === 'Metaspace');
  const replacesSpace = normalizers.some((c) => c.type === 'Replace' && c.content === '\u2581');
  if (metaspace === undefined && !replacesSpace && !decoders.some((c) => c.type === 'Metaspace' || c.type === 'ByteFallback')) return undefined;
  const byteFallback = (json.model as Json | undefined)?.byte_fallback === true;
  return {
    normalize: form,
    prefixSpace:
      normalizers.some((c) => c.type === 'Prepend') ||
      (metaspace !== undefined && (metaspace.prepend_scheme !== undefined ? metaspace.prepend_scheme !== 'never' : metaspace.add_prefix_space !== false)),
    bytesOf: (token) => {
      const byte = byteFallback ? /^<0x([0-9A-Fa-f]{2})>$/.exec(token) : null;
      return byte !== null ? Uint8Array.of(parseInt(byte[1]!, 16)) : utf8.encode(token.replaceAll('\u2581', ' '));
    },
  };
}

/** Builds a tokenizer from a model folder, or from the parsed files. */
export function tokenizerFromJson(source: string | HfTokenizerFiles): Tokenizer {
  const files = typeof source === 'string' ? readHfTokenizerFiles(source) : source;
  const config = files.tokenizerConfig ?? {};
  const generation = files.generationConfig ?? {};
  const json = files.tokenizerJson;
  const make = (tokenizerJson: Json): HfTokenizer => {
    try {
      return new HfTokenizer(tokenizerJson, config);
    } catch (e) {
      throw new WhetError(`cannot build the tokenizer from tokenizer.json: ${(e as Error).message}`);
    }
  };
  const tok = make(json);
  // With addSpecial: false, special tokens must be spelled out as text, so a twin without them does that encoding.
  let plainTok: HfTokenizer | undefined;
  const plain = (): HfTokenizer => {
    const added = Array.isArray(json.added_tokens) ? (json.added_tokens as Json[]) : [];
    return (plainTok ??= make({ ...json, added_tokens: added.filter((t) => t.special !== true) }));
  };

  let vocabSize = 0;
  for (const id of tok.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
  const tokenToId = (s: string): number | undefined => tok.token_to_id(s);
  const bosToken = tokenString(config.bos_token);
  const eosToken = tokenString(config.eos_token);
  const bosId = (bosToken !== undefined ? tokenToId(bosToken) : undefined) ?? idList(generation.bos_token_id)[0];
  const eosId = (eosToken !== undefined ? tokenToId(eosToken) : undefined) ?? idList(generation.eos_token_id)[0];
  const padToken = tokenString(config.pad_token);
  const padId = (padToken !== undefined ? tokenToId(padToken) : undefined) ?? idList(generation.pad_token_id)[0];
  // Only special added tokens end turns: a Qwen vocab also holds "</s>" as ordinary text.
  const specialIds = new Map([...tok.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id, t]) => [t.content, id]));
  const eosIds = collectEosIds([eosId, ...idList(generation.eos_token_id)], (s) => specialIds.get(s));

  // add_bos_token when the config says; otherwise whatever the post-processor does with add_special_tokens.
  let addBos: boolean;
  if (typeof config.add_bos_token === 'boolean') addBos = config.add_bos_token;
  else addBos = bosId !== undefined && tok.encode('a', { add_special_tokens: true }).ids[0] === bosId && tok.encode('a', { add_special_tokens: false }).ids[0] !== bosId;
  if (addBos && bosId === undefined) throw new WhetError('tokenizer_config.json sets add_bos_token but names no bos_token');

  const encode = (text: string, opts: EncodeOptions = {}): number[] => {
    const ids = ((opts.addSpecial ?? true) ? tok : plain()).encode(text, { add_special_tokens: false }).ids;
    if (!(opts.addBos ?? addBos)) return ids;
    if (bosId === undefined) throw new WhetError('this tokenizer has no BOS token to add');
    return [bosId, ...ids];
  };

  const spelling = tokenSpelling(json);
  const encodeWithOffsets = (text: string, opts: EncodeOptions = {}): TokenOffsets => {
    if (spelling === undefined) throw new WhetError('token offsets (needed for loss masks) are not supported for this tokenizer.json: it is neither byte-level BPE nor SentencePiece');
    const ids = encode(text, opts);
    const bos = (opts.addBos ?? addBos) ? 1 : 0;
    const added = ((opts.addSpecial ?? true) ? tok : plain()).get_added_tokens_decoder();
    const pieces: TokenPiece[] = ids.map((id, i) => {
      if (i < bos) return { bytes: null, special: true };
      const a = added.get(id);
      if (a !== undefined) return { bytes: utf8.encode(a.content), special: true, lstrip: a.lstrip, rstrip: a.rstrip };
      return { bytes: spelling.bytesOf(tok.id_to_token(id) ?? ''), special: false };
    });
    return { ids, offsets: alignOffsets(text, pieces, spelling) };
  };

  const decode = (ids: readonly number[], opts: DecodeOptions = {}): string => {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize || tok.id_to_token(id) === undefined) {
        throw new WhetError(`token id ${id} is outside the vocabulary (0..${vocabSize - 1})`);
      }
    }
    if (ids.length === 0) return '';
    return tok.decode([...ids], { skip_special_tokens: opts.skipSpecial ?? false, clean_up_tokenization_spaces: false });
  };

  return {
    vocabSize,
    bosId,
    eosId,
    eosIds,
    padId,
    addBos,
    chatTemplate: files.chatTemplate ?? templateOf(config),
    encode,
    encodeWithOffsets,
    decode,
    tokenToId,
    idToToken: (id) => tok.id_to_token(id),
    createDecodeStream: (opts) => createWindowDecodeStream(decode, opts),
  };
}
