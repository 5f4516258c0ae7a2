// Two tiny models for engine tests: an MLP regressor and a 2-layer Llama-style transformer LM.
import * as T from '../../src/tensor/index.ts';
import { Module } from '../../src/nn/module.ts';
import { Embedding, Linear, RMSNorm } from '../../src/nn/layers.ts';

export class TinyMLP extends Module {
  fc1: Linear;
  fc2: Linear;
  constructor(rng: T.Rng, inDim = 8, hidden = 32, outDim = 4) {
    super();
    this.fc1 = Linear.init(inDim, hidden, rng, { bias: true });
    this.fc2 = Linear.init(hidden, outDim, rng, { bias: true });
  }
  /** Mean squared error of the prediction for x (N, in) against y (N, out). */
  loss(x: T.Tensor, y: T.Tensor): T.Tensor {
    const pred = this.fc2.forward(T.silu(this.fc1.forward(x)));
    return T.mean(T.square(T.sub(pred, y)));
  }
}

class Block extends Module {
  attnNorm: RMSNorm;
  wq: Linear;
  wk: Linear;
  wv: Linear;
  wo: Linear;
  mlpNorm: RMSNorm;
  gate: Linear;
  up: Linear;
  down: Linear;
  constructor(rng: T.Rng, readonly dim: number, readonly heads: number, readonly kvHeads: number, hidden: number) {
    super();
    const hd = dim / heads;
    this.attnNorm = RMSNorm.init(dim);
    this.wq = Linear.init(dim, heads * hd, rng);
    this.wk = Linear.init(dim, kvHeads * hd, rng);
    this.wv = Linear.init(dim, kvHeads * hd, rng);
    this.wo = Linear.init(heads * hd, dim, rng);
    this.mlpNorm = RMSNorm.init(dim);
    this.gate = Linear.init(dim, hidden, rng);
    this.up = Linear.init(dim, hidden, rng);
    this.down = Linear.init(hidden, dim, rng);
  }
  forward(x: T.Tensor, rope: T.RopeOptions): T.Tensor {
    const [b, t] = x.shape as [number, number];
    const hd = this.dim / this.heads;
    const h = this.attnNorm.forward(x);
    const q = T.rope(T.reshape(this.wq.forward(h), [b, t, this.heads, hd]), rope); // (B, T, H, D)
    const k = T.rope(T.reshape(this.wk.forward(h), [b, t, this.kvHeads, hd]), rope); // (B, T, Hkv, D)
    const v = T.reshape(this.wv.forward(h), [b, t, this.kvHeads, hd]); // (B, T, Hkv, D)
    const a = T.reshape(T.attention(q, k, v, { causal: true }), [b, t, this.dim]);
    const x2 = T.add(x, this.wo.forward(a));
    const m = this.mlpNorm.forward(x2);
    return T.add(x2, this.down.forward(T.swiglu(this.gate.forward(m), this.up.forward(m))));
  }
}

export class TinyTransformer extends Module {
  embed: Embedding;
  layers: Block[];
  norm: RMSNorm;
  head: Linear;
  constructor(rng: T.Rng, readonly vocab = 32, readonly dim = 16, layers = 2) {
    super();
    this.embed = Embedding.init(vocab, dim, rng, 0.5);
    this.layers = Array.from({ length: layers }, () => new Block(rng, dim, 4, 2, 24));
    this.norm = RMSNorm.init(dim);
    this.head = Linear.init(dim, vocab, rng);
  }
  /** Next-token cross-entropy of tokens (B, T). */
  loss(tokens: Int32Array, b: number, t: number): T.Tensor {
    const inputs = new Int32Array(b * (t - 1));
    const targets = new Int32Array(b * (t - 1));
    const positions = new Int32Array(b * (t - 1));
    for (let i = 0; i < b; i++)
      for (let j = 0; j < t - 1; j++) {
        inputs[i * (t - 1) + j] = tokens[i * t + j]!;
        targets[i * (t - 1) + j] = tokens[i * t + j + 1]!;
        positions[i * (t - 1) + j] = j;
      }
    const rope = { positions, invFreq: T.ropeFrequencies(this.dim / 4, 10000), interleaved: false };
    let x = this.embed.forward(inputs, [b, t - 1]);
    for (const layer of this.layers) x = layer.forward(x, rope);
    const logits = this.head.forward(this.norm.forward(x));
    return T.crossEntropy(T.reshape(logits, [b * (t - 1), this.vocab]), targets);
  }
}
