// A plain float64 forward pass of an HF Llama-family checkpoint (transformers semantics), to check the model against.
import type { ModelConfig } from '../../src/model/config.ts';
import { ropeInvFreq } from '../../src/model/config.ts';

type Weights = Map<string, ArrayLike<number>>;

/** Logits (T × V) for one sequence: half-split RoPE, GQA, optional q/k/v biases and per-head q/k RMSNorm. */
export function hfReferenceLogits(cfg: ModelConfig, w: Weights, tokens: readonly number[]): Float64Array[] {
  const { hiddenSize: d, numHeads: h, numKvHeads: kh, headDim: e, intermediateSize: f, vocabSize: v } = cfg;
  const get = (n: string): ArrayLike<number> => {
    const t = w.get(n);
    if (t === undefined) throw new Error(`reference: missing ${n}`);
    return t;
  };
  const lin = (x: Float64Array, name: string, out: number, bias?: string): Float64Array => {
    const W = get(name);
    const b = bias === undefined ? undefined : w.get(bias);
    const y = new Float64Array(out);
    for (let i = 0; i < out; i++) {
      let s = b?.[i] ?? 0;
      for (let j = 0; j < x.length; j++) s += W[i * x.length + j]! * x[j]!;
      y[i] = s;
    }
    return y;
  };
  const norm = (x: Float64Array, name: string, off = 0, len = x.length): void => {
    const g = get(name);
    let ss = 0;
    for (let i = 0; i < len; i++) ss += x[off + i]! ** 2;
    const r = 1 / Math.sqrt(ss / len + cfg.rmsNormEps);
    for (let i = 0; i < len; i++) x[off + i] = x[off + i]! * r * g[i]!;
  };
  const inv = ropeInvFreq(cfg);
  const rope = (x: Float64Array, heads: number, pos: number): void => {
    for (let hh = 0; hh < heads; hh++)
      for (let i = 0; i < e / 2; i++) {
        const a = x[hh * e + i]!, b = x[hh * e + i + e / 2]!;
        const c = Math.cos(pos * inv[i]!), s = Math.sin(pos * inv[i]!);
        x[hh * e + i] = a * c - b * s;
        x[hh * e + i + e / 2] = b * c + a * s;
      }
  };
  const emb = get('model.embed_tokens.weight');
  let xs = tokens.map((t) => Float64Array.from({ length: d }, (_, i) => emb[t * d + i]!));
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    const hs = xs.map((x) => {
      const y = Float64Array.from(x);
      norm(y, `${p}.input_layernorm.weight`);
      return y;
    });
    const bias = (n: string) => (cfg.attentionBias ? `${p}.self_attn.${n}_proj.bias` : undefined);
    const qs = hs.map((x) => lin(x, `${p}.self_attn.q_proj.weight`, h * e, bias('q')));
    const ks = hs.map((x) => lin(x, `${p}.self_attn.k_proj.weight`, kh * e, bias('k')));
    const vs = hs.map((x) => lin(x, `${p}.self_attn.v_proj.weight`, kh * e, bias('v')));
    qs.forEach((q, pos) => {
      if (cfg.qkNorm) for (let hh = 0; hh < h; hh++) norm(q, `${p}.self_attn.q_norm.weight`, hh * e, e);
      rope(q, h, pos);
    });
    ks.forEach((k, pos) => {
      if (cfg.qkNorm) for (let hh = 0; hh < kh; hh++) norm(k, `${p}.self_attn.k_norm.weight`, hh * e, e);
      rope(k, kh, pos);
    });
    xs = xs.map((x, t) => {
      const att = new Float64Array(h * e);
      for (let hh = 0; hh < h; hh++) {
        const g = Math.floor(hh / (h / kh));
        const sc = Array.from({ length: t + 1 }, (_, s) => {
          let z = 0;
          for (let i = 0; i < e; i++) z += qs[t]![hh * e + i]! * ks[s]![g * e + i]!;
          return z / Math.sqrt(e);
        });
        const m = Math.max(...sc);
        const ex = sc.map((z) => Math.exp(z - m));
        const tot = ex.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++) for (let i = 0; i < e; i++) att[hh * e + i] += (ex[s]! / tot) * vs[s]![g * e + i]!;
      }
      const o = lin(att, `${p}.self_attn.o_proj.weight`, d);
      const r = x.map((val, i) => val + o[i]!);
      const m = Float64Array.from(r);
      norm(m, `${p}.post_attention_layernorm.weight`);
      const gate = lin(m, `${p}.mlp.gate_proj.weight`, f);
      const up = lin(m, `${p}.mlp.up_proj.weight`, f);
      const down = lin(gate.map((a, i) => (a / (1 + Math.exp(-a))) * up[i]!), `${p}.mlp.down_proj.weight`, d);
      return r.map((val, i) => val + down[i]!);
    });
  }
  const head = cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  return xs.map((x) => {
    const y = Float64Array.from(x);
    norm(y, 'model.norm.weight');
    return lin(y, head, v);
  });
}
