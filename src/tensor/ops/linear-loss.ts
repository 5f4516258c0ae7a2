// Fused, chunked output head + loss (as Liger's fused linear cross-entropy): logits = h·Wᵀ are made a chunk of rows at a time, never (rows × vocab) at once.
//
// Legend: R rows (tokens), D hidden width, V vocab, A active rows (target ≠ ignoreIndex), C rows per chunk.
// Only active rows are ever multiplied: a chunk is C consecutive *active* rows (gathered into a buffer when
// ignored rows sit between them), so prompt-masked SFT pays nothing for its masked tokens.
import type { Backend, FloatArray, WeightArray } from '../../backend/backend.ts';
import { isGradEnabled } from '../grad-mode.ts';
import { record, Tensor } from '../tensor.ts';
import { IGNORE_INDEX } from './loss.ts';
import { storageOf, weightProduct } from './weight-product.ts';

/** Rows per chunk so that one chunk's logits take about 32 MiB of f32, and never fewer than 32 rows. */
export function defaultChunkRows(vocab: number): number {
  return Math.max(32, Math.floor((32 * 1024 * 1024) / (4 * Math.max(vocab, 1))));
}

export interface LinearCrossEntropyOptions {
  ignoreIndex?: number;
  reduction?: 'mean' | 'sum';
  /** Rows per chunk (default defaultChunkRows(vocab)): peak extra memory is chunkRows × vocab floats. */
  chunkRows?: number;
}

export interface LinearLogProbsOptions {
  ignoreIndex?: number;
  chunkRows?: number;
}

/** What every pass over the chunks shares: the operands and the active rows, in order. */
interface Plan {
  be: Backend;
  hidden: Tensor; // (..., D) contiguous: R rows
  weight: Tensor; // (V, D), f32/f64 or frozen bf16
  dim: number;
  vocab: number;
  active: Int32Array; // (A) row indices whose target is not ignored, ascending
  targets: Int32Array; // (A) their targets
  chunk: number; // C = min(chunkRows, A)
  ignoreIndex: number;
}

function plan(op: string, hidden: Tensor, weight: Tensor, targets: Int32Array, ignoreIndex: number, chunkRows: number | undefined): Plan {
  if (weight.rank !== 2) throw new Error(`${op}: weight must be (vocab, dim), got [${weight.shape.join(', ')}]`);
  const [vocab, dim] = weight.shape as [number, number];
  if (hidden.rank < 1 || hidden.dim(-1) !== dim) throw new Error(`${op}: hidden [${hidden.shape.join(', ')}] does not end in the weight's dim ${dim}`);
  const okWeight = hidden.dtype === 'f64' ? weight.dtype === 'f64' : hidden.dtype === 'f32' && weight.dtype !== 'f64';
  if (!okWeight) throw new Error(`${op}: hidden ${hidden.dtype} with weight ${weight.dtype} (f32 with f32, bf16 or quantised, or f64 with f64)`);
  const rows = hidden.size / dim;
  if (targets.length !== rows) throw new Error(`${op}: ${targets.length} targets for ${rows} rows of hidden`);
  if (chunkRows !== undefined && !(Number.isInteger(chunkRows) && chunkRows >= 1)) throw new Error(`${op}: chunkRows must be a positive integer, got ${chunkRows}`);
  let n = 0;
  for (const t of targets) {
    if (t === ignoreIndex) continue;
    if (!(t >= 0 && t < vocab)) throw new Error(`${op}: target ${t} out of range [0, ${vocab})`);
    n++;
  }
  const active = new Int32Array(n);
  const tg = new Int32Array(n);
  for (let r = 0, i = 0; r < rows; r++) {
    if (targets[r] === ignoreIndex) continue;
    active[i] = r;
    tg[i++] = targets[r]!;
  }
  const chunk = Math.min(chunkRows ?? defaultChunkRows(vocab), n);
  return { be: hidden.backend, hidden, weight, dim, vocab, active, targets: tg, chunk, ignoreIndex };
}

/**
 * Per chunk of active rows [a0, a0+n): logits (n, V) = h_c·Wᵀ into one reused buffer, then visit().
 * If visit returns true it has overwritten the logits with their gradient, and the pass writes
 * glogits·W into gradHidden's rows (ignored rows are left as they are) and adds glogitsᵀ·h_c to gradWeight.
 */
function sweep(p: Plan, visit: (logits: FloatArray, a0: number, n: number) => boolean, gradHidden: Tensor | null, gradWeight: Tensor | null): void {
  const { be, hidden, weight, dim: D, vocab: V, active, chunk: C } = p;
  const A = active.length;
  if (A === 0) return;
  const logits = Tensor.empty([C, V], hidden.dtype); // (C, V) reused by every chunk
  let gather: Tensor | null = null; // (C, D) rows of h (then of grad h) when a chunk is not contiguous
  const hf = hidden.f;
  // op(a)·op(b) for one (m, k)·(k, n) pair at element offsets, written or added to c
  const mm = (a: FloatArray, aOff: number, transA: boolean, b: WeightArray, bOff: number, transB: boolean, c: FloatArray, cOff: number, m: number, k: number, n: number, accumulate: boolean): void =>
    be.matmul({ a, aOffset: aOff, strideA: m * k, transA, b, bOffset: bOff, strideB: k * n, transB, c, cOffset: cOff, strideC: m * n, batch: 1, m, n, k, accumulate });
  // h·Wᵀ (transW) or g·W for one chunk: W may be quantised blocks
  const mmW = (a: FloatArray, aOff: number, transW: boolean, c: FloatArray, cOff: number, m: number, k: number, n: number): void =>
    weightProduct(be, a, aOff, storageOf(weight), transW, c, cOff, m, k, n, false);
  try {
    for (let a0 = 0; a0 < A; a0 += C) {
      const n = Math.min(C, A - a0);
      const r0 = active[a0]!;
      const contiguous = active[a0 + n - 1]! - r0 === n - 1;
      let hArr: FloatArray, hOff: number;
      if (contiguous) {
        hArr = hidden.buffer as FloatArray;
        hOff = hidden.offset + r0 * D;
      } else {
        gather ??= Tensor.empty([C, D], hidden.dtype);
        const gf = gather.f;
        for (let i = 0; i < n; i++) {
          const r = active[a0 + i]!;
          gf.set(hf.subarray(r * D, (r + 1) * D), i * D);
        }
        hArr = gather.buffer as FloatArray;
        hOff = gather.offset;
      }
      const lBuf = logits.buffer as FloatArray;
      mmW(hArr, hOff, true, lBuf, logits.offset, n, D, V); // (n, D)·(V, D)ᵀ → (n, V)
      if (!visit(logits.f.subarray(0, n * V), a0, n)) continue;
      // glogits now in the buffer. gW first: it still needs h_c, which the gathered path overwrites next.
      if (gradWeight !== null) mm(lBuf, logits.offset, true, hArr, hOff, false, gradWeight.buffer as FloatArray, gradWeight.offset, V, n, D, true); // (n, V)ᵀ·(n, D) → (V, D)
      if (gradHidden === null) continue;
      if (contiguous) {
        mmW(lBuf, logits.offset, false, gradHidden.buffer as FloatArray, gradHidden.offset + r0 * D, n, V, D); // (n, V)·(V, D) → (n, D)
      } else {
        mmW(lBuf, logits.offset, false, gather!.buffer as FloatArray, gather!.offset, n, V, D);
        const gf = gather!.f;
        const gh = gradHidden.f;
        for (let i = 0; i < n; i++) gh.set(gf.subarray(i * D, (i + 1) * D), active[a0 + i]! * D);
      }
    }
  } finally {
    logits.dispose();
    gather?.dispose();
  }
}

/**
 * Mean (or summed) NLL of targets under softmax(hidden·weightᵀ), equal to crossEntropy(linear(hidden, weight), targets).
 * hidden (..., D) f32 (f64 on the reference backend); weight (V, D) f32, f64 or frozen bf16; one target per row.
 * When gradients will be needed they are computed during this forward (one pass over the logits) and kept:
 * grad hidden (R, D) and, if the weight is trainable, grad weight (V, D); the backward only scales them by
 * the incoming gradient and hands them to autograd, so it can run once per forward.
 */
export function linearCrossEntropy(hidden: Tensor, weight: Tensor, targets: Int32Array, opts: LinearCrossEntropyOptions = {}): Tensor {
  const p = plan('linearCrossEntropy', hidden, weight, targets, opts.ignoreIndex ?? IGNORE_INDEX, opts.chunkRows);
  const { be, vocab: V, chunk: C } = p;
  const A = p.active.length;
  const divisor = opts.reduction === 'sum' ? 1 : Math.max(A, 1);
  const needGrad = isGradEnabled() && (hidden.requiresGrad || weight.requiresGrad);
  // Zeroed: ignored rows get no gradient, and grad weight is accumulated chunk by chunk.
  const gradHidden = needGrad && hidden.requiresGrad ? Tensor.empty(hidden.shape, hidden.dtype, true) : null;
  const gradWeight = needGrad && weight.requiresGrad ? Tensor.empty(weight.shape, weight.dtype, true) : null;
  let total = 0;
  if (A > 0) {
    const logp = Tensor.empty([C], hidden.dtype);
    const lse = Tensor.empty([C], hidden.dtype);
    const gout = Tensor.empty([C], hidden.dtype); // d loss / d logp = −1/divisor for every active row
    be.fill(gout.f, 0, C, -1 / divisor);
    try {
      sweep(p, (logits, a0, n) => {
        const tg = p.targets.subarray(a0, a0 + n);
        const lp = logp.f;
        be.logprobGather(logits, tg, lp, lse.f, n, V, p.ignoreIndex);
        for (let i = 0; i < n; i++) total -= lp[i]!;
        if (!needGrad) return false;
        // (softmax − onehot)/divisor, in place over the chunk's logits
        be.logprobGatherBackward(logits, tg, lse.f, gout.f, logits, n, V, p.ignoreIndex);
        return true;
      }, gradHidden, gradWeight);
    } finally {
      logp.dispose();
      lse.dispose();
      gout.dispose();
    }
  }
  const out = Tensor.empty([], hidden.dtype);
  out.f[0] = total / divisor;
  if (!needGrad) return out;
  let spent = false;
  return record(out, 'linearCrossEntropy', [hidden, weight], (g) => {
    if (spent) throw new Error('linearCrossEntropy: backward already ran for this loss (its saved gradients were handed to autograd)');
    spent = true;
    const s = g.f[0]!;
    for (const t of [gradHidden, gradWeight]) if (t !== null && s !== 1) be.affine(t.f, t.f, t.size, s, 0);
    return [gradHidden, gradWeight];
  });
}

/**
 * log p(target) per row under softmax(hidden·weightᵀ): (...) = hidden.shape without D, 0 where ignored; equal to
 * gatherLogProbs(linear(hidden, weight), targets). Keeps only the per-row logsumexp (A floats); the backward
 * recomputes each chunk's logits and accumulates grad hidden and grad weight chunk by chunk.
 */
export function linearLogProbs(hidden: Tensor, weight: Tensor, targets: Int32Array, opts: LinearLogProbsOptions = {}): Tensor {
  const p = plan('linearLogProbs', hidden, weight, targets, opts.ignoreIndex ?? IGNORE_INDEX, opts.chunkRows);
  const { be, vocab: V, chunk: C, active } = p;
  const A = active.length;
  const needGrad = isGradEnabled() && (hidden.requiresGrad || weight.requiresGrad);
  const out = Tensor.empty(hidden.shape.slice(0, -1), hidden.dtype, true); // (...) zero where ignored
  // lse of every active row when the backward will need it, else one chunk's worth
  const lse = Tensor.empty([needGrad ? A : C], hidden.dtype);
  const logp = Tensor.empty([C], hidden.dtype);
  try {
    const of = out.f;
    sweep(p, (logits, a0, n) => {
      const lp = logp.f;
      be.logprobGather(logits, p.targets.subarray(a0, a0 + n), lp, needGrad ? lse.f.subarray(a0, a0 + n) : lse.f, n, V, p.ignoreIndex);
      for (let i = 0; i < n; i++) of[active[a0 + i]!] = lp[i]!;
      return false;
    }, null, null);
  } finally {
    logp.dispose();
    if (!needGrad) lse.dispose();
  }
  if (!needGrad) return out;
  return record(out, 'linearLogProbs', [hidden, weight], (g) => {
    // g (...): one incoming gradient per row
    const gh = hidden.requiresGrad ? Tensor.empty(hidden.shape, hidden.dtype, true) : null;
    const gw = weight.requiresGrad ? Tensor.empty(weight.shape, weight.dtype, true) : null;
    if (A === 0) return [gh, gw];
    const gout = Tensor.empty([C], hidden.dtype);
    try {
      const gf = g.f;
      sweep(p, (logits, a0, n) => {
        const go = gout.f;
        for (let i = 0; i < n; i++) go[i] = gf[active[a0 + i]!]!;
        be.logprobGatherBackward(logits, p.targets.subarray(a0, a0 + n), lse.f.subarray(a0, a0 + n), go, logits, n, V, p.ignoreIndex);
        return true;
      }, gh, gw);
    } finally {
      gout.dispose();
    }
    return [gh, gw];
  });
}
