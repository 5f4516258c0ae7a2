// Llama-family model configuration, read from (and written to) a Hugging Face config.json object.
import { WhetError } from '../errors.ts';

export type ModelType = 'llama' | 'mistral' | 'qwen2' | 'qwen3';

export interface RopeScaling {
  type: 'llama3' | 'linear';
  factor: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositionEmbeddings?: number;
}

export interface ModelConfig {
  modelType: ModelType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling?: RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2). */
  attentionBias: boolean;
  /** RMSNorm on each head of q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  bosTokenId?: number;
  eosTokenId?: number | number[];
  /** A sequence classifier (…ForSequenceClassification, a reward model): a `score` head of this many outputs, no LM head. */
  numLabels?: number;
  /** The id HF's sequence classifiers pad with (written for them; Whetstone reads the last real token from lengths). */
  padTokenId?: number;
}

const ARCHITECTURE: Record<ModelType, string> = { llama: 'Llama', mistral: 'Mistral', qwen2: 'Qwen2', qwen3: 'Qwen3' };

const families: Record<string, { attentionBias: boolean; qkNorm: boolean }> = {
  llama: { attentionBias: false, qkNorm: false },
  mistral: { attentionBias: false, qkNorm: false },
  qwen2: { attentionBias: true, qkNorm: false },
  qwen3: { attentionBias: false, qkNorm: true },
};

function num(json: Record<string, unknown>, key: string, fallback?: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new WhetError(`config.json: '${key}' must be a number (got ${JSON.stringify(json[key])})`);
  return v;
}

/** Parses an HF config.json object; `where` names the file in errors. */
export function configFromHf(json: Record<string, unknown>, where = 'config.json'): ModelConfig {
  try {
    const modelType = json.model_type;
    if (typeof modelType !== 'string' || families[modelType] === undefined)
      throw new WhetError(`model_type ${JSON.stringify(modelType)} is not supported (supported: ${Object.keys(families).join(', ')})`);
    const family = families[modelType]!;
    const hiddenSize = num(json, 'hidden_size');
    const numHeads = num(json, 'num_attention_heads');
    const cfg: ModelConfig = {
      modelType: modelType as ModelType,
      vocabSize: num(json, 'vocab_size'),
      hiddenSize,
      intermediateSize: num(json, 'intermediate_size'),
      numLayers: num(json, 'num_hidden_layers'),
      numHeads,
      numKvHeads: num(json, 'num_key_value_heads', numHeads),
      headDim: json.head_dim == null ? hiddenSize / numHeads : num(json, 'head_dim'),
      rmsNormEps: num(json, 'rms_norm_eps', 1e-6),
      ropeTheta: num(json, 'rope_theta', 10000),
      maxPositionEmbeddings: num(json, 'max_position_embeddings', 2048),
      tieWordEmbeddings: json.tie_word_embeddings === true,
      attentionBias: typeof json.attention_bias === 'boolean' ? json.attention_bias : family.attentionBias,
      qkNorm: family.qkNorm,
    };
    const scaling = parseRopeScaling(json.rope_scaling);
    if (scaling !== undefined) cfg.ropeScaling = scaling;
    if (typeof json.bos_token_id === 'number') cfg.bosTokenId = json.bos_token_id;
    if (typeof json.eos_token_id === 'number' || Array.isArray(json.eos_token_id)) cfg.eosTokenId = json.eos_token_id as number | number[];
    if (typeof json.pad_token_id === 'number') cfg.padTokenId = json.pad_token_id;
    const architectures = Array.isArray(json.architectures) ? json.architectures : [];
    if (architectures.some((a) => typeof a === 'string' && a.endsWith('ForSequenceClassification'))) {
      const labels = json.num_labels ?? (json.id2label !== null && typeof json.id2label === 'object' ? Object.keys(json.id2label).length : 2);
      if (labels !== 1) throw new WhetError(`a sequence classifier with ${JSON.stringify(labels)} labels is not supported (reward models have num_labels 1)`);
      cfg.numLabels = 1;
    }
    if (!Number.isInteger(cfg.headDim) || cfg.headDim % 2 !== 0) throw new WhetError(`head dim ${cfg.headDim} must be an even integer`);
    if (cfg.numHeads % cfg.numKvHeads !== 0) throw new WhetError(`num_attention_heads ${cfg.numHeads} is not a multiple of num_key_value_heads ${cfg.numKvHeads}`);
    return cfg;
  } catch (err) {
    if (err instanceof WhetError) throw new WhetError(`${where}: ${err.message.replace(/^config\.json: /, '')}`);
    throw err;
  }
}

function parseRopeScaling(raw: unknown): RopeScaling | undefined {
  if (raw == null) return undefined;
  const r = raw as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return undefined;
  if (type === 'llama3')
    return {
      type: 'llama3',
      factor: num(r, 'factor'),
      lowFreqFactor: num(r, 'low_freq_factor', 1),
      highFreqFactor: num(r, 'high_freq_factor', 4),
      originalMaxPositionEmbeddings: num(r, 'original_max_position_embeddings', 8192),
    };
  if (type === 'linear') return { type: 'linear', factor: num(r, 'factor') };
  throw new WhetError(`rope_scaling type ${JSON.stringify(type)} is not supported (supported: llama3, linear)`);
}

/** The HF config.json object for a config (what save writes next to the weights). */
export function configToHf(cfg: ModelConfig): Record<string, unknown> {
  const json: Record<string, unknown> = {
    architectures: [`${ARCHITECTURE[cfg.modelType]}ForCausalLM`],
    model_type: cfg.modelType,
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    intermediate_size: cfg.intermediateSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    num_key_value_heads: cfg.numKvHeads,
    head_dim: cfg.headDim,
    rms_norm_eps: cfg.rmsNormEps,
    rope_theta: cfg.ropeTheta,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    hidden_act: 'silu',
    torch_dtype: 'float32',
  };
  if (cfg.modelType === 'llama' || cfg.modelType === 'qwen2') json.attention_bias = cfg.attentionBias;
  if (cfg.ropeScaling?.type === 'llama3')
    json.rope_scaling = {
      rope_type: 'llama3',
      factor: cfg.ropeScaling.factor,
      low_freq_factor: cfg.ropeScaling.lowFreqFactor,
      high_freq_factor: cfg.ropeScaling.highFreqFactor,
      original_max_position_embeddings: cfg.ropeScaling.originalMaxPositionEmbeddings,
    };
  else if (cfg.ropeScaling?.type === 'linear') json.rope_scaling = { rope_type: 'linear', factor: cfg.ropeScaling.factor };
  if (cfg.bosTokenId !== undefined) json.bos_token_id = cfg.bosTokenId;
  if (cfg.eosTokenId !== undefined) json.eos_token_id = cfg.eosTokenId;
  if (cfg.numLabels !== undefined) Object.assign(json, sequenceClassifierFields(cfg));
  return json;
}

/** RoPE inverse frequencies (headDim/2) with the configured scaling folded in. */
export function ropeInvFreq(cfg: ModelConfig): Float32Array {
  const half = cfg.headDim / 2;
  const f = new Float32Array(half);
  const s = cfg.ropeScaling;
  for (let i = 0; i < half; i++) {
    let freq = 1 / Math.pow(cfg.ropeTheta, (2 * i) / cfg.headDim);
    if (s?.type === 'linear') freq /= s.factor;
    else if (s?.type === 'llama3') {
      // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, the band between blended.
      const old = s.originalMaxPositionEmbeddings!;
      const lowWavelen = old / s.lowFreqFactor!;
      const highWavelen = old / s.highFreqFactor!;
      const wavelen = (2 * Math.PI) / freq;
      if (wavelen > lowWavelen) freq /= s.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (old / wavelen - s.lowFreqFactor!) / (s.highFreqFactor! - s.lowFreqFactor!);
        freq = (1 - smooth) * (freq / s.factor) + smooth * freq;
      }
    }
    f[i] = freq;
  }
  return f;
}

/** The config.json fields that make a folder an HF sequence classifier (a reward model) of this family. */
export function sequenceClassifierFields(cfg: ModelConfig): Record<string, unknown> {
  return {
    architectures: [`${ARCHITECTURE[cfg.modelType]}ForSequenceClassification`],
    num_labels: 1,
    id2label: { 0: 'LABEL_0' },
    label2id: { LABEL_0: 0 },
    ...(cfg.padTokenId !== undefined ? { pad_token_id: cfg.padTokenId } : {}),
  };
}
