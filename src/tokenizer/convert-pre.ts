// Byte-level BPE pre-tokenisers in both notations: GGUF's tokenizer.ggml.pre names and tokenizer.json's pre_tokenizer objects.
import { WhetError } from '../errors.ts';
import { PRE_TOKENIZER_REGEXES } from './unicode.ts';

type Json = Record<string, unknown>;

// The patterns as Hugging Face writes them (Llama 3's tiktoken pattern, Qwen2's one-digit variant).
const LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

interface Family {
  /** The name written to GGUF for this family. */
  gguf: string;
  /** Every tokenizer.ggml.pre name llama.cpp treats this way (as gguf.ts maps them). */
  names: readonly string[];
  /** Split patterns applied before the byte-level mapping; none means ByteLevel's own GPT-2 regex. */
  patterns: readonly string[];
  ignoreMerges: boolean;
}

const FAMILIES: readonly Family[] = [
  { gguf: 'gpt-2', names: ['gpt-2', 'phi-2', 'mpt', 'olmo', 'jais', 'exaone4'], patterns: [], ignoreMerges: false },
  { gguf: 'default', names: ['default'], patterns: PRE_TOKENIZER_REGEXES.default, ignoreMerges: false },
  {
    gguf: 'llama-bpe',
    names: ['llama-bpe', 'llama3', 'llama-v3', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2'],
    patterns: [LLAMA3_PATTERN],
    ignoreMerges: true,
  },
  { gguf: 'smaug-bpe', names: ['smaug-bpe', 'dbrx'], patterns: [LLAMA3_PATTERN], ignoreMerges: false },
  { gguf: 'qwen2', names: ['qwen2', 'deepseek-r1-qwen', 'megrez', 'stablelm2'], patterns: [QWEN2_PATTERN], ignoreMerges: false },
];

/** The tokenizer.json pre_tokenizer and the BPE model's ignore_merges for a GGUF pre-tokenizer name. */
export function hfPreTokenizer(ggufPre: string): { preTokenizer: Json; ignoreMerges: boolean } {
  const family = FAMILIES.find((f) => f.names.includes(ggufPre));
  if (family === undefined) {
    const known = FAMILIES.flatMap((f) => f.names).join(', ');
    throw new WhetError(`GGUF pre-tokenizer '${ggufPre}' has no tokenizer.json equivalent here (supported: ${known})`);
  }
  if (family.patterns.length === 0) {
    return { preTokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }, ignoreMerges: false };
  }
  const splits = family.patterns.map((p) => ({ type: 'Split', pattern: { Regex: p }, behavior: 'Isolated', invert: false }));
  return {
    preTokenizer: { type: 'Sequence', pretokenizers: [...splits, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }] },
    ignoreMerges: family.ignoreMerges,
  };
}

/** The GGUF tokenizer.ggml.pre name of a byte-level tokenizer.json, found from its pre-tokenizer's regexes. */
export function ggufPreName(preTokenizer: unknown, ignoreMerges: boolean): string {
  const steps: Json[] = [];
  const flatten = (p: unknown): void => {
    if (p === null || typeof p !== 'object') return;
    const obj = p as Json;
    if (obj.type === 'Sequence' && Array.isArray(obj.pretokenizers)) obj.pretokenizers.forEach(flatten);
    else steps.push(obj);
  };
  flatten(preTokenizer);
  const describe = (): string => JSON.stringify(preTokenizer);
  const byteLevel = steps.filter((s) => s.type === 'ByteLevel');
  const others = steps.filter((s) => s.type !== 'ByteLevel' && s.type !== 'Split');
  if (byteLevel.length !== 1 || others.length > 0 || byteLevel[0].add_prefix_space === true) {
    throw new WhetError(`tokenizer.json pre-tokenizer ${describe()} has no GGUF equivalent (expected Split regexes then ByteLevel, no prefix space)`);
  }
  const patterns: string[] = [];
  for (const s of steps) {
    if (s.type !== 'Split') continue;
    const pattern = (s.pattern as Json | undefined)?.Regex;
    if (typeof pattern !== 'string' || s.invert === true || String(s.behavior).toLowerCase() !== 'isolated') {
      throw new WhetError(`tokenizer.json pre-tokenizer split ${JSON.stringify(s)} has no GGUF equivalent (only isolating regex splits)`);
    }
    patterns.push(pattern);
  }
  if (byteLevel[0].use_regex !== false) {
    if (patterns.length > 0) throw new WhetError(`tokenizer.json pre-tokenizer ${describe()} splits twice (regex splits and ByteLevel's own), which GGUF cannot express`);
    return 'gpt-2';
  }
  const matches = FAMILIES.filter((f) => f.patterns.length === patterns.length && f.patterns.every((p, i) => p === patterns[i]));
  const family = matches.find((f) => f.ignoreMerges === ignoreMerges) ?? matches[0];
  if (family === undefined) {
    throw new WhetError(`tokenizer.json pre-tokenizer regex ${JSON.stringify(patterns)} is not one llama.cpp knows (GPT-2, Llama 3, Qwen2 or llama.cpp's default)`);
  }
  return family.gguf;
}
