// Reference (plain TypeScript) grouped-query attention forward and backward, one query's score row at a time.
import type { AttentionArgs, AttentionBackwardArgs, CachedAttentionArgs } from './backend.ts';

function validate(a: AttentionArgs): void {
  if (a.hkv <= 0 || a.hq % a.hkv !== 0) throw new RangeError(`attention: hq ${a.hq} is not a multiple of hkv ${a.hkv}`);
  if (a.tk > a.kvCap) throw new RangeError(`attention: tk ${a.tk} exceeds kvCap ${a.kvCap}`);
  if (a.causal && a.tq > a.tk) throw new RangeError(`attention: causal with tq ${a.tq} > tk ${a.tk}`);
  if (a.segments && a.tq !== a.tk) throw new RangeError(`attention: segments need tq == tk (got ${a.tq}, ${a.tk})`);
}

/** Whether key j is visible to query i of batch element b. */
function visibility(a: AttentionArgs, b: number, i: number): (j: number) => boolean {
  const last = a.causal ? a.tk - a.tq + i : a.tk - 1;
  const seg = a.segments;
  if (!seg) return (j) => j <= last;
  const s = seg[b * a.tq + i];
  return (j) => j <= last && seg[b * a.tk + j] === s;
}

/**
 * Fills scores[j] with the scaled score of query (b, i, h) against key j, -Infinity where masked,
 * and returns the row's logsumexp. Throws if the query sees no key.
 */
function scoreRow(a: AttentionArgs, b: number, i: number, h: number, scores: Float64Array): number {
  const { q, k, tq, tk, kvCap, hq, hkv, dim, scale } = a;
  const kh = Math.floor(h / (hq / hkv));
  const qo = ((b * tq + i) * hq + h) * dim;
  const sees = visibility(a, b, i);
  let max = -Infinity;
  for (let j = 0; j < tk; j++) {
    if (!sees(j)) {
      scores[j] = -Infinity;
      continue;
    }
    const ko = ((b * kvCap + j) * hkv + kh) * dim;
    let s = 0;
    for (let d = 0; d < dim; d++) s += q[qo + d] * k[ko + d];
    scores[j] = s * scale;
    max = Math.max(max, scores[j]);
  }
  if (max === -Infinity) throw new RangeError(`attention: query ${i} of batch ${b} sees no key`);
  let sum = 0;
  for (let j = 0; j < tk; j++) sum += Math.exp(scores[j] - max);
  return max + Math.log(sum);
}

export function referenceAttention(a: AttentionArgs): void {
  validate(a);
  const { v, o, lse, batch, tq, tk, kvCap, hq, hkv, dim } = a;
  const scores = new Float64Array(tk);
  const acc = new Float64Array(dim);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < hq; h++) {
      const kh = Math.floor(h / (hq / hkv));
      for (let i = 0; i < tq; i++) {
        const l = scoreRow(a, b, i, h, scores);
        lse[(b * hq + h) * tq + i] = l;
        acc.fill(0);
        for (let j = 0; j < tk; j++) {
          const p = Math.exp(scores[j] - l);
          if (p === 0) continue;
          const vo = ((b * kvCap + j) * hkv + kh) * dim;
          for (let d = 0; d < dim; d++) acc[d] += p * v[vo + d];
        }
        const oo = ((b * tq + i) * hq + h) * dim;
        for (let d = 0; d < dim; d++) o[oo + d] = acc[d];
      }
    }
  }
}

// With p_j = softmax_j(s), s_j = scale·q·k_j and o = Σ p_j v_j:
//   gv_j += p_j·go;  dp_j = go·v_j;  ds_j = p_j·(dp_j - Σ_l p_l·dp_l);  gq += scale·Σ ds_j·k_j;  gk_j += scale·ds_j·q.
// Probabilities are recomputed from q, k and the saved lse, so o is not needed.
export function referenceAttentionBackward(a: AttentionBackwardArgs): void {
  validate(a);
  const { q, k, v, go, gq, gk, gv, lse, batch, tq, tk, kvCap, hq, hkv, dim, scale } = a;
  gq.fill(0, 0, batch * tq * hq * dim);
  for (let b = 0; b < batch; b++) {
    const start = b * kvCap * hkv * dim;
    gk.fill(0, start, start + tk * hkv * dim);
    gv.fill(0, start, start + tk * hkv * dim);
  }
  const scores = new Float64Array(tk);
  const p = new Float64Array(tk);
  const dp = new Float64Array(tk);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < hq; h++) {
      const kh = Math.floor(h / (hq / hkv));
      for (let i = 0; i < tq; i++) {
        scoreRow(a, b, i, h, scores);
        const l = lse[(b * hq + h) * tq + i];
        const qo = ((b * tq + i) * hq + h) * dim;
        let pdp = 0;
        for (let j = 0; j < tk; j++) {
          p[j] = Math.exp(scores[j] - l);
          const vo = ((b * kvCap + j) * hkv + kh) * dim;
          let s = 0;
          for (let d = 0; d < dim; d++) s += go[qo + d] * v[vo + d];
          dp[j] = s;
          pdp += p[j] * s;
        }
        for (let j = 0; j < tk; j++) {
          if (p[j] === 0) continue;
          const ds = p[j] * (dp[j] - pdp) * scale;
          const ko = ((b * kvCap + j) * hkv + kh) * dim;
          for (let d = 0; d < dim; d++) {
            gq[qo + d] += ds * k[ko + d];
            gk[ko + d] += ds * q[qo + d];
            gv[ko + d] += p[j] * go[qo + d];
          }
        }
      }
    }
  }
}

export function referenceAttentionCached(a: CachedAttentionArgs): void {
  const { batch, tq, hq, hkv, dim } = a;
  const [qRow, kvRow] = [tq * hq * dim, tq * hkv * dim];
  for (let b = 0; b < batch; b++) {
    const [k, v, start] = [a.ks[b]!, a.vs[b]!, a.lengths[b]! * hkv * dim];
    const kvCap = k.length / (hkv * dim);
    if (start + kvRow > k.length || v.length !== k.length) throw new RangeError(`attentionCached: sequence ${b}: ${a.lengths[b]} stored + ${tq} new positions exceed its cache of ${kvCap}`);
    k.set(a.newK.subarray(b * kvRow, (b + 1) * kvRow), start);
    v.set(a.newV.subarray(b * kvRow, (b + 1) * kvRow), start);
    referenceAttention({
      q: a.q.subarray(b * qRow, (b + 1) * qRow), k, v, o: a.o.subarray(b * qRow, (b + 1) * qRow), lse: new Float32Array(hq * tq),
      batch: 1, tq, tk: a.lengths[b]! + tq, kvCap, hq, hkv, dim, scale: a.scale, causal: true,
    });
  }
}
