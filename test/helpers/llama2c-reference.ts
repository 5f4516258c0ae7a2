// An independent llama2.c forward pass (run.c semantics, float64) over stories260K.bin, to check the model against.
import { readFileSync } from 'node:fs';

/** Logits (T × vocab) for tokens, computed token by token from the llama2.c checkpoint at path. */
export function llama2cLogits(path: string, tokens: readonly number[]): { vocab: number; logits: Float64Array[] } {
  const buf = readFileSync(path);
  const hdr = new Int32Array(buf.buffer, buf.byteOffset, 7);
  const [dim, hidden, nl, nh, nkv, rawVocab, seqLen] = Array.from(hdr) as [number, number, number, number, number, number, number];
  const vocab = Math.abs(rawVocab);
  const f = new Float32Array(buf.buffer.slice(buf.byteOffset + 28));
  let o = 0;
  const take = (n: number): Float32Array => f.subarray(o, (o += n));
  const hs = dim / nh;
  const kvDim = nkv * hs;
  const emb = take(vocab * dim), rmsAtt = take(nl * dim), wq = take(nl * dim * dim), wk = take(nl * dim * kvDim), wv = take(nl * dim * kvDim);
  const wo = take(nl * dim * dim), rmsFfn = take(nl * dim), w1 = take(nl * hidden * dim), w2 = take(nl * dim * hidden), w3 = take(nl * hidden * dim);
  const rmsFinal = take(dim);
  take(seqLen * hs); // precomputed RoPE tables (cos and sin halves): recomputed below instead
  const wcls = rawVocab > 0 ? emb : take(vocab * dim);
  // out[i] = sum_j w[off + i*n + j] * x[j]  (llama2.c matmul: W is (d, n) row-major)
  const mm = (w: Float32Array, off: number, x: Float64Array, n: number, d: number): Float64Array => {
    const out = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += w[off + i * n + j]! * x[j]!;
      out[i] = s;
    }
    return out;
  };
  const rms = (x: Float64Array, w: Float32Array, off: number): Float64Array => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const r = 1 / Math.sqrt(ss / x.length + 1e-5);
    return x.map((v, i) => v * r * w[off + i]!);
  };
  const kCache: Float64Array[][] = Array.from({ length: nl }, () => []);
  const vCache: Float64Array[][] = Array.from({ length: nl }, () => []);
  const logits = tokens.map((tok, pos) => {
    let x = Float64Array.from(emb.subarray(tok * dim, (tok + 1) * dim));
    for (let l = 0; l < nl; l++) {
      const xb = rms(x, rmsAtt, l * dim);
      const q = mm(wq, l * dim * dim, xb, dim, dim);
      const k = mm(wk, l * dim * kvDim, xb, dim, kvDim);
      const v = mm(wv, l * dim * kvDim, xb, dim, kvDim);
      // RoPE on interleaved pairs, frequency from the position within the head.
      for (let i = 0; i < dim; i += 2) {
        const angle = pos / Math.pow(10000, (i % hs) / hs);
        const c = Math.cos(angle), s = Math.sin(angle);
        for (const [vec, lim] of [[q, dim], [k, kvDim]] as [Float64Array, number][])
          if (i < lim) {
            const a = vec[i]!, b = vec[i + 1]!;
            vec[i] = a * c - b * s;
            vec[i + 1] = a * s + b * c;
          }
      }
      kCache[l]![pos] = k;
      vCache[l]![pos] = v;
      const att = new Float64Array(dim);
      for (let h = 0; h < nh; h++) {
        const kh = Math.floor(h / (nh / nkv));
        const scores = new Float64Array(pos + 1);
        for (let t = 0; t <= pos; t++) {
          let s = 0;
          for (let i = 0; i < hs; i++) s += q[h * hs + i]! * kCache[l]![t]![kh * hs + i]!;
          scores[t] = s / Math.sqrt(hs);
        }
        const m = Math.max(...scores);
        let z = 0;
        for (let t = 0; t <= pos; t++) z += (scores[t] = Math.exp(scores[t]! - m));
        for (let t = 0; t <= pos; t++) for (let i = 0; i < hs; i++) att[h * hs + i] += (scores[t]! / z) * vCache[l]![t]![kh * hs + i]!;
      }
      const proj = mm(wo, l * dim * dim, att, dim, dim);
      x = x.map((val, i) => val + proj[i]!);
      const xb2 = rms(x, rmsFfn, l * dim);
      const h1 = mm(w1, l * hidden * dim, xb2, dim, hidden);
      const h3 = mm(w3, l * hidden * dim, xb2, dim, hidden);
      const down = mm(w2, l * dim * hidden, h1.map((a, i) => (a / (1 + Math.exp(-a))) * h3[i]!), hidden, dim);
      x = x.map((val, i) => val + down[i]!);
    }
    return mm(wcls, 0, rms(x, rmsFinal, 0), dim, vocab);
  });
  return { vocab, logits };
}
