// Preference losses on per-sequence log-probabilities and rewards, each (B): DPO and its variants (TRL's sigmoid,
// robust, hinge, ipo, and the reference-free simpo), the reward model's Bradley–Terry loss, and KTO; with the
// metrics TRL logs under the same names. Built from autograd ops, so every gradient comes with them.
import { add, addScalar, logSigmoid, mul, relu, scale, sigmoid, square, sub } from '../tensor/ops/elementwise.ts';
import { tensor } from '../tensor/ops/create.ts';
import { mean, sum } from '../tensor/ops/reduce.ts';
import { cat } from '../tensor/ops/shape.ts';
import type { Tensor } from '../tensor/tensor.ts';

export type DpoLossType = 'sigmoid' | 'robust' | 'hinge' | 'ipo' | 'simpo';

export interface DpoOptions {
  loss: DpoLossType;
  /** β: the strength of the implicit KL penalty (the temperature of the implicit reward). */
  beta: number;
  /** sigmoid: share of pairs assumed mislabelled (conservative DPO); robust: the noise rate it corrects for. */
  labelSmoothing?: number;
  /** simpo: the target reward margin γ. */
  simpoGamma?: number;
}

/** TRL's DPO metrics, averaged over the batch. */
export interface PreferenceMetrics {
  'rewards/chosen': number;
  'rewards/rejected': number;
  'rewards/accuracies': number;
  'rewards/margins': number;
  'logps/chosen': number;
  'logps/rejected': number;
}

/** Sequence log-probabilities of the chosen and rejected answers (B), under the policy and the reference. */
export interface PairLogps {
  chosen: Tensor;
  rejected: Tensor;
  /** Absent for simpo, which needs no reference. */
  refChosen?: Tensor;
  refRejected?: Tensor;
}

const meanOf = (t: Tensor): number => t.toArray().reduce((a, b) => a + b, 0) / Math.max(t.size, 1);

function metrics(chosenRewards: Tensor, rejectedRewards: Tensor, logps: PairLogps): PreferenceMetrics {
  const c = chosenRewards.toArray();
  const r = rejectedRewards.toArray();
  return {
    'rewards/chosen': meanOf(chosenRewards),
    'rewards/rejected': meanOf(rejectedRewards),
    'rewards/accuracies': c.filter((v, i) => v > r[i]!).length / Math.max(c.length, 1),
    'rewards/margins': c.reduce((a, v, i) => a + v - r[i]!, 0) / Math.max(c.length, 1),
    'logps/chosen': meanOf(logps.chosen),
    'logps/rejected': meanOf(logps.rejected),
  };
}

/**
 * DPO loss (mean over pairs) as TRL's DPOTrainer computes it, with h = (π_c − π_r) − (ref_c − ref_r):
 * sigmoid −(1−ε)·logσ(βh) − ε·logσ(−βh); robust (−(1−ε)·logσ(βh) + ε·logσ(−βh))/(1−2ε); hinge relu(1 − βh);
 * ipo (h − 1/(2β))² (on length-averaged log-probs, which the caller passes); simpo −logσ(β(π_c − π_r) − γ) on
 * length-averaged log-probs, no reference. Rewards are β·(π − ref) (simpo: β·π).
 */
export function dpoLoss(logps: PairLogps, opts: DpoOptions): { loss: Tensor; metrics: PreferenceMetrics } {
  const { beta } = opts;
  const eps = opts.labelSmoothing ?? 0;
  const simpo = opts.loss === 'simpo';
  if (!simpo && (logps.refChosen === undefined || logps.refRejected === undefined)) throw new Error(`dpo loss '${opts.loss}' needs reference log-probs`);
  const chosenRatio = simpo ? logps.chosen : sub(logps.chosen, logps.refChosen!); // (B)
  const rejectedRatio = simpo ? logps.rejected : sub(logps.rejected, logps.refRejected!); // (B)
  const h = sub(chosenRatio, rejectedRatio); // (B)
  let losses: Tensor;
  switch (opts.loss) {
    case 'sigmoid':
      losses = sub(scale(logSigmoid(scale(h, beta)), -(1 - eps)), scale(logSigmoid(scale(h, -beta)), eps));
      break;
    case 'robust':
      losses = scale(add(scale(logSigmoid(scale(h, beta)), -(1 - eps)), scale(logSigmoid(scale(h, -beta)), eps)), 1 / (1 - 2 * eps));
      break;
    case 'hinge':
      losses = relu(addScalar(scale(h, -beta), 1));
      break;
    case 'ipo':
      losses = square(addScalar(h, -1 / (2 * beta)));
      break;
    case 'simpo':
      losses = scale(logSigmoid(addScalar(scale(h, beta), -(opts.simpoGamma ?? 0))), -1);
      break;
  }
  return { loss: mean(losses), metrics: metrics(scale(chosenRatio, beta), scale(rejectedRatio, beta), logps) };
}

export interface RewardLossOptions {
  /** A margin per pair (how much better the chosen answer is rated), subtracted inside the sigmoid. */
  margin?: ArrayLike<number>;
  /** TRL's center_rewards_coefficient: + c·mean((r⁺ + r⁻)²) keeps rewards centred on zero. */
  centerCoefficient?: number;
}

/** The reward model's Bradley–Terry loss, mean of −logσ(r⁺ − r⁻ − margin), with its accuracy and mean margin. */
export function rewardLoss(chosen: Tensor, rejected: Tensor, opts: RewardLossOptions = {}): { loss: Tensor; accuracy: number; margin: number } {
  let diff = sub(chosen, rejected); // (B)
  if (opts.margin !== undefined) diff = sub(diff, tensor(opts.margin, diff.shape, diff.dtype));
  let loss = scale(mean(logSigmoid(diff)), -1);
  if (opts.centerCoefficient !== undefined && opts.centerCoefficient > 0) loss = add(loss, scale(mean(square(add(chosen, rejected))), opts.centerCoefficient));
  const c = chosen.toArray();
  const r = rejected.toArray();
  return {
    loss,
    accuracy: c.filter((v, i) => v > r[i]!).length / Math.max(c.length, 1),
    margin: c.reduce((a, v, i) => a + v - r[i]!, 0) / Math.max(c.length, 1),
  };
}

export interface KtoOptions {
  beta: number;
  desirableWeight?: number;
  undesirableWeight?: number;
}

/** Unpaired feedback's sequence log-probabilities: desirable (thumbs up) and undesirable answers, policy and reference. */
export interface KtoLogps {
  desirable: Tensor;
  refDesirable: Tensor;
  undesirable: Tensor;
  refUndesirable: Tensor;
  /** Policy and reference log-probs of answers paired with other prompts: the KL reference point's estimate. */
  klPolicy: Tensor;
  klReference: Tensor;
}

/**
 * TRL's KTO loss: with z = max(0, mean(klPolicy − klReference)) held constant, desirable answers cost
 * w_d·(1 − σ(β(π − ref − z))) and undesirable ones w_u·(1 − σ(β(z − (π − ref)))), averaged over all answers.
 */
export function ktoLoss(logps: KtoLogps, opts: KtoOptions): { loss: Tensor; kl: number; metrics: { 'rewards/chosen': number; 'rewards/rejected': number } } {
  const { beta } = opts;
  const kl = Math.max(0, meanOf(logps.klPolicy) - meanOf(logps.klReference));
  const parts: Tensor[] = [];
  const up = sub(logps.desirable, logps.refDesirable); // (Bd)
  const down = sub(logps.undesirable, logps.refUndesirable); // (Bu)
  // 1 − σ(βx) = σ(−βx)
  if (up.size > 0) parts.push(scale(sigmoid(addScalar(scale(up, -beta), beta * kl)), opts.desirableWeight ?? 1));
  if (down.size > 0) parts.push(scale(sigmoid(addScalar(scale(down, beta), -beta * kl)), opts.undesirableWeight ?? 1));
  if (parts.length === 0) throw new Error('kto: no answers in the batch');
  const losses = parts.length === 1 ? parts[0]! : cat(parts, 0);
  return {
    loss: mean(losses),
    kl,
    metrics: { 'rewards/chosen': up.size > 0 ? beta * meanOf(up) : 0, 'rewards/rejected': down.size > 0 ? beta * meanOf(down) : 0 },
  };
}

/** The sequence log-probability (B): per-token log-probs (B, T) summed over a 0/1 answer mask (B, T), or averaged (SimPO, IPO). */
export function sequenceLogps(tokenLogps: Tensor, mask: Tensor, average = false): Tensor {
  const total = sum(mul(tokenLogps, mask), [1]); // (B)
  if (!average) return total;
  const counts = mask.toArray();
  const t = mask.dim(1);
  const inv = Array.from({ length: mask.dim(0) }, (_, b) => 1 / Math.max(1, counts.slice(b * t, (b + 1) * t).reduce((a, v) => a + v, 0)));
  return mul(total, tensor(inv, [inv.length], total.dtype));
}
