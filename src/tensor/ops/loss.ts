// Token-level losses: fused cross-entropy with an ignore index, and per-token log-probs (DPO, RL).
import { record, Tensor } from '../tensor.ts';

export const IGNORE_INDEX = -100;

function checkTargets(op: string, logits: Tensor, targets: Int32Array, ignoreIndex: number): [number, number] {
  const vocab = logits.dim(-1);
  const rows = logits.size / vocab;
  if (targets.length !== rows) throw new Error(`${op}: ${targets.length} targets for ${rows} rows of logits`);
  for (const t of targets) if (t !== ignoreIndex && !(t >= 0 && t < vocab)) throw new Error(`${op}: target ${t} out of range [0, ${vocab})`);
  return [rows, vocab];
}

/** log p(target) per row: logits (..., V), targets one per row → (...). Ignored rows give 0. */
export function gatherLogProbs(logits: Tensor, targets: Int32Array, ignoreIndex = IGNORE_INDEX): Tensor {
  const [rows, vocab] = checkTargets('gatherLogProbs', logits, targets, ignoreIndex);
  const out = Tensor.empty(logits.shape.slice(0, -1), logits.dtype);
  const lse = Tensor.empty([rows], logits.dtype);
  logits.backend.logprobGather(logits.f, targets, out.f, lse.f, rows, vocab, ignoreIndex);
  return record(out, 'gatherLogProbs', [logits], (g) => {
    const gl = Tensor.empty(logits.shape, logits.dtype);
    logits.backend.logprobGatherBackward(logits.f, targets, lse.f, g.f, gl.f, rows, vocab, ignoreIndex);
    return [gl];
  });
}

/**
 * Mean (or summed) cross-entropy over rows whose target is not ignoreIndex, fused: only the
 * per-row logsumexp is kept, and the backward writes softmax − onehot straight into the gradient.
 */
export interface CrossEntropyOptions {
  ignoreIndex?: number;
  reduction?: 'mean' | 'sum';
}

export function crossEntropy(logits: Tensor, targets: Int32Array, opts: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = opts.ignoreIndex ?? IGNORE_INDEX;
  const [rows, vocab] = checkTargets('crossEntropy', logits, targets, ignoreIndex);
  const logp = Tensor.empty([rows], logits.dtype);
  const lse = Tensor.empty([rows], logits.dtype);
  logits.backend.logprobGather(logits.f, targets, logp.f, lse.f, rows, vocab, ignoreIndex);
  let count = 0;
  let total = 0;
  const lp = logp.f;
  for (let r = 0; r < rows; r++) {
    if (targets[r] === ignoreIndex) continue;
    count++;
    total -= lp[r]!;
  }
  logp.dispose();
  const divisor = opts.reduction === 'sum' ? 1 : Math.max(count, 1);
  const out = Tensor.empty([], logits.dtype);
  out.f[0] = total / divisor;
  return record(out, 'crossEntropy', [logits], (g) => {
    const perRow = Tensor.empty([rows], logits.dtype);
    logits.backend.fill(perRow.f, 0, rows, -g.f[0]! / divisor);
    const gl = Tensor.empty(logits.shape, logits.dtype);
    logits.backend.logprobGatherBackward(logits.f, targets, lse.f, perRow.f, gl.f, rows, vocab, ignoreIndex);
    perRow.dispose();
    return [gl];
  });
}
