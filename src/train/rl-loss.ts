// Policy-gradient losses on per-token log-probabilities (B, T), as TRL 1.10.0.dev0 computes them: GRPO (loss types
// grpo, bnpo, dr_grpo, dapo), RLOO's sequence-level clipped objective, PPO's clipped policy and value losses; with
// TRL's metric names. Built from autograd ops; the advantages they take come from rl-advantages.ts as plain numbers.
import { tensor } from '../tensor/ops/create.ts';
import { add, addScalar, clamp, exp, maximum, minimum, mul, scale, square, sub } from '../tensor/ops/elementwise.ts';
import { mean, sum } from '../tensor/ops/reduce.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { rowsOf, type Rows } from './rl-advantages.ts';

export { gae, groupAdvantages, maskedWhiten, ppoRewards, rlooAdvantages, sequenceKl } from './rl-advantages.ts';
export type { GaeOptions, KlInputs, PpoRewardInputs, RewardMetrics, RewardScale, RlooAdvantageOptions, Rows } from './rl-advantages.ts';

export interface RlLoss {
  loss: Tensor;
  metrics: Record<string, number>;
}

/** A (B, T) table checked against the log-probs' shape, as plain rows. */
function table(name: string, x: Rows, b: number, t: number): number[][] {
  const rows = rowsOf(x);
  if (rows.length !== b || rows.some((r) => r.length !== t)) throw new Error(`${name} must be (${b}, ${t}) like the log-probs`);
  return rows;
}

/** A constant (B, T) tensor in the log-probs' dtype: never on the tape, whatever the caller passed. */
const constant = (rows: number[][], like: Tensor): Tensor => tensor(rows.flat(), like.shape, like.dtype);

/** One number per sequence (B): an array, or a tensor read as constants. */
const perSequence = (x: readonly number[] | Tensor): number[] => (Array.isArray(x) ? [...(x as readonly number[])] : (x as Tensor).toArray());

function shapeOf(logps: Tensor): [number, number] {
  if (logps.rank !== 2) throw new Error(`log-probs must be (B, T), got [${logps.shape.join(', ')}]`);
  return [logps.dim(0), logps.dim(1)];
}

/** Σ(x·m) over one row, skipping masked-out entries outright (an infinite garbage value times 0 would be NaN). */
const rowSum = (row: readonly number[], m: readonly number[]): number => row.reduce((a, v, t) => (m[t]! === 0 ? a : a + v * m[t]!), 0);
const count = (m: readonly number[]): number => m.reduce((a, v) => a + v, 0);

/** Σ(x·m)/max(1, Σm) over the whole batch: TRL's masked mean of a metric. */
function maskedMean(x: readonly number[][], m: readonly number[][]): number {
  const s = x.reduce((a, row, b) => a + rowSum(row, m[b]!), 0);
  return s / Math.max(1, m.reduce((a, row) => a + count(row), 0));
}

/** Per-row masked means (NaN for a row without tokens, which TRL's nanmin/nanmax then skip). */
const rowMeans = (x: readonly number[][], m: readonly number[][]): number[] => x.map((row, b) => rowSum(row, m[b]!) / count(m[b]!));

const nanMin = (xs: number[]): number => (xs.every(Number.isNaN) ? NaN : Math.min(...xs.filter((x) => !Number.isNaN(x))));
const nanMax = (xs: number[]): number => (xs.every(Number.isNaN) ? NaN : Math.max(...xs.filter((x) => !Number.isNaN(x))));

/** TRL's clip metrics: low = ratio below 1 − εlow with A < 0, high = above 1 + εhigh with A > 0 (where clipping bites). */
function clipMetrics(ratio: number[][], adv: (b: number, t: number) => number, epsLow: number, epsHigh: number, m: number[][]): Record<string, number> {
  const low = ratio.map((row, b) => row.map((r, t) => (r < 1 - epsLow && adv(b, t) < 0 ? 1 : 0)));
  const high = ratio.map((row, b) => row.map((r, t) => (r > 1 + epsHigh && adv(b, t) > 0 ? 1 : 0)));
  const region = low.map((row, b) => row.map((l, t) => Math.max(l, high[b]![t]!)));
  return {
    'clip_ratio/low_mean': maskedMean(low, m),
    'clip_ratio/low_min': nanMin(rowMeans(low, m)),
    'clip_ratio/high_mean': maskedMean(high, m),
    'clip_ratio/high_max': nanMax(rowMeans(high, m)),
    'clip_ratio/region_mean': maskedMean(region, m),
  };
}

export type GrpoLossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';

export interface GrpoInputs {
  /** Per-token log-probs of the completions under the policy being trained (B, T). */
  logps: Tensor;
  /** Under the policy that sampled them (B, T); absent = on-policy, TRL's logps.detach() (ratio 1, gradient A·∇logp). */
  oldLogps?: Rows;
  /** Under the reference (B, T); needed when beta > 0. */
  refLogps?: Rows;
  /** One advantage per completion (B), from groupAdvantages. */
  advantages: readonly number[] | Tensor;
  /** 1 on completion tokens, 0 on padding (B, T). */
  mask: Rows;
}

export interface GrpoOptions {
  lossType: GrpoLossType;
  /** Clip range [1 − εlow, 1 + εhigh]; TRL's epsilon (default 0.2) and epsilon_high (default εlow; DAPO uses 0.28). */
  epsilonLow?: number;
  epsilonHigh?: number;
  /** KL coefficient (TRL's default 0: no reference needed). */
  beta?: number;
  /** dr_grpo divides by B × this (TRL's max_completion_length). */
  maxCompletionLength?: number;
  /** dapo divides by this many completion tokens: the whole generation batch's when it is split into micro-batches. */
  numItemsInBatch?: number;
  /** Two-sided GRPO (TRL's delta): the unclipped ratio is also capped at δ (> 1 + εhigh). */
  delta?: number;
}

/**
 * GRPO's loss, as TRL's GRPOTrainer._compute_loss (token-level importance sampling): with ratio = e^(logp − old),
 * per token −min(ratio·A, clip(ratio, 1 − εlow, 1 + εhigh)·A) + β·(e^(ref−logp) − (ref − logp) − 1), aggregated by
 * loss type: grpo = each sequence's token mean, then the mean over sequences; bnpo = Σ / tokens; dr_grpo =
 * Σ / (B·maxCompletionLength); dapo = Σ / numItemsInBatch. (TRL's further division by gradient-accumulation steps
 * is the training loop's business.) Metrics: kl (mean k3 per token, when refLogps is given) and the clip ratios.
 */
export function grpoLoss(inp: GrpoInputs, opts: GrpoOptions): RlLoss {
  const { logps } = inp;
  const [b, t] = shapeOf(logps);
  const advantages = perSequence(inp.advantages);
  if (advantages.length !== b) throw new Error(`grpo: ${advantages.length} advantages for ${b} completions`);
  const epsLow = opts.epsilonLow ?? 0.2;
  const epsHigh = opts.epsilonHigh ?? epsLow;
  const beta = opts.beta ?? 0;
  const m = table('mask', inp.mask, b, t);
  const maskT = constant(m, logps);
  const old = constant(inp.oldLogps === undefined ? rowsOf(logps) : table('oldLogps', inp.oldLogps, b, t), logps);
  // Masking the log-ratio makes padding's ratio exactly 1: a garbage log-prob there can never overflow e^x into NaN.
  const ratio = exp(mul(sub(logps, old), maskT)); // (B, T)
  const adv = tensor(advantages, [b, 1], logps.dtype); // (B, 1)
  const kept = opts.delta === undefined ? ratio : clamp(ratio, undefined, opts.delta);
  let perToken = scale(minimum(mul(kept, adv), mul(clamp(ratio, 1 - epsLow, 1 + epsHigh), adv)), -1); // (B, T)
  const metrics: Record<string, number> = {};
  if (inp.refLogps !== undefined) {
    const ref = table('refLogps', inp.refLogps, b, t);
    if (beta !== 0) {
      const d = mul(sub(constant(ref, logps), logps), maskT); // ref − logp, 0 on padding
      perToken = add(perToken, scale(addScalar(sub(exp(d), d), -1), beta));
    }
    const lp = rowsOf(logps);
    metrics.kl = maskedMean(ref.map((row, i) => row.map((r, j) => Math.exp(r - lp[i]![j]!) - (r - lp[i]![j]!) - 1)), m);
  } else if (beta !== 0) throw new Error('grpo: beta > 0 needs reference log-probs');
  const masked = mul(perToken, maskT); // (B, T)
  const tokens = m.reduce((a, row) => a + count(row), 0);
  let loss: Tensor;
  switch (opts.lossType) {
    case 'grpo': {
      const inv = m.map((row) => 1 / Math.max(1, count(row)));
      loss = mean(mul(sum(masked, [1]), tensor(inv, [b], logps.dtype)));
      break;
    }
    case 'bnpo':
      loss = scale(sum(masked), 1 / Math.max(1, tokens));
      break;
    case 'dr_grpo':
      if (opts.maxCompletionLength === undefined) throw new Error('grpo: dr_grpo needs maxCompletionLength');
      loss = scale(sum(masked), 1 / (b * opts.maxCompletionLength));
      break;
    case 'dapo':
      loss = scale(sum(masked), 1 / Math.max(1, opts.numItemsInBatch ?? tokens));
      break;
    default:
      throw new Error(`grpo: unknown loss type '${String(opts.lossType)}'`);
  }
  const r = rowsOf(kept);
  Object.assign(metrics, clipMetrics(r, (i) => advantages[i]!, epsLow, epsHigh, m));
  return { loss, metrics };
}

export interface RlooInputs {
  /** Per-token log-probs under the policy being trained (B, T). */
  logps: Tensor;
  /** Under the sampling policy (B, T); absent = on-policy (detached logps). */
  oldLogps?: Rows;
  /** One advantage per completion (B), from rlooAdvantages (the KL penalty already in the reward). */
  advantages: readonly number[] | Tensor;
  mask: Rows;
}

/**
 * RLOO's loss, as TRL's RLOOTrainer (since its 2025 rewrite): sequence-level PPO clipping. With s = Σ masked logps,
 * ratio = e^(s − s_old), per sequence −min(ratio·A, clip(ratio, 1 − εlow, 1 + εhigh)·A), mean over sequences. The
 * KL (first-order, old − ref, summed per sequence) lives in the reward, not here. Clip metrics count sequences.
 */
export function rlooLoss(inp: RlooInputs, opts: { epsilonLow?: number; epsilonHigh?: number } = {}): RlLoss {
  const { logps } = inp;
  const [b, t] = shapeOf(logps);
  const advantages = perSequence(inp.advantages);
  if (advantages.length !== b) throw new Error(`rloo: ${advantages.length} advantages for ${b} completions`);
  const epsLow = opts.epsilonLow ?? 0.2;
  const epsHigh = opts.epsilonHigh ?? epsLow;
  const m = table('mask', inp.mask, b, t);
  const seq = sum(mul(logps, constant(m, logps)), [1]); // (B)
  const oldRows = inp.oldLogps === undefined ? rowsOf(logps) : table('oldLogps', inp.oldLogps, b, t);
  const oldSeq = oldRows.map((row, i) => rowSum(row, m[i]!));
  const ratio = exp(sub(seq, tensor(oldSeq, [b], logps.dtype))); // (B)
  const adv = tensor(advantages, [b], logps.dtype);
  const loss = mean(scale(minimum(mul(ratio, adv), mul(clamp(ratio, 1 - epsLow, 1 + epsHigh), adv)), -1));
  const ones = Array.from({ length: b }, () => [1]);
  const metrics = clipMetrics(ratio.toArray().map((r) => [r]), (i) => advantages[i]!, epsLow, epsHigh, ones);
  return { loss, metrics };
}

export interface PpoInputs {
  logps: Tensor;
  oldLogps: Rows;
  /** Per-token advantages (B, T), from gae. */
  advantages: Rows;
  mask: Rows;
}

/**
 * PPO's clipped policy loss, as TRL's PPOTrainer: masked mean of max(−A·ratio, −A·clip(ratio, 1 − c, 1 + c)).
 * Metrics: policy/clipfrac (share of tokens where the clipped branch is larger), approxkl = ½·mean (logp − old)² and
 * val/ratio, all over masked tokens (TRL averages approxkl and val/ratio over padding too, where logp − old is 0).
 * The caller adds vf_coef·valueLoss.
 */
export function ppoLoss(inp: PpoInputs, opts: { clip: number }): RlLoss {
  const { logps } = inp;
  const [b, t] = shapeOf(logps);
  const m = table('mask', inp.mask, b, t);
  const a = table('advantages', inp.advantages, b, t);
  const maskT = constant(m, logps);
  const diff = mul(sub(logps, constant(table('oldLogps', inp.oldLogps, b, t), logps)), maskT); // (B, T), 0 on padding
  const ratio = exp(diff);
  const negAdv = constant(a.map((row) => row.map((v) => -v)), logps);
  const worst = maximum(mul(ratio, negAdv), mul(clamp(ratio, 1 - opts.clip, 1 + opts.clip), negAdv));
  const tokens = m.reduce((a, row) => a + count(row), 0);
  const loss = scale(sum(mul(worst, maskT)), 1 / Math.max(1, tokens));
  const r = rowsOf(ratio);
  const d = rowsOf(diff);
  const clipped = r.map((row, i) => row.map((v, j) => (-a[i]![j]! * Math.min(Math.max(v, 1 - opts.clip), 1 + opts.clip) > -a[i]![j]! * v ? 1 : 0)));
  return {
    loss,
    metrics: { 'policy/clipfrac': maskedMean(clipped, m), approxkl: 0.5 * maskedMean(d.map((row) => row.map((v) => v * v)), m), 'val/ratio': maskedMean(r, m) },
  };
}

export interface ValueInputs {
  /** The value head's predictions (B, T), on the tape. */
  values: Tensor;
  /** Its predictions when the rollout was made, and the GAE returns (B, T). */
  oldValues: Rows;
  returns: Rows;
  mask: Rows;
}

/**
 * PPO's clipped value loss, as TRL's PPOTrainer: ½·masked mean of max((v − R)², (clip(v, v_old − c, v_old + c) − R)²).
 * Metric val/clipfrac: share of tokens where the clipped error is the larger.
 */
export function valueLoss(inp: ValueInputs, opts: { clipValue: number }): RlLoss {
  const { values } = inp;
  const [b, t] = shapeOf(values);
  const m = table('mask', inp.mask, b, t);
  const old = table('oldValues', inp.oldValues, b, t);
  const ret = table('returns', inp.returns, b, t);
  const c = opts.clipValue;
  const lo = constant(old.map((row) => row.map((v) => v - c)), values);
  const hi = constant(old.map((row) => row.map((v) => v + c)), values);
  // Bounds per element, so minimum/maximum rather than clamp; exact inside the range, as torch.clamp is.
  const clipped = minimum(maximum(values, lo), hi);
  const retT = constant(ret, values);
  const worst = maximum(square(sub(values, retT)), square(sub(clipped, retT)));
  const tokens = m.reduce((a, row) => a + count(row), 0);
  const loss = scale(sum(mul(worst, constant(m, values))), 0.5 / Math.max(1, tokens));
  const v = rowsOf(values);
  const frac = v.map((row, i) => row.map((x, j) => {
    const vc = Math.min(Math.max(x, old[i]![j]! - c), old[i]![j]! + c);
    return (vc - ret[i]![j]!) ** 2 > (x - ret[i]![j]!) ** 2 ? 1 : 0;
  }));
  return { loss, metrics: { 'val/clipfrac': maskedMean(frac, m) } };
}
