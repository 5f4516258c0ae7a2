// Advantages for policy-gradient RL as plain numbers (no autograd, nothing to differentiate): GRPO's group-scaled
// rewards, RLOO's leave-one-out baseline, PPO's per-token rewards and GAE. Matched to TRL 1.10.0.dev0 (July 2026).
import type { Tensor } from '../tensor/tensor.ts';

/** A (B, T) table of numbers: a tensor (read, never differentiated) or one array per row. */
export type Rows = Tensor | readonly ArrayLike<number>[];

/** The rows of a (B, T) table as plain arrays. */
export function rowsOf(x: Rows): number[][] {
  if (Array.isArray(x)) return x.map((r) => Array.from(r as ArrayLike<number>));
  const t = x as Tensor;
  if (t.rank !== 2) throw new Error(`expected a (B, T) tensor, got [${t.shape.join(', ')}]`);
  const v = t.toArray();
  const n = t.dim(1);
  return Array.from({ length: t.dim(0) }, (_, b) => v.slice(b * n, (b + 1) * n));
}

/**
 * torch.nanmean. The mean is taken as x₀ + mean(xᵢ − x₀) so that identical values give exactly their value: a group
 * whose rewards are all equal then gets advantages of exactly 0 (a plain sum/k can miss by an ulp, which the
 * division by std + 1e-4 = 1e-4 would blow up to ~1e-12 noise).
 */
export function nanMean(xs: readonly number[]): number {
  const ok = xs.filter((x) => !Number.isNaN(x));
  if (ok.length === 0) return NaN;
  const x0 = ok[0]!;
  return x0 + ok.reduce((a, x) => a + (x - x0), 0) / ok.length;
}

/** TRL's nanstd: unbiased (Bessel-corrected, like torch.std) over the non-NaN values; NaN with fewer than two. */
export function nanStd(xs: readonly number[]): number {
  const ok = xs.filter((x) => !Number.isNaN(x));
  if (ok.length < 2) return NaN;
  const m = nanMean(ok);
  return Math.sqrt((ok.reduce((a, x) => a + (x - m) ** 2, 0) / ok.length) * (ok.length / (ok.length - 1)));
}

/** torch.isclose(std, 0) with its default atol 1e-8 (NaN is never close). */
const isZeroStd = (s: number): boolean => Math.abs(s) <= 1e-8;

function groupsOf(rewards: readonly number[], groupSize: number): number[][] {
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new Error(`group size must be a positive integer, got ${groupSize}`);
  if (rewards.length % groupSize !== 0) throw new Error(`${rewards.length} rewards do not split into groups of ${groupSize}`);
  return Array.from({ length: rewards.length / groupSize }, (_, g) => rewards.slice(g * groupSize, (g + 1) * groupSize));
}

export interface RewardMetrics {
  /** Share of completions whose group's rewards have zero std (GRPO with scale 'batch': the batch's std). */
  frac_reward_zero_std: number;
  reward: number;
  reward_std: number;
}

export type RewardScale = 'group' | 'batch' | 'none';

/**
 * GRPO's advantages, as TRL's GRPOTrainer (scale_rewards, sum_then_normalize): rᵢ − mean of its group, divided by
 * std + 1e-4 where std is the group's unbiased std ('group'), the whole batch's ('batch', the mean stays per group),
 * or not at all ('none'). Groups of consecutive completions, groupSize each. A group whose rewards are all equal
 * gets advantage 0 (no special case: r − mean is 0) and counts in frac_reward_zero_std. A NaN reward marks an
 * unscorable completion: left out of the group's mean and std, its advantage is 0.
 */
export function groupAdvantages(rewards: readonly number[], groupSize: number, opts: { scale?: RewardScale } = {}): { advantages: number[]; metrics: RewardMetrics } {
  const scaleBy = opts.scale ?? 'group';
  const groups = groupsOf(rewards, groupSize);
  const batchStd = rewards.length > 1 ? nanStd(rewards) : 0;
  const advantages: number[] = [];
  let zeroStd = 0;
  for (const group of groups) {
    const mean = nanMean(group);
    // One completion per group has no spread (TRL uses zeros there rather than nanstd's NaN).
    const std = scaleBy === 'batch' ? batchStd : groupSize > 1 ? nanStd(group) : 0;
    if (isZeroStd(std)) zeroStd += group.length;
    for (const r of group) {
      const a = scaleBy === 'none' ? r - mean : (r - mean) / (std + 1e-4);
      advantages.push(Number.isNaN(a) ? 0 : a);
    }
  }
  return { advantages, metrics: { frac_reward_zero_std: zeroStd / Math.max(rewards.length, 1), reward: nanMean(rewards), reward_std: nanStd(rewards) } };
}

/** Per-token log-probs under the sampling policy and the reference, with the completion mask, each (B, T). */
export interface KlInputs {
  oldLogps: Rows;
  refLogps: Rows;
  mask: Rows;
}

/** Σ over completion tokens of (old − ref) per sequence (RLOO's first-order KL), and its mean per token. */
export function sequenceKl(k: KlInputs): { perSequence: number[]; perToken: number } {
  const [old, ref, mask] = [rowsOf(k.oldLogps), rowsOf(k.refLogps), rowsOf(k.mask)];
  let total = 0;
  let tokens = 0;
  const perSequence = old.map((row, b) =>
    row.reduce((acc, lp, t) => {
      const m = mask[b]![t]!;
      if (m === 0) return acc;
      tokens += m;
      const kl = (lp - ref[b]![t]!) * m;
      total += kl;
      return acc + kl;
    }, 0),
  );
  return { perSequence, perToken: total / Math.max(tokens, 1) };
}

export interface RlooAdvantageOptions {
  /** KL coefficient: each reward loses β·Σₜ(old − ref) before the baseline (TRL's default 0.05 needs `kl`). */
  beta?: number;
  kl?: KlInputs;
  /** TRL's normalize_advantages: (A − mean)/(std + 1e-4) over the batch. */
  normalize?: boolean;
  /** TRL's reward_clip_range, applied before the KL penalty. */
  clipRange?: readonly [number, number];
}

/**
 * RLOO's advantages, as TRL's RLOOTrainer: rewards (clipped, then less β·KL per sequence) minus the mean of the
 * other k − 1 rewards of the group; unscorable (NaN) completions are left out of their siblings' baselines and get 0.
 * frac_reward_zero_std counts groups (of the KL-adjusted rewards, as TRL logs it); `kl` is the per-token mean.
 */
export function rlooAdvantages(rewards: readonly number[], groupSize: number, opts: RlooAdvantageOptions = {}): { advantages: number[]; metrics: RewardMetrics & { kl?: number } } {
  const beta = opts.beta ?? 0;
  let adjusted = rewards.map((r) => (opts.clipRange === undefined ? r : Math.min(Math.max(r, opts.clipRange[0]), opts.clipRange[1])));
  let kl: number | undefined;
  if (beta !== 0) {
    if (opts.kl === undefined) throw new Error('rloo: beta > 0 needs the sampling and reference log-probs (kl)');
    const k = sequenceKl(opts.kl);
    if (k.perSequence.length !== rewards.length) throw new Error(`rloo: ${k.perSequence.length} KL rows for ${rewards.length} rewards`);
    adjusted = adjusted.map((r, i) => r - beta * k.perSequence[i]!);
    kl = k.perToken;
  }
  const groups = groupsOf(adjusted, groupSize);
  let advantages: number[] = [];
  let zeroStd = 0;
  for (const group of groups) {
    if (isZeroStd(groupSize > 1 ? nanStd(group) : 0)) zeroStd++;
    const scorable = group.filter((r) => !Number.isNaN(r));
    const total = scorable.reduce((a, r) => a + r, 0);
    // (Σ − rᵢ)/(n − 1): NaN for an unscorable rᵢ and for a lone scorable one (0/0); both become 0 below.
    for (const r of group) advantages.push(groupSize > 1 ? r - (total - r) / (scorable.length - 1) : 0);
  }
  if (opts.normalize) {
    const [m, s] = [nanMean(advantages), nanStd(advantages)];
    advantages = advantages.map((a) => (a - m) / (s + 1e-4));
  }
  advantages = advantages.map((a) => (Number.isNaN(a) ? 0 : a));
  const metrics: RewardMetrics & { kl?: number } = { frac_reward_zero_std: zeroStd / Math.max(groups.length, 1), reward: nanMean(rewards), reward_std: nanStd(rewards) };
  if (kl !== undefined) metrics.kl = kl;
  return { advantages, metrics };
}

export interface PpoRewardInputs {
  /** The reward model's score per sequence (B). */
  scores: readonly number[];
  /** Per-token log-probs of the sampling policy and of the reference, and the completion mask, each (B, T). */
  logps: Rows;
  refLogps: Rows;
  mask: Rows;
}

/**
 * PPO's per-token rewards, as TRL's PPOTrainer: −klCoef·KL on every completion token (k1: logp − ref; k3:
 * e^(ref−logp) − (ref − logp) − 1) plus the score on the last completion token of each row. (TRL puts the score one
 * slot past the last token, on the first padding position, and keeps a value there; here it lands on the token that
 * ended the sequence, so nothing outside the mask carries reward.) Padding gets 0.
 */
export function ppoRewards(inp: PpoRewardInputs, opts: { klCoef: number; klEstimator?: 'k1' | 'k3' }): { rewards: number[][]; metrics: Record<string, number> } {
  const [lp, ref, mask] = [rowsOf(inp.logps), rowsOf(inp.refLogps), rowsOf(inp.mask)];
  if (inp.scores.length !== lp.length) throw new Error(`ppo: ${inp.scores.length} scores for ${lp.length} sequences`);
  const k3 = opts.klEstimator === 'k3';
  let klSum = 0;
  const rewards = lp.map((row, b) => {
    const out = row.map((l, t) => {
      if (mask[b]![t]! === 0) return 0;
      const logr = ref[b]![t]! - l;
      const kl = k3 ? Math.expm1(logr) - logr : -logr;
      klSum += kl;
      return -opts.klCoef * kl;
    });
    const last = mask[b]!.findLastIndex((m) => m !== 0);
    if (last >= 0) out[last]! += inp.scores[b]!;
    return out;
  });
  const n = Math.max(lp.length, 1);
  const scoreMean = inp.scores.reduce((a, s) => a + s, 0) / n;
  return {
    rewards,
    metrics: { 'objective/kl': klSum / n, 'objective/non_score_reward': (-opts.klCoef * klSum) / n, 'objective/rlhf_reward': (-opts.klCoef * klSum) / n + scoreMean, 'objective/scores': scoreMean },
  };
}

/** TRL's masked_whiten: (x − mean)/√(var + 1e-8) over the masked entries, var unbiased; shiftMean false adds the mean back. */
export function maskedWhiten(x: readonly number[][], mask: readonly number[][], shiftMean = true): number[][] {
  const flat = x.flatMap((row, b) => row.filter((_, t) => mask[b]![t]! !== 0));
  if (flat.length < 2) throw new Error(`whitening needs at least two masked tokens, got ${flat.length}`);
  const mean = flat.reduce((a, v) => a + v, 0) / flat.length;
  const variance = (flat.reduce((a, v) => a + (v - mean) ** 2, 0) / flat.length) * (flat.length / (flat.length - 1));
  const inv = 1 / Math.sqrt(variance + 1e-8);
  return x.map((row) => row.map((v) => (v - mean) * inv + (shiftMean ? 0 : mean)));
}

export interface GaeOptions {
  gamma: number;
  lam: number;
  /** Whiten the advantages over the masked tokens (TRL always does). Default true. */
  whiten?: boolean;
}

/**
 * Generalised advantage estimation, as TRL's PPOTrainer: with rewards and values taken as 0 outside the mask,
 * δₜ = rₜ + γ·Vₜ₊₁ − Vₜ (V past the end = 0) and Aₜ = δₜ + γλ·Aₜ₊₁ from the last token back; returns = A + V (before
 * whitening). Advantages are then whitened over the masked tokens, and both are 0 on padding.
 */
export function gae(rewards: Rows, values: Rows, mask: Rows, opts: GaeOptions): { advantages: number[][]; returns: number[][] } {
  const [r, v, m] = [rowsOf(rewards), rowsOf(values), rowsOf(mask)];
  const { gamma, lam } = opts;
  const adv = r.map((row, b) => {
    const out = new Array<number>(row.length).fill(0);
    let last = 0;
    let nextValue = 0;
    for (let t = row.length - 1; t >= 0; t--) {
      const on = m[b]![t]! !== 0;
      const value = on ? v[b]![t]! : 0;
      last = (on ? row[t]! : 0) + gamma * nextValue - value + gamma * lam * last;
      out[t] = last;
      nextValue = value;
    }
    return out;
  });
  const returns = adv.map((row, b) => row.map((a, t) => (m[b]![t]! !== 0 ? a + v[b]![t]! : 0)));
  const white = opts.whiten === false ? adv : maskedWhiten(adv, m);
  return { advantages: white.map((row, b) => row.map((a, t) => (m[b]![t]! !== 0 ? a : 0))), returns };
}
