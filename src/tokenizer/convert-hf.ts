// GGUF tokenizer metadata → Hugging Face tokenizer files (tokenizer.json, tokenizer_config.json, generation_config, and tokenizer.model for SentencePiece vocabs), as transformers' GGUF converters build them.
import type { GgufValue } from '../formats/gguf.ts';
import { hfPreTokenizer } from './convert-pre.ts';
import type { HfTokenizerFolder } from './convert.ts';
import { tokenizerFromGguf } from './gguf.ts';
import { encodeSpmModel, SPM_BYTE, SPM_CONTROL, SPM_NORMAL, SPM_UNKNOWN, SPM_UNUSED, SPM_USER_DEFINED, type SpmPiece } from './spm-model.ts';
import type { Tokenizer } from './tokenizer.ts';

type Json = Record<string, unknown>;

const SPACE = '\u2581';

/**
 * transformers' generate_merges (convert_slow_tokenizer.py), which its LlamaConverter and GGUF converter use:
 * every split of a piece into two vocabulary pieces is a merge, ranked by the piece's score (highest first),
 * then by the lengths of the left and right parts (longest first), then by the ids of the parts.
 */
function mergesFromScores(tokens: readonly string[], scores: readonly number[], usable: (id: number) => boolean): [string, string][] {
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (usable(i)) ids.set(t, i);
  });
  const merges: { left: string; right: string; score: number; leftLen: number; rightLen: number }[] = [];
  tokens.forEach((token, id) => {
    if (!usable(id)) return;
    const chars = Array.from(token);
    const local: { left: string; right: string; leftLen: number; leftId: number; rightId: number }[] = [];
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join('');
      const right = chars.slice(k).join('');
      const leftId = ids.get(left);
      const rightId = ids.get(right);
      if (leftId !== undefined && rightId !== undefined) local.push({ left, right, leftLen: k, leftId, rightId });
    }
    local.sort((a, b) => a.leftId - b.leftId || a.rightId - b.rightId);
    for (const m of local) merges.push({ left: m.left, right: m.right, score: scores[id], leftLen: m.leftLen, rightLen: chars.length - m.leftLen });
  });
  // Array.prototype.sort is stable, as Python's sorted(reverse=True) is for equal keys.
  merges.sort((a, b) => b.score - a.score || b.leftLen - a.leftLen || b.rightLen - a.rightLen);
  return merges.map((m) => [m.left, m.right]);
}

// Merges as "left right" strings, which every tokenizers version reads, unless a piece holds a space.
const serialiseMerges = (merges: readonly [string, string][]): unknown[] =>
  merges.some(([l, r]) => l.includes(' ') || r.includes(' ')) ? merges.map((m) => [...m]) : merges.map(([l, r]) => `${l} ${r}`);

function templateProcessor(tokens: readonly string[], bos: number | undefined, eos: number | undefined): Json {
  const special = (id: number, typeId: number) => ({ SpecialToken: { id: tokens[id], type_id: typeId } });
  const sequence = (typeId: number) => [
    ...(bos !== undefined ? [special(bos, typeId)] : []),
    { Sequence: { id: typeId === 0 ? 'A' : 'B', type_id: typeId } },
    ...(eos !== undefined ? [special(eos, typeId)] : []),
  ];
  const specialTokens: Json = {};
  for (const id of [bos, eos]) {
    if (id !== undefined) specialTokens[tokens[id]] = { id: tokens[id], ids: [id], tokens: [tokens[id]] };
  }
  return { type: 'TemplateProcessing', single: sequence(0), pair: [...sequence(0), ...sequence(1)], special_tokens: specialTokens };
}

// The ids llama.cpp itself treats as control tokens: what decode() drops when skipping special tokens.
function isControl(tok: Tokenizer, id: number): boolean {
  return tok.decode([id], { skipSpecial: true }) === '' && tok.decode([id]) !== '';
}

const inRange = (v: GgufValue | undefined, n: number): number | undefined => {
  const id = typeof v === 'bigint' ? Number(v) : v;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < n ? id : undefined;
};

/** Builds Hugging Face tokenizer files that tokenize and decode exactly as the GGUF's own tokenizer does. */
export function hfTokenizerFilesFromGguf(meta: Record<string, GgufValue>): HfTokenizerFolder {
  // Building the GGUF tokenizer validates the metadata, so the casts below are safe.
  const tok = tokenizerFromGguf(meta);
  const isSpm = meta['tokenizer.ggml.model'] === 'llama';
  const tokens = meta['tokenizer.ggml.tokens'] as string[];
  const n = tokens.length;
  const types = (meta['tokenizer.ggml.token_type'] as number[] | undefined) ?? new Array<number>(n).fill(SPM_NORMAL);
  const scores = (meta['tokenizer.ggml.scores'] as number[] | undefined) ?? new Array<number>(n).fill(0);
  const addSpacePrefix = isSpm && meta['tokenizer.ggml.add_space_prefix'] !== false;
  const addEos = meta['tokenizer.ggml.add_eos_token'] === true;
  // GGUF readers fall back to ids 1 and 2 for a SentencePiece vocab's BOS/EOS; a byte-level vocab has no such default.
  const bosId = inRange(meta['tokenizer.ggml.bos_token_id'], n) ?? (isSpm || tok.addBos ? tok.bosId : undefined);
  const eosId = inRange(meta['tokenizer.ggml.eos_token_id'], n) ?? (isSpm || addEos ? tok.eosId : undefined);
  const firstUnknown = types.indexOf(SPM_UNKNOWN);
  const unk = inRange(meta['tokenizer.ggml.unknown_token_id'], n) ?? (isSpm && firstUnknown >= 0 ? firstUnknown : undefined);
  const padId = tok.padId;

  // llama.cpp gives Phi-3's special tokens rstrip by model name; tokenizer.json carries it per token.
  const modelName = String(meta['general.name'] ?? '').toLowerCase();
  const phi3 = modelName.includes('phi-3') || modelName.includes('phi3');
  const addedTokens: Json[] = [];
  for (let id = 0; id < n; id++) {
    const type = types[id];
    const special = type === SPM_UNKNOWN || type === SPM_CONTROL || ((type === SPM_NORMAL || type === 0) && isControl(tok, id));
    if (!special && type !== SPM_USER_DEFINED) continue;
    const rstrip = phi3 && !['<unk>', '<s>', '<|endoftext|>'].includes(tokens[id]);
    addedTokens.push({ id, content: tokens[id], single_word: false, lstrip: false, rstrip, normalized: false, special });
  }

  const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
  let model: Json;
  let normalizer: Json | null = null;
  let preTokenizer: Json | null = null;
  let decoder: Json;
  let postProcessor: Json | null = null;
  if (isSpm) {
    const merges = mergesFromScores(tokens, scores, (id) => types[id] !== SPM_UNUSED);
    model = {
      type: 'BPE', dropout: null, unk_token: unk !== undefined ? tokens[unk] : null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: serialiseMerges(merges),
    };
    // The legacy Llama normalizer: it prefixes every run of text between special tokens, as llama.cpp does.
    const replace = { type: 'Replace', pattern: { String: ' ' }, content: SPACE };
    normalizer = addSpacePrefix ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: SPACE }, replace] } : replace;
    decoder = {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' },
        ...(addSpacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    };
  } else {
    const { preTokenizer: pre, ignoreMerges } = hfPreTokenizer(String(meta['tokenizer.ggml.pre'] ?? 'default'));
    // Lines without a separating space are skipped, as the GGUF tokenizer skips them.
    const merges = (meta['tokenizer.ggml.merges'] as string[]).flatMap((m): [string, string][] => {
      const space = m.indexOf(' ', 1);
      return space === -1 ? [] : [[m.slice(0, space), m.slice(space + 1)]];
    });
    model = {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, ignore_merges: ignoreMerges, vocab, merges: serialiseMerges(merges),
    };
    preTokenizer = pre;
    decoder = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };
    postProcessor = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  }
  const template = tok.addBos || addEos ? templateProcessor(tokens, tok.addBos ? bosId : undefined, addEos ? eosId : undefined) : null;
  if (template !== null) postProcessor = postProcessor === null ? template : { type: 'Sequence', processors: [postProcessor, template] };

  const tokenizerJson: Json = {
    version: '1.0', truncation: null, padding: null, added_tokens: addedTokens,
    normalizer, pre_tokenizer: preTokenizer, post_processor: postProcessor, decoder, model,
  };
  const text = (id: number | undefined) => (id !== undefined ? tokens[id] : undefined);
  const tokenizerConfig: Json = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    add_bos_token: tok.addBos,
    add_eos_token: addEos,
    bos_token: text(bosId),
    eos_token: text(eosId),
    unk_token: text(unk),
    pad_token: text(padId),
    clean_up_tokenization_spaces: false,
    chat_template: tok.chatTemplate,
  };
  const eosIds = tok.eosIds.length > 1 ? [...tok.eosIds] : eosId;
  const generationConfig: Json = { bos_token_id: bosId, eos_token_id: eosIds, pad_token_id: padId };
  const dropUndefined = (o: Json): Json => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

  return {
    tokenizerJson,
    tokenizerConfig: dropUndefined(tokenizerConfig),
    generationConfig: dropUndefined(generationConfig),
    sentencePieceModel: isSpm ? spmModel(tokens, scores, types, { unk, bos: bosId, eos: eosId, pad: padId, addSpacePrefix }) : undefined,
  };
}

// tokenizer.model for the vocab, when SentencePiece can load it: one unknown piece (the GGUF's unknown token) and no empty pieces.
function spmModel(
  tokens: readonly string[],
  scores: readonly number[],
  types: readonly number[],
  ids: { unk?: number; bos?: number; eos?: number; pad?: number; addSpacePrefix: boolean },
): Uint8Array | undefined {
  const unk = ids.unk;
  if (unk === undefined || types.some((t, i) => t === SPM_UNKNOWN && i !== unk) || tokens.some((t) => t === '')) return undefined;
  const pieces: SpmPiece[] = tokens.map((piece, i) => ({
    piece,
    score: scores[i],
    type: i === unk ? SPM_UNKNOWN : types[i] >= SPM_NORMAL && types[i] <= SPM_BYTE ? types[i] : SPM_NORMAL,
  }));
  return encodeSpmModel({
    pieces,
    modelType: 2,
    byteFallback: types.filter((t) => t === SPM_BYTE).length === 256,
    addDummyPrefix: ids.addSpacePrefix,
    unkId: unk,
    bosId: ids.bos,
    eosId: ids.eos,
    padId: ids.pad,
  });
}
