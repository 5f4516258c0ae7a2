// Reference (plain TypeScript) matmul, fused layers (rmsnorm, rope, swiglu, dropout, softmax, log-prob gather, embedding),
// many-adapter LoRA and AdamW.
import type { Backend, WeightArray } from './backend.ts';
import { bf16ToF32 } from './bf16.ts';
import { sigmoid } from './reference-elementwise.ts';
import { dropoutKeeps, dropoutParams } from './dropout-mask.ts';

/** Element reader that hides whether the weights are floats or bf16 bits. */
function reader(w: WeightArray): (i: number) => number {
  return w instanceof Uint16Array ? (i) => bf16ToF32(w[i]) : (i) => w[i];
}

function logSumExp(x: ArrayLike<number>, offset: number, n: number): number {
  let max = -Infinity;
  for (let j = 0; j < n; j++) max = Math.max(max, x[offset + j]);
  if (max === -Infinity || max === Infinity) return max;
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(x[offset + j] - max);
  return max + Math.log(sum);
}

function checkTarget(t: number, vocab: number, row: number): void {
  if (!(t >= 0 && t < vocab)) throw new RangeError(`logprobGather: target ${t} of row ${row} is outside [0, ${vocab})`);
}

export const referenceLayers: Pick<Backend,
  'matmul' | 'rmsnorm' | 'rmsnormBackward' | 'rope' | 'swiglu' | 'swigluBackward' | 'dropout' | 'softmax' | 'softmaxBackward' |
  'logprobGather' | 'logprobGatherBackward' | 'embedding' | 'embeddingBackward' | 'loraGroups' | 'adamw'> = {
  matmul({ a, aOffset, strideA, transA, b, bOffset, strideB, transB, c, cOffset, strideC, batch, m, n, k, accumulate }) {
    const bAt = reader(b);
    for (let bi = 0; bi < batch; bi++) {
      const a0 = aOffset + bi * strideA;
      const b0 = bOffset + bi * strideB;
      const c0 = cOffset + bi * strideC;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) {
            const av = transA ? a[a0 + p * m + i] : a[a0 + i * k + p];
            const bv = transB ? bAt(b0 + j * k + p) : bAt(b0 + p * n + j);
            s += av * bv;
          }
          c[c0 + i * n + j] = accumulate ? c[c0 + i * n + j] + s : s;
        }
      }
    }
  },

  rmsnorm(x, w, y, rstd, rows, dim, eps) {
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      let ss = 0;
      for (let j = 0; j < dim; j++) ss += x[o + j] * x[o + j];
      const rs = 1 / Math.sqrt(ss / dim + eps);
      rstd[r] = rs;
      for (let j = 0; j < dim; j++) y[o + j] = x[o + j] * rs * w[j];
    }
  },

  // y_j = x_j·r·w_j with r = (mean(x²)+eps)^-½ and dr/dx_k = -r³·x_k/dim, so
  // gx_k = r·w_k·gy_k - (r³/dim)·x_k·Σ_j gy_j·w_j·x_j.
  rmsnormBackward(x, w, rstd, gy, gx, gw, rows, dim) {
    for (let r = 0; r < rows; r++) {
      const o = r * dim;
      const rs = rstd[r];
      let dotp = 0;
      for (let j = 0; j < dim; j++) dotp += gy[o + j] * w[j] * x[o + j];
      const c = (rs * rs * rs * dotp) / dim;
      for (let j = 0; j < dim; j++) {
        gw[j] += gy[o + j] * x[o + j] * rs;
        gx[o + j] = rs * w[j] * gy[o + j] - c * x[o + j];
      }
    }
  },

  rope(x, out, rows, heads, dim, positions, invFreq, interleaved, inverse) {
    if (dim % 2 !== 0) throw new RangeError(`rope: head dim ${dim} is odd`);
    const half = dim / 2;
    const sign = inverse ? -1 : 1;
    for (let r = 0; r < rows; r++) {
      for (let h = 0; h < heads; h++) {
        const o = (r * heads + h) * dim;
        for (let i = 0; i < half; i++) {
          const angle = sign * positions[r] * invFreq[i];
          const cos = Math.cos(angle);
          const sin = Math.sin(angle);
          const i0 = interleaved ? o + 2 * i : o + i;
          const i1 = interleaved ? i0 + 1 : i0 + half;
          const x0 = x[i0];
          const x1 = x[i1];
          out[i0] = x0 * cos - x1 * sin;
          out[i1] = x0 * sin + x1 * cos;
        }
      }
    }
  },

  swiglu(gate, up, out, n) {
    for (let i = 0; i < n; i++) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
  },

  dropout(x, out, n, p, seed) {
    const { threshold, scale } = dropoutParams(p);
    for (let i = 0; i < n; i++) out[i] = dropoutKeeps(seed >>> 0, i, threshold) ? x[i] * scale : 0;
  },

  swigluBackward(gate, up, gout, ggate, gup, n) {
    for (let i = 0; i < n; i++) {
      const g = gate[i];
      const s = sigmoid(g);
      const go = gout[i];
      ggate[i] = go * up[i] * s * (1 + g * (1 - s));
      gup[i] = go * g * s;
    }
  },

  softmax(x, y, rows, n, causalQueryLen, causalOffset) {
    for (let r = 0; r < rows; r++) {
      const o = r * n;
      const visible = causalQueryLen > 0 ? Math.max(0, Math.min(n, (r % causalQueryLen) + causalOffset + 1)) : n;
      const lse = visible > 0 ? logSumExp(x, o, visible) : 0;
      for (let j = 0; j < n; j++) y[o + j] = j < visible ? Math.exp(x[o + j] - lse) : 0;
    }
  },

  softmaxBackward(y, gy, gx, rows, n) {
    for (let r = 0; r < rows; r++) {
      const o = r * n;
      let s = 0;
      for (let j = 0; j < n; j++) s += gy[o + j] * y[o + j];
      for (let j = 0; j < n; j++) gx[o + j] = y[o + j] * (gy[o + j] - s);
    }
  },

  logprobGather(logits, targets, out, lse, rows, vocab, ignoreIndex) {
    for (let r = 0; r < rows; r++) {
      const o = r * vocab;
      const l = logSumExp(logits, o, vocab);
      lse[r] = l;
      const t = targets[r];
      if (t === ignoreIndex) {
        out[r] = 0;
        continue;
      }
      checkTarget(t, vocab, r);
      out[r] = logits[o + t] - l;
    }
  },

  logprobGatherBackward(logits, targets, lse, gout, glogits, rows, vocab, ignoreIndex) {
    for (let r = 0; r < rows; r++) {
      const o = r * vocab;
      const t = targets[r];
      if (t === ignoreIndex) {
        glogits.fill(0, o, o + vocab);
        continue;
      }
      checkTarget(t, vocab, r);
      const g = gout[r];
      const l = lse[r];
      // Each element is read before it is written, so glogits may alias logits.
      for (let j = 0; j < vocab; j++) glogits[o + j] = g * ((j === t ? 1 : 0) - Math.exp(logits[o + j] - l));
    }
  },

  embedding(table, ids, out, n, dim) {
    const at = reader(table);
    const vocab = Math.floor(table.length / dim);
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < vocab)) throw new RangeError(`embedding: id ${id} at ${i} is outside [0, ${vocab})`);
      for (let j = 0; j < dim; j++) out[i * dim + j] = at(id * dim + j);
    }
  },

  embeddingBackward(gout, ids, gtable, n, dim) {
    const vocab = Math.floor(gtable.length / dim);
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < vocab)) throw new RangeError(`embeddingBackward: id ${id} at ${i} is outside [0, ${vocab})`);
      for (let j = 0; j < dim; j++) gtable[id * dim + j] += gout[i * dim + j];
    }
  },

  // Sums in float64: t = A·x, then y += s·(B·t), rounded to f32 once per element of y.
  loraGroups(x, y, inF, outF, rows, offsets, a, b, ranks, scales) {
    const xRows = inF > 0 ? Math.floor(x.length / inF) : Infinity, yRows = outF > 0 ? Math.floor(y.length / outF) : Infinity;
    for (let g = 0; g < a.length; g++) {
      const r = ranks[g], A = a[g], B = b[g], s = scales[g];
      const t = new Float64Array(r);
      for (let i = offsets[g]; i < offsets[g + 1]; i++) {
        const row = rows[i];
        if (!(row >= 0 && row < Math.min(xRows, yRows))) throw new RangeError(`loraGroups: row ${row} at ${i} is outside [0, ${Math.min(xRows, yRows)})`);
        for (let k = 0; k < r; k++) {
          let acc = 0;
          for (let j = 0; j < inF; j++) acc += A[k * inF + j] * x[row * inF + j];
          t[k] = acc;
        }
        for (let o = 0; o < outF; o++) {
          let acc = 0;
          for (let k = 0; k < r; k++) acc += B[o * r + k] * t[k];
          y[row * outF + o] += s * acc;
        }
      }
    }
  },

  adamw({ p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2 }) {
    for (let i = 0; i < n; i++) {
      let pi = p[i] - lr * weightDecay * p[i];
      const gi = g[i];
      const mi = beta1 * m[i] + (1 - beta1) * gi;
      const vi = beta2 * v[i] + (1 - beta2) * gi * gi;
      pi -= (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps);
      m[i] = mi;
      v[i] = vi;
      p[i] = pi;
    }
  },
};
