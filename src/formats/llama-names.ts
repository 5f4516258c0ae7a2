// Llama-family names at the GGUF boundary: HF ↔ GGUF tensor names, llama.cpp's q/k row permutation, config.json ↔ GGUF metadata.
import { WhetError } from '../errors.ts';
import type { GgufFile, GgufValue } from './gguf.ts';
import type { GgufWriteValue } from './gguf-write.ts';

// Per-layer modules: HF `model.layers.N.<hf>.{weight,bias}` ↔ GGUF `blk.N.<gguf>.{weight,bias}`.
const LAYER_NAMES: [string, string][] = [
  ['self_attn.q_proj', 'attn_q'],
  ['self_attn.k_proj', 'attn_k'],
  ['self_attn.v_proj', 'attn_v'],
  ['self_attn.o_proj', 'attn_output'],
  ['self_attn.q_norm', 'attn_q_norm'], // Qwen3
  ['self_attn.k_norm', 'attn_k_norm'], // Qwen3
  ['mlp.gate_proj', 'ffn_gate'],
  ['mlp.up_proj', 'ffn_up'],
  ['mlp.down_proj', 'ffn_down'],
  ['input_layernorm', 'attn_norm'],
  ['post_attention_layernorm', 'ffn_norm'],
];
const GLOBAL_NAMES: [string, string][] = [
  ['model.embed_tokens', 'token_embd'],
  ['model.norm', 'output_norm'],
  ['lm_head', 'output'],
];
const HF_LAYER = new Map(LAYER_NAMES);
const GGUF_LAYER = new Map(LAYER_NAMES.map(([h, g]) => [g, h]));
const HF_GLOBAL = new Map(GLOBAL_NAMES);
const GGUF_GLOBAL = new Map(GLOBAL_NAMES.map(([h, g]) => [g, h]));

/** GGUF name of an HF tensor name, or undefined when it has none (e.g. `rotary_emb.inv_freq`). */
export function ggufName(hfName: string): string | undefined {
  const layer = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(hfName);
  if (layer) {
    const g = HF_LAYER.get(layer[2]);
    return g === undefined ? undefined : `blk.${layer[1]}.${g}.${layer[3]}`;
  }
  const global = /^(.+)\.(weight|bias)$/.exec(hfName);
  const g = global ? HF_GLOBAL.get(global[1]) : undefined;
  return g === undefined ? undefined : `${g}.${global![2]}`;
}

/** HF tensor name of a GGUF tensor name, or undefined when it has none (e.g. `rope_freqs.weight`). */
export function hfName(ggufTensorName: string): string | undefined {
  const layer = /^blk\.(\d+)\.(.+)\.(weight|bias)$/.exec(ggufTensorName);
  if (layer) {
    const h = GGUF_LAYER.get(layer[2]);
    return h === undefined ? undefined : `model.layers.${layer[1]}.${h}.${layer[3]}`;
  }
  const global = /^(.+)\.(weight|bias)$/.exec(ggufTensorName);
  const h = global ? GGUF_GLOBAL.get(global[1]) : undefined;
  return h === undefined ? undefined : `${h}.${global![2]}`;
}

// ---- q/k row permutation ----

/**
 * llama.cpp's rope runs on adjacent pairs (x0,x1),(x2,x3)…; HF's runs on halves (x_i, x_{i+d/2}). So
 * convert_hf_to_gguf.py reorders q and k rows per head: w.reshape(n_head, 2, out/n_head/2, in)
 * .swapaxes(1, 2).reshape(out, in), i.e. GGUF row h·d + 2i + j = HF row h·d + j·d/2 + i.
 */
// Whole rows move, so the same code permutes values and the bytes of quantised rows (w.length / rows per row).
function permuteRows<T extends RowArray>(w: T, shape: readonly number[], nHead: number, toGguf: boolean): T {
  const rows = shape[0];
  const cols = w.length / rows;
  if (!(nHead > 0) || rows % (2 * nHead) !== 0) {
    throw new WhetError(`cannot permute a [${shape.join(', ')}] q/k tensor for ${nHead} heads: rows must be a multiple of 2·heads`);
  }
  if (!Number.isInteger(cols)) throw new WhetError(`q/k tensor of ${w.length} values or bytes does not split into the ${rows} rows of shape [${shape.join(', ')}]`);
  const half = rows / nHead / 2;
  const out = new (w.constructor as new (n: number) => T)(w.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const gguf = h * 2 * half + 2 * i + j;
        const hf = h * 2 * half + j * half + i;
        const [dst, src] = toGguf ? [gguf, hf] : [hf, gguf];
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

/** Row data: values (f32, bf16/f16 bits) or the bytes of quantised rows. */
type RowArray = Float32Array | Uint16Array | Uint8Array;

/** HF layout → GGUF layout of a row-major q or k weight [out, in] (or bias [out]); for k pass the KV head count. */
export function permuteForGguf<T extends RowArray>(w: T, shape: readonly number[], nHead: number): T {
  return permuteRows(w, shape, nHead, true);
}

/** GGUF layout → HF layout; the inverse of permuteForGguf. */
export function unpermuteFromGguf<T extends RowArray>(w: T, shape: readonly number[], nHead: number): T {
  return permuteRows(w, shape, nHead, false);
}

// ---- architectures ----

/** HF model_type → GGUF general.architecture (llama.cpp converts Mistral as llama). */
const ARCH_OF_MODEL_TYPE: Record<string, string> = { llama: 'llama', mistral: 'llama', qwen2: 'qwen2', qwen3: 'qwen3' };
const HF_CLASS: Record<string, string> = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' };

/** The GGUF architecture for an HF model_type; a WhetError for families this project does not handle. */
export function ggufArchitecture(modelType: string): string {
  const arch = Object.prototype.hasOwnProperty.call(ARCH_OF_MODEL_TYPE, modelType) ? ARCH_OF_MODEL_TYPE[modelType] : undefined;
  if (!arch) throw new WhetError(`model_type '${modelType}' is not supported (supported: ${Object.keys(ARCH_OF_MODEL_TYPE).join(', ')})`);
  return arch;
}

/** Whether GGUFs of this architecture store q/k rows permuted: llama's rope is pairwise; qwen2/qwen3 use NeoX rope and keep HF order. */
export function ggufPermutesQk(arch: string): boolean {
  return arch === 'llama';
}

export interface AttentionHeads {
  /** GGUF architecture ('llama', 'qwen2', 'qwen3'). */
  arch: string;
  nHead: number;
  nHeadKv: number;
}

// The permutation to apply to a tensor, by its GGUF name: q with the query heads, k with the KV heads.
function qkHeads(gguf: string, heads: AttentionHeads): number | undefined {
  if (!ggufPermutesQk(heads.arch)) return undefined;
  const m = /^blk\.\d+\.attn_(q|k)\.(weight|bias)$/.exec(gguf);
  return m ? (m[1] === 'q' ? heads.nHead : heads.nHeadKv) : undefined;
}

/** An HF tensor as GGUF stores it: renamed and, for llama q/k, row-permuted. Undefined for names GGUF has no place for. */
export function toGgufTensor<T extends RowArray>(
  name: string, shape: readonly number[], data: T, heads: AttentionHeads,
): { name: string; data: T } | undefined {
  const g = ggufName(name);
  if (g === undefined) return undefined;
  const n = qkHeads(g, heads);
  return { name: g, data: n === undefined ? data : permuteForGguf(data, shape, n) };
}

/** A GGUF tensor as HF stores it: renamed and, for llama q/k, un-permuted. Undefined for names HF has no place for. */
export function fromGgufTensor<T extends RowArray>(
  name: string, shape: readonly number[], data: T, heads: AttentionHeads,
): { name: string; data: T } | undefined {
  const h = hfName(name);
  if (h === undefined) return undefined;
  const n = qkHeads(name, heads);
  return { name: h, data: n === undefined ? data : unpermuteFromGguf(data, shape, n) };
}

// ---- config ----

/** The HF config.json fields this mapping reads and writes. */
export interface HfLlamaConfig {
  architectures: string[];
  model_type: string;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  hidden_act: 'silu';
  rms_norm_eps: number;
  rope_theta: number;
  max_position_embeddings: number;
  vocab_size: number;
  tie_word_embeddings: boolean;
  /** Llama and Qwen3 only (Qwen2 always has q/k/v biases). */
  attention_bias?: boolean;
  bos_token_id?: number;
  eos_token_id?: number;
}

/** The shortest decimal that rounds to the same float32, so GGUF's f32 1e-5 reads back as 1e-5, not 9.99999974738e-06. */
function shortestF32(x: number): number {
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(x.toPrecision(digits));
    if (Math.fround(candidate) === Math.fround(x)) return candidate;
  }
  return x;
}

/** The HF config of a llama-family GGUF, from its metadata and tensor list. */
export function hfConfigFromGguf(file: Pick<GgufFile, 'path' | 'metadata' | 'tensors'>): HfLlamaConfig {
  const md = file.metadata;
  const fail = (what: string): never => {
    throw new WhetError(`${file.path}: ${what}`);
  };
  const arch = md['general.architecture'];
  if (typeof arch !== 'string') return fail('general.architecture is missing');
  if (!Object.prototype.hasOwnProperty.call(HF_CLASS, arch)) fail(`architecture '${arch}' is not supported (supported: ${Object.keys(HF_CLASS).join(', ')})`);
  const num = (key: string, fallback?: number): number => {
    const v: GgufValue | undefined = md[`${arch}.${key}`];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number') return fail(v === undefined ? `metadata ${arch}.${key} is missing` : `metadata ${arch}.${key} is not a number`);
    return v;
  };
  const hidden = num('embedding_length');
  const heads = num('attention.head_count');
  const headDim = num('attention.key_length', hidden / heads);
  const ropeDim = num('rope.dimension_count', headDim);
  if (ropeDim !== headDim) fail(`rope.dimension_count ${ropeDim} differs from the head size ${headDim} (partial rotary embeddings are not supported)`);
  const tokens = md['tokenizer.ggml.tokens'];
  const embd = file.tensors.find((t) => t.name === 'token_embd.weight');
  const vocab = num('vocab_size', Array.isArray(tokens) ? tokens.length : embd ? embd.shape[0] : undefined);
  const has = (name: string): boolean => file.tensors.some((t) => t.name === name);

  const config: HfLlamaConfig = {
    architectures: [HF_CLASS[arch]],
    model_type: arch,
    hidden_size: hidden,
    intermediate_size: num('feed_forward_length'),
    num_hidden_layers: num('block_count'),
    num_attention_heads: heads,
    num_key_value_heads: num('attention.head_count_kv', heads),
    head_dim: headDim,
    hidden_act: 'silu',
    rms_norm_eps: shortestF32(num('attention.layer_norm_rms_epsilon')),
    rope_theta: shortestF32(num('rope.freq_base', 10000)),
    max_position_embeddings: num('context_length'),
    vocab_size: vocab,
    tie_word_embeddings: !has('output.weight'),
  };
  if (arch !== 'qwen2') config.attention_bias = has('blk.0.attn_q.bias');
  for (const [key, field] of [['tokenizer.ggml.bos_token_id', 'bos_token_id'], ['tokenizer.ggml.eos_token_id', 'eos_token_id']] as const) {
    const v = md[key];
    if (typeof v === 'number') config[field] = v;
  }
  return config;
}

/**
 * GGUF metadata (general.architecture and the `<arch>.*` hyper-parameters, typed as llama.cpp expects)
 * for an HF config.json object. Missing optional fields take transformers' defaults; rope_scaling is
 * refused rather than silently dropped. Tokenizer metadata is not included.
 */
export function ggufMetadataFromHfConfig(config: Record<string, unknown>, source = 'config.json'): Record<string, GgufWriteValue> {
  const fail = (what: string): never => {
    throw new WhetError(`${source}: ${what}`);
  };
  const modelType = config.model_type;
  if (typeof modelType !== 'string') return fail('model_type is missing');
  let arch: string;
  try {
    arch = ggufArchitecture(modelType);
  } catch (e) {
    return fail((e as Error).message);
  }
  const int = (key: string, fallback?: number): number => {
    const v = config[key] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) <= 0) return fail(v === undefined ? `${key} is missing` : `${key} must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const real = (key: string, fallback: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0)) return fail(`${key} must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const scaling = config.rope_scaling as { type?: string; rope_type?: string } | null | undefined;
  if (scaling != null && (scaling.rope_type ?? scaling.type) !== 'default') {
    fail(`rope_scaling ${JSON.stringify(scaling)} is not supported for GGUF export`);
  }
  const hidden = int('hidden_size');
  const heads = int('num_attention_heads');
  // Qwen3Config's head_dim defaults to 128; the others derive it from the hidden size.
  const headDim = int('head_dim', modelType === 'qwen3' ? 128 : hidden / heads);
  const u32 = (value: number): GgufWriteValue => ({ type: 'u32', value });
  const f32 = (value: number): GgufWriteValue => ({ type: 'f32', value });
  return {
    'general.architecture': arch,
    [`${arch}.context_length`]: u32(int('max_position_embeddings')),
    [`${arch}.embedding_length`]: u32(hidden),
    [`${arch}.block_count`]: u32(int('num_hidden_layers')),
    [`${arch}.feed_forward_length`]: u32(int('intermediate_size')),
    [`${arch}.attention.head_count`]: u32(heads),
    [`${arch}.attention.head_count_kv`]: u32(int('num_key_value_heads', heads)),
    [`${arch}.attention.key_length`]: u32(headDim),
    [`${arch}.attention.value_length`]: u32(headDim),
    [`${arch}.attention.layer_norm_rms_epsilon`]: f32(real('rms_norm_eps', 1e-6)),
    [`${arch}.rope.freq_base`]: f32(real('rope_theta', 10000)),
    [`${arch}.rope.dimension_count`]: u32(headDim),
    [`${arch}.vocab_size`]: u32(int('vocab_size')),
  };
}

/** The attention head counts of an HF config, as toGgufTensor/fromGgufTensor need them. */
export function attentionHeads(config: Pick<HfLlamaConfig, 'model_type' | 'num_attention_heads' | 'num_key_value_heads'>): AttentionHeads {
  return { arch: ggufArchitecture(config.model_type), nHead: config.num_attention_heads, nHeadKv: config.num_key_value_heads };
}
