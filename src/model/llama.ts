// The Llama family (Llama 2/3, Mistral, Qwen2, Qwen3) in one file: RMSNorm, RoPE, grouped-query
// attention, SwiGLU MLP, tied or untied embeddings, q/k/v biases (Qwen2), q/k norms (Qwen3).
// Field names follow Hugging Face's, so parameter paths are HF's tensor names.
//
// Dimension legend: B batch, T new tokens, S keys (cached + new), D hidden, H query heads,
// K key/value heads, E head dim, F MLP hidden, V vocabulary.
import { WhetError } from '../errors.ts';
import { dropRecomputable, keep, tidy, Tensor } from '../tensor/tensor.ts';
import { isGradEnabled } from '../tensor/grad-mode.ts';
import type { Rng } from '../tensor/random.ts';
import { ones, randn } from '../tensor/ops/create.ts';
import { addToBranch } from '../tensor/ops/elementwise.ts';
import { attention, attentionCached, embedding, rope, swiglu } from '../tensor/ops/layers.ts';
import { linear } from '../tensor/ops/matmul.ts';
import { reshape } from '../tensor/ops/shape.ts';
import { checkpoint } from '../tensor/checkpoint.ts';
import { Module } from '../nn/module.ts';
import { Embedding, Linear, RMSNorm } from '../nn/layers.ts';
import { ropeInvFreq, type ModelConfig } from './config.ts';
import type { KVCache } from './kv-cache.ts';
import { FrozenArena, freezeMatrix, type FrozenDType } from './frozen-weights.ts';

export interface ForwardOptions {
  /** Position of each (batch, time) token, B·T entries (default: 0..T-1, or after the cache's contents). */
  positions?: Int32Array;
  /** Segment id of each token for packed sequences (no attention across segments). */
  segments?: Int32Array;
  /** One cache per batch row: new keys/values are appended and attention reads all stored ones. */
  caches?: KVCache[];
  /** Recompute each layer's activations during backward instead of keeping them (gradient checkpointing). */
  checkpoint?: boolean;
  /** Random generators used inside layers (dropout), rewound for the recomputation. */
  rngs?: Rng[];
}

interface Context {
  batch: number;
  time: number;
  rope: { positions: Int32Array; invFreq: Float32Array; interleaved: false };
  segments?: Int32Array;
  caches?: KVCache[];
}

class Attention extends Module {
  q_proj: Linear; // (H·E, D)
  k_proj: Linear; // (K·E, D)
  v_proj: Linear; // (K·E, D)
  o_proj: Linear; // (D, H·E)
  q_norm?: RMSNorm; // (E)
  k_norm?: RMSNorm; // (E)

  constructor(readonly cfg: ModelConfig, readonly layer: number, t: (name: string, shape: number[]) => Tensor, opt: (name: string, shape: number[]) => Tensor | undefined) {
    super();
    const { hiddenSize: d, numHeads: h, numKvHeads: k, headDim: e } = cfg;
    this.q_proj = new Linear(t('q_proj.weight', [h * e, d]), opt('q_proj.bias', [h * e]));
    this.k_proj = new Linear(t('k_proj.weight', [k * e, d]), opt('k_proj.bias', [k * e]));
    this.v_proj = new Linear(t('v_proj.weight', [k * e, d]), opt('v_proj.bias', [k * e]));
    this.o_proj = new Linear(t('o_proj.weight', [d, h * e]));
    if (cfg.qkNorm) {
      this.q_norm = new RMSNorm(t('q_norm.weight', [e]), cfg.rmsNormEps);
      this.k_norm = new RMSNorm(t('k_norm.weight', [e]), cfg.rmsNormEps);
    }
  }

  forward(x: Tensor, ctx: Context): Tensor {
    const { batch: b, time: tt } = ctx;
    const { numHeads: h, numKvHeads: kh, headDim: e } = this.cfg;
    const [qx, kx, vx] = Linear.siblings(x, [this.q_proj, this.k_proj, this.v_proj]) as [Tensor, Tensor, Tensor];
    let q = reshape(qx, [b, tt, h, e]); // (B, T, H, E)
    let k = reshape(kx, [b, tt, kh, e]); // (B, T, K, E)
    const v = reshape(vx, [b, tt, kh, e]); // (B, T, K, E)
    if (this.q_norm !== undefined && this.k_norm !== undefined) {
      q = this.q_norm.forward(q);
      k = this.k_norm.forward(k);
    }
    q = rope(q, { ...ctx.rope, inPlace: true }); // nothing reads the unrotated q and k
    k = rope(k, { ...ctx.rope, inPlace: true });
    let o: Tensor; // (B, T, H, E)
    if (ctx.caches === undefined) o = attention(q, k, v, { causal: true, segments: ctx.segments });
    else o = attentionCached(q, k, v, ctx.caches.map((c) => ({ k: c.k[this.layer]!, v: c.v[this.layer]!, length: c.length })));
    return this.o_proj.forward(reshape(o, [b, tt, h * e]));
  }
}

class MLP extends Module {
  gate_proj: Linear; // (F, D)
  up_proj: Linear; // (F, D)
  down_proj: Linear; // (D, F)

  constructor(cfg: ModelConfig, t: (name: string, shape: number[]) => Tensor) {
    super();
    const { hiddenSize: d, intermediateSize: f } = cfg;
    this.gate_proj = new Linear(t('gate_proj.weight', [f, d]));
    this.up_proj = new Linear(t('up_proj.weight', [f, d]));
    this.down_proj = new Linear(t('down_proj.weight', [d, f]));
  }

  forward(x: Tensor): Tensor {
    const [gate, up] = Linear.siblings(x, [this.gate_proj, this.up_proj]) as [Tensor, Tensor];
    return this.down_proj.forward(swiglu(gate, up));
  }
}

class DecoderLayer extends Module {
  input_layernorm: RMSNorm; // (D)
  self_attn: Attention;
  post_attention_layernorm: RMSNorm; // (D)
  mlp: MLP;

  constructor(cfg: ModelConfig, layer: number, t: (name: string, shape: number[]) => Tensor, opt: (name: string, shape: number[]) => Tensor | undefined) {
    super();
    const sub = (p: string) => (name: string, shape: number[]) => t(`${p}.${name}`, shape);
    const subOpt = (p: string) => (name: string, shape: number[]) => opt(`${p}.${name}`, shape);
    this.input_layernorm = new RMSNorm(t('input_layernorm.weight', [cfg.hiddenSize]), cfg.rmsNormEps);
    this.self_attn = new Attention(cfg, layer, sub('self_attn'), subOpt('self_attn'));
    this.post_attention_layernorm = new RMSNorm(t('post_attention_layernorm.weight', [cfg.hiddenSize]), cfg.rmsNormEps);
    this.mlp = new MLP(cfg, sub('mlp'));
  }

  forward(x: Tensor, ctx: Context): Tensor {
    const h = addToBranch(x, this.self_attn.forward(this.input_layernorm.forward(x), ctx)); // (B, T, D)
    return addToBranch(h, this.mlp.forward(this.post_attention_layernorm.forward(h)));
  }
}

class Body extends Module {
  embed_tokens: Embedding; // (V, D)
  layers: DecoderLayer[];
  norm: RMSNorm; // (D)

  constructor(cfg: ModelConfig, t: (name: string, shape: number[]) => Tensor, opt: (name: string, shape: number[]) => Tensor | undefined) {
    super();
    this.embed_tokens = new Embedding(t('embed_tokens.weight', [cfg.vocabSize, cfg.hiddenSize]));
    this.layers = Array.from({ length: cfg.numLayers }, (_, i) => {
      const p = `layers.${i}`;
      return new DecoderLayer(cfg, i, (n, s) => t(`${p}.${n}`, s), (n, s) => opt(`${p}.${n}`, s));
    });
    this.norm = new RMSNorm(t('norm.weight', [cfg.hiddenSize]), cfg.rmsNormEps);
  }
}

/** Where a model's tensors come from: name → tensor (HF names), checked against the expected shapes. */
export type TensorSource = (name: string, shape: number[]) => Tensor | undefined;

export class LlamaModel extends Module {
  model: Body;
  lm_head?: Linear; // (V, D); absent when tied to the embedding, and in a reward model
  score?: Linear; // (1, D): a reward model's head (HF's …ForSequenceClassification)
  readonly invFreq: Float32Array;

  constructor(readonly config: ModelConfig, source: TensorSource) {
    super();
    const opt = (name: string, shape: number[]): Tensor | undefined => {
      const t = source(name, shape);
      if (t !== undefined && t.shape.join() !== shape.join()) throw new Error(`tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
      return t;
    };
    const t = (name: string, shape: number[]): Tensor => {
      const found = opt(name, shape);
      if (found === undefined) throw new Error(`missing tensor ${name} [${shape.join(', ')}]`);
      return found;
    };
    this.model = new Body(config, (n, s) => t(`model.${n}`, s), (n, s) => (config.attentionBias ? opt(`model.${n}`, s) : undefined));
    if (config.numLabels !== undefined) this.score = new Linear(t('score.weight', [config.numLabels, config.hiddenSize]));
    else if (!config.tieWordEmbeddings) this.lm_head = new Linear(t('lm_head.weight', [config.vocabSize, config.hiddenSize]));
    this.invFreq = ropeInvFreq(config);
  }

  /** A randomly initialised model (normal(0, std) matrices, unit norms), for tests and benchmarks. */
  static random(config: ModelConfig, rng: Rng, opts: { std?: number; dtype?: 'f32' | FrozenDType } = {}): LlamaModel {
    const std = opts.std ?? 0.02;
    const frozen = opts.dtype !== undefined && opts.dtype !== 'f32' ? opts.dtype : undefined;
    const arena = new FrozenArena();
    return new LlamaModel(config, (name, shape) => {
      if (name.endsWith('norm.weight')) return keep(ones(shape)).requireGrad();
      const w = keep(randn(shape, rng, name.endsWith('.bias') ? 0 : std));
      if (frozen === undefined || shape.length !== 2) return w.requireGrad();
      const t = freezeMatrix(w.f as Float32Array, shape, frozen);
      w.dispose();
      return arena.place(t);
    });
  }

  /** Final hidden states (B, T, D) for token ids (B·T). */
  forward(ids: Int32Array, batch: number, opts: ForwardOptions = {}): Tensor {
    const time = ids.length / batch;
    if (!Number.isInteger(time)) throw new Error(`${ids.length} ids do not split into ${batch} rows`);
    if (opts.caches !== undefined && opts.caches.length !== batch) throw new Error(`${opts.caches.length} caches for a batch of ${batch}`);
    const positions = opts.positions ?? defaultPositions(batch, time, opts.caches);
    const ctx: Context = { batch, time, rope: { positions, invFreq: this.invFreq, interleaved: false }, segments: opts.segments, caches: opts.caches };
    let x = this.model.embed_tokens.forward(ids, [batch, time]); // (B, T, D)
    for (const layer of this.model.layers) {
      if (opts.checkpoint === true) x = checkpoint(([h]) => dropRecomputable(() => layer.forward(h!, ctx)), [x], opts.rngs);
      else if (isGradEnabled()) {
        const input = x;
        x = dropRecomputable(() => layer.forward(input, ctx)); // norm outputs and SwiGLU products: recomputed in backward
      }
      else {
        // Without a backward nothing need outlive the layer: memory is one layer's activations, not all of them.
        const input = x;
        x = tidy(() => layer.forward(input, ctx));
        input.dispose();
      }
    }
    if (opts.caches !== undefined) for (const c of opts.caches) c.length += time;
    return this.model.norm.forward(x);
  }

  /** The output head's weight (V, D): lm_head's, or the embedding's when tied. */
  headWeight(): Tensor {
    if (this.score !== undefined) throw new WhetError('this is a reward model: it scores text (whet score) and has no LM head to predict tokens with');
    return this.lm_head?.weight ?? this.model.embed_tokens.weight;
  }

  /**
   * Makes this language model a reward model: the LM head goes (freed unless tied to the embedding) and a trainable
   * scalar head `score` (1, D) takes its place, normal(0, std) as HF initialises it.
   */
  attachScoreHead(rng: Rng, std = 0.02): void {
    if (this.score !== undefined) return;
    this.lm_head?.weight.dispose();
    delete this.lm_head;
    this.score = new Linear(keep(randn([1, this.config.hiddenSize], rng, std)).requireGrad());
    this.config.numLabels = 1;
  }

  /** A reward per row (B) from hidden states (B, T, D), read at each row's last real token `last` (B indices into T). */
  rewards(hidden: Tensor, last: Int32Array): Tensor {
    if (this.score === undefined) throw new Error('rewards: the model has no score head (not a reward model)');
    const [batch, time, dim] = hidden.shape as [number, number, number];
    const rows = Int32Array.from(last, (t, b) => b * time + t);
    const picked = embedding(reshape(hidden, [batch * time, dim]), rows); // (B, D): a row gather whose backward scatters
    return reshape(linear(picked, this.score.weight), [batch]); // (B)
  }

  /** Next-token logits (..., V) from hidden states (..., D); losses use linearCrossEntropy on headWeight() instead, never holding them all. */
  logits(hidden: Tensor): Tensor {
    return linear(hidden, this.headWeight());
  }
}

function defaultPositions(batch: number, time: number, caches?: KVCache[]): Int32Array {
  const p = new Int32Array(batch * time);
  for (let b = 0; b < batch; b++) {
    const start = caches?.[b]?.length ?? 0;
    for (let t = 0; t < time; t++) p[b * time + t] = start + t;
  }
  return p;
}
