// Policy-gradient losses and advantages (GRPO, RLOO, PPO with GAE) against float64 re-implementations written here
// from TRL's formulas, with gradients by finite differences, clipping on and off, masks and zero-std groups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { gae, groupAdvantages, grpoLoss, ppoLoss, ppoRewards, rlooAdvantages, rlooLoss, valueLoss, type GrpoLossType } from '../src/train/rl-loss.ts';
import { gradcheck } from './helpers/gradcheck.ts';

const close = (a: number, b: number, tol = 1e-12, what = ''): void => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what} ${a} vs ${b}`);
const closeAll = (a: number[], b: number[], tol = 1e-12, what = ''): void => {
  assert.equal(a.length, b.length, what);
  a.forEach((v, i) => close(v, b[i]!, tol, `${what}[${i}]`));
};
const f64 = (rows: number[][]): T.Tensor => T.tensor(rows.flat(), [rows.length, rows[0]!.length], 'f64');
const param = (rows: number[][]): T.Tensor => f64(rows).requireGrad();
const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const stdU = (xs: number[]): number => Math.sqrt(xs.reduce((a, x) => a + (x - avg(xs)) ** 2, 0) / (xs.length - 1));
const clip = (x: number, lo: number, hi: number): number => Math.min(Math.max(x, lo), hi);

/** The gradient of a scalar loss with respect to x. */
function gradOf(f: (x: T.Tensor) => T.Tensor, rows: number[][]): number[] {
  const x = param(rows);
  T.backward(f(x));
  return x.grad!.toArray();
}

// ---------------------------------------------------------------------------------------------- advantages

test('GRPO advantages: (r − group mean)/(group std + 1e-4), unbiased std; equal rewards give exactly 0 and are counted', () => {
  const g1 = [1, 0, 1, 0.5];
  const g2 = [0.1, 0.1, 0.1, 0.1]; // all equal: no signal
  const g3 = [3, -1, 2, 0];
  const { advantages, metrics } = groupAdvantages([...g1, ...g2, ...g3], 4);
  const want = [g1, g2, g3].flatMap((g) => g.map((r) => (r - avg(g)) / (stdU(g) + 1e-4)));
  closeAll(advantages.slice(0, 4), want.slice(0, 4));
  closeAll(advantages.slice(8), want.slice(8));
  assert.deepEqual(advantages.slice(4, 8), [0, 0, 0, 0], 'a zero-std group has exactly zero advantages');
  close(advantages[0]!, 0.375 / (Math.sqrt(0.6875 / 3) + 1e-4)); // by hand: mean 0.625, Σd² = 0.6875
  assert.equal(metrics.frac_reward_zero_std, 1 / 3);
  close(metrics.reward, avg([...g1, ...g2, ...g3]));
  close(metrics.reward_std, stdU([...g1, ...g2, ...g3]));
});

test('GRPO advantages: batch scale keeps group means with the batch std; none only centres; NaN rewards get 0', () => {
  const r = [1, 0, 1, 0.5, 2, 2, 2, 2];
  const batch = groupAdvantages(r, 4, { scale: 'batch' });
  closeAll(batch.advantages, r.map((x, i) => (x - avg(r.slice(i < 4 ? 0 : 4, i < 4 ? 4 : 8))) / (stdU(r) + 1e-4)));
  assert.equal(batch.metrics.frac_reward_zero_std, 0, 'batch scale judges the batch std, as TRL does');
  const none = groupAdvantages(r, 4, { scale: 'none' });
  closeAll(none.advantages, [0.375, -0.625, 0.375, -0.125, 0, 0, 0, 0]);
  assert.equal(none.metrics.frac_reward_zero_std, 0.5, 'none still logs the group std');
  // An unscorable completion (NaN) is left out of its group's mean and std and gets no advantage.
  const nan = groupAdvantages([1, NaN, 3, 2], 4);
  closeAll(nan.advantages, [-1 / 1.0001, 0, 1 / 1.0001, 0]);
  assert.deepEqual(groupAdvantages([0.3, 0.7], 1).advantages, [0, 0]);
  assert.equal(groupAdvantages([0.3, 0.7], 1).metrics.frac_reward_zero_std, 1);
  assert.throws(() => groupAdvantages([1, 2, 3], 2), /do not split into groups/);
});

test('RLOO advantages: rᵢ − mean of the other k − 1; KL in the reward; normalisation; unscorable rows', () => {
  const r = [1, 0, 1, 0.5, 4, 4, 4, 4];
  const plain = rlooAdvantages(r, 4);
  // By hand: Σ = 2.5, so 1 − 1.5/3, 0 − 2.5/3, 1 − 1.5/3, 0.5 − 2/3.
  closeAll(plain.advantages, [0.5, -5 / 6, 0.5, -1 / 6, 0, 0, 0, 0]);
  assert.equal(plain.metrics.frac_reward_zero_std, 0.5);
  // β·Σ(old − ref) over completion tokens comes off each reward before the baseline.
  const old = [[-1, -2, 9], [-0.5, -0.5, -0.5], [-1, -1, 9], [-3, 0, 0], [-1, -1, -1], [-2, -2, -2], [-1, 0, 0], [-1, -1, -1]];
  const ref = [[-1.5, -1, 0], [-0.5, -1, -1], [-1, -2, 0], [-2, 0, 0], [-1, -1, -1], [-1, -2, -2], [-1, 0, 0], [-2, -2, -2]];
  const mask = [[1, 1, 0], [1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 1, 1], [1, 0, 0], [1, 1, 1]];
  const kl = old.map((row, b) => row.reduce((a, v, t) => a + (v - ref[b]![t]!) * mask[b]![t]!, 0));
  const adj = r.map((x, i) => x - 0.1 * kl[i]!);
  const loo = (xs: number[]): number[] => xs.map((x, i) => x - (xs.reduce((a, y) => a + y, 0) - x) / (xs.length - 1));
  const withKl = rlooAdvantages(r, 4, { beta: 0.1, kl: { oldLogps: old, refLogps: ref, mask } });
  closeAll(withKl.advantages, [...loo(adj.slice(0, 4)), ...loo(adj.slice(4))]);
  const tokens = mask.flat().reduce((a, v) => a + v, 0);
  close(withKl.metrics.kl!, kl.reduce((a, v) => a + v, 0) / tokens);
  assert.equal(withKl.metrics.frac_reward_zero_std, 0, 'the KL-adjusted rewards of group 2 differ');
  const a = [...loo(r.slice(0, 4)), ...loo(r.slice(4))];
  closeAll(rlooAdvantages(r, 4, { normalize: true }).advantages, a.map((x) => (x - avg(a)) / (stdU(a) + 1e-4)));
  // NaN: excluded from its siblings' baselines (they average the other scorable ones) and given 0.
  closeAll(rlooAdvantages([1, NaN, 3, 2], 4).advantages, [1 - 2.5, 0, 3 - 1.5, 2 - 2]);
  assert.throws(() => rlooAdvantages(r, 4, { beta: 0.1 }), /needs the sampling and reference log-probs/);
});

// -------------------------------------------------------------------------------------------------- GRPO

// Three completions of up to four tokens; log-ratios chosen to land inside, above and below the clip range
// (εlow 0.2 → 0.8, εhigh 0.28 → 1.28), each well away from the boundaries for finite differences.
const mask = [[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]];
const old = [[-1.2, -0.7, -2.0, -0.3], [-0.9, -1.5, -0.4, -1.1], [-2.2, -0.6, -1.0, -1.3]];
const shift = [[0.05, 0.4, -0.4, 0.3], [0.4, -0.4, -0.1, 0.02], [0.1, 0.5, -0.2, 0.7]];
const lp = old.map((row, b) => row.map((v, t) => v + shift[b]![t]!));
const ref = [[-1.0, -0.9, -1.6, -0.2], [-1.2, -1.0, -0.5, -0.8], [-2.0, -0.2, -1.1, -1.0]];
const adv = [1.2, -0.7, 0.3];
const eps = { epsilonLow: 0.2, epsilonHigh: 0.28 };

/** TRL's GRPO loss, token by token in float64. */
function grpoExpected(logp: number[][], type: GrpoLossType, beta: number, maxLen = 6): number {
  const per = logp.map((row, b) =>
    row.map((l, t) => {
      const ratio = Math.exp(l - old[b]![t]!);
      const d = ref[b]![t]! - l;
      return -Math.min(ratio * adv[b]!, clip(ratio, 0.8, 1.28) * adv[b]!) + beta * (Math.exp(d) - d - 1);
    }),
  );
  const sums = per.map((row, b) => row.reduce((a, v, t) => a + v * mask[b]![t]!, 0));
  const counts = mask.map((row) => row.reduce((a, v) => a + v, 0));
  const total = sums.reduce((a, v) => a + v, 0);
  const tokens = counts.reduce((a, v) => a + v, 0);
  switch (type) {
    case 'grpo': return avg(sums.map((s, b) => s / counts[b]!));
    case 'bnpo': return total / tokens;
    case 'dr_grpo': return total / (3 * maxLen);
    case 'dapo': return total / 20;
  }
}

for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as GrpoLossType[]) {
  test(`GRPO ${lossType}: value as TRL aggregates it, gradient by finite differences`, () => {
    const opts = { ...eps, lossType, beta: 0.04, maxCompletionLength: 6, numItemsInBatch: 20 };
    const run = (x: T.Tensor) => grpoLoss({ logps: x, oldLogps: old, refLogps: ref, advantages: adv, mask }, opts);
    close(run(f64(lp)).loss.item(), grpoExpected(lp, lossType, 0.04), 1e-12, lossType);
    gradcheck(([x]) => run(x!).loss, [param(lp)]);
  });
}

test('GRPO metrics: TRL clip ratios (low, high, region, per-sequence min/max) and the k3 KL', () => {
  const { metrics } = grpoLoss({ logps: f64(lp), oldLogps: old, refLogps: ref, advantages: adv, mask }, { ...eps, lossType: 'grpo', beta: 0.04 });
  // Row 0 (A > 0): token 1 above 1.28 → high. Row 1 (A < 0): token 1 below 0.8 → low; token 0 above but A < 0: not
  // clipped. Row 2 (A > 0): token 1 above → high. Token 2 of row 0 is below 0.8 with A > 0: not clipped.
  close(metrics['clip_ratio/high_mean']!, 2 / 9);
  close(metrics['clip_ratio/low_mean']!, 1 / 9);
  close(metrics['clip_ratio/region_mean']!, 3 / 9);
  close(metrics['clip_ratio/low_min']!, 0);
  close(metrics['clip_ratio/high_max']!, 1 / 2);
  let kl = 0;
  mask.forEach((row, b) => row.forEach((m, t) => m && (kl += Math.exp(ref[b]![t]! - lp[b]![t]!) - (ref[b]![t]! - lp[b]![t]!) - 1)));
  close(metrics.kl!, kl / 9);
});

test('GRPO clipping: a clipped token gets no policy gradient; an unclipped one gets −A·ratio/n', () => {
  const g = gradOf((x) => grpoLoss({ logps: x, oldLogps: old, advantages: adv, mask }, { ...eps, lossType: 'bnpo' }).loss, lp);
  const at = (b: number, t: number): number => g[b * 4 + t]!;
  assert.ok(at(0, 1) === 0, 'A > 0, ratio above 1 + εhigh: clipped');
  assert.ok(at(1, 1) === 0, 'A < 0, ratio below 1 − εlow: clipped');
  assert.ok(at(2, 1) === 0);
  close(at(0, 2), (-adv[0]! * Math.exp(-0.4)) / 9, 1e-12, 'A > 0, ratio low: not clipped');
  close(at(1, 0), (-adv[1]! * Math.exp(0.4)) / 9, 1e-12, 'A < 0, ratio high: not clipped');
  close(at(0, 0), (-adv[0]! * Math.exp(0.05)) / 9, 1e-12, 'inside the range');
  assert.ok(at(0, 3) === 0, 'padding');
});

test('GRPO KL: exactly zero when the policy is the reference (value, metric and gradient)', () => {
  const opts = { ...eps, lossType: 'grpo' as const };
  const withKl = grpoLoss({ logps: f64(lp), oldLogps: old, refLogps: lp, advantages: adv, mask }, { ...opts, beta: 0.5 });
  const without = grpoLoss({ logps: f64(lp), oldLogps: old, advantages: adv, mask }, opts);
  assert.equal(withKl.metrics.kl, 0);
  assert.equal(withKl.loss.item(), without.loss.item());
  const g1 = gradOf((x) => grpoLoss({ logps: x, oldLogps: old, refLogps: lp, advantages: adv, mask }, { ...opts, beta: 0.5 }).loss, lp);
  assert.deepEqual(g1, gradOf((x) => grpoLoss({ logps: x, oldLogps: old, advantages: adv, mask }, opts).loss, lp));
  // And with β > 0 and a different reference, the KL term does move the loss.
  assert.ok(grpoLoss({ logps: f64(lp), oldLogps: old, refLogps: ref, advantages: adv, mask }, { ...opts, beta: 0.5 }).loss.item() > without.loss.item());
  assert.throws(() => grpoLoss({ logps: f64(lp), advantages: adv, mask }, { ...opts, beta: 0.1 }), /needs reference log-probs/);
});

test('GRPO masks: padding (extra columns, garbage values) changes neither the loss nor the gradient', () => {
  const pad = (rows: number[][], v: number): number[][] => rows.map((r, b) => [...r.map((x, t) => (mask[b]![t]! ? x : v)), v, v]);
  const wide = pad(mask, 0);
  for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as GrpoLossType[]) {
    const opts = { ...eps, lossType, beta: 0.1, maxCompletionLength: 6 };
    const run = (x: T.Tensor, o: number[][], r: number[][], m: number[][]) => grpoLoss({ logps: x, oldLogps: o, refLogps: r, advantages: adv, mask: m }, opts);
    const a = run(f64(lp), old, ref, mask);
    // Huge log-ratios on padding (e^1100 = ∞) would turn into NaN if they were not masked before the exp.
    const b = run(f64(pad(lp, -800)), pad(old, 400), pad(ref, 300), wide);
    close(b.loss.item(), a.loss.item(), 1e-14, lossType);
    for (const k of Object.keys(a.metrics)) close(b.metrics[k]!, a.metrics[k]!, 1e-14, k);
    const ga = gradOf((x) => run(x, old, ref, mask).loss, lp);
    const gb = gradOf((x) => run(x, pad(old, 400), pad(ref, 300), wide).loss, pad(lp, -800));
    closeAll(gb.filter((_, i) => wide[Math.floor(i / 6)]![i % 6]), ga.filter((_, i) => mask[Math.floor(i / 4)]![i % 4]), 1e-14);
    assert.ok(gb.every((g, i) => wide[Math.floor(i / 6)]![i % 6] || g === 0), 'no gradient reaches padding');
  }
});

test('GRPO on-policy (no oldLogps): ratio 1, loss −mean A per token, gradient as with old = logps held constant', () => {
  const r = grpoLoss({ logps: f64(lp), advantages: adv, mask }, { ...eps, lossType: 'grpo' });
  close(r.loss.item(), -avg(adv));
  assert.equal(r.metrics['clip_ratio/region_mean'], 0);
  const g = gradOf((x) => grpoLoss({ logps: x, advantages: adv, mask }, { ...eps, lossType: 'grpo' }).loss, lp);
  closeAll(g, gradOf((x) => grpoLoss({ logps: x, oldLogps: lp, advantages: adv, mask }, { ...eps, lossType: 'grpo' }).loss, lp));
});

test('GRPO in float32 on the default backend agrees with float64', () => {
  const opts = { ...eps, lossType: 'grpo' as const, beta: 0.04 };
  const a = grpoLoss({ logps: T.tensor(lp.flat(), [3, 4], 'f32'), oldLogps: old, refLogps: ref, advantages: adv, mask }, opts).loss.item();
  close(a, grpoExpected(lp, 'grpo', 0.04), 1e-5);
});

// -------------------------------------------------------------------------------------------------- RLOO

test('RLOO: sequence-level clipped ratio of summed log-probs, mean over sequences; clip metrics per sequence', () => {
  // Sequence log-ratios Σ shift·mask: row 0 = 0.05, row 1 = −0.08 (inside), row 2 = 0.6 (above 1.28).
  const shift2 = [[0.05, 0.2, -0.2, 9], [0.4, -0.4, -0.1, 0.02], [0.1, 0.5, 5, -5]];
  const lp2 = old.map((row, b) => row.map((v, t) => v + shift2[b]![t]!));
  const adv2 = [0.9, -1.1, 0.4];
  const expected = (x: number[][]): number =>
    avg(x.map((row, b) => {
      const ratio = Math.exp(row.reduce((a, v, t) => a + (v - old[b]![t]!) * mask[b]![t]!, 0));
      return -Math.min(ratio * adv2[b]!, clip(ratio, 0.8, 1.28) * adv2[b]!);
    }));
  const run = (x: T.Tensor, o = old, m = mask) => rlooLoss({ logps: x, oldLogps: o, advantages: adv2, mask: m }, eps);
  const r = run(f64(lp2));
  close(r.loss.item(), expected(lp2));
  close(r.metrics['clip_ratio/high_mean']!, 1 / 3);
  assert.equal(r.metrics['clip_ratio/low_mean'], 0);
  assert.equal(r.metrics['clip_ratio/high_max'], 1);
  close(r.metrics['clip_ratio/region_mean']!, 1 / 3);
  gradcheck(([x]) => run(x!).loss, [param(lp2)]);
  // The clipped sequence gets no gradient at all; padding gets none either.
  const g = gradOf((x) => run(x).loss, lp2);
  assert.ok([...g.slice(8, 12), g[3]].every((v) => v === 0));
  close(g[0]!, (-adv2[0]! * Math.exp(0.05)) / 3);
  // Padding values never enter the sequence sums.
  const garbage = lp2.map((row, b) => row.map((v, t) => (mask[b]![t]! ? v : -77)));
  close(run(f64(garbage)).loss.item(), r.loss.item(), 1e-14);
});

// --------------------------------------------------------------------------------------------------- PPO

test('GAE: the recursion unrolled by hand, returns = A + V, whitening over masked tokens, padding inert', () => {
  const rewards = [[0.1, -0.2, 1.0, 0], [0.0, 0.3, -0.1, 0.5]];
  const values = [[0.5, 0.4, 0.9, 0], [0.2, 0.1, 0.3, 0.6]];
  const m = [[1, 1, 1, 0], [1, 1, 1, 1]];
  const [g, l] = [0.9, 0.8];
  const [r0, v0, r1, v1] = [rewards[0]!, values[0]!, rewards[1]!, values[1]!];
  const a02 = r0[2]! - v0[2]!;
  const a01 = r0[1]! + g * v0[2]! - v0[1]! + g * l * a02;
  const a00 = r0[0]! + g * v0[1]! - v0[0]! + g * l * a01;
  const a13 = r1[3]! - v1[3]!;
  const a12 = r1[2]! + g * v1[3]! - v1[2]! + g * l * a13;
  const a11 = r1[1]! + g * v1[2]! - v1[1]! + g * l * a12;
  const a10 = r1[0]! + g * v1[1]! - v1[0]! + g * l * a11;
  const raw = [[a00, a01, a02, 0], [a10, a11, a12, a13]];
  const plain = gae(rewards, values, m, { gamma: g, lam: l, whiten: false });
  closeAll(plain.advantages.flat(), raw.flat());
  closeAll(plain.returns.flat(), [a00 + v0[0]!, a01 + v0[1]!, a02 + v0[2]!, 0, a10 + v1[0]!, a11 + v1[1]!, a12 + v1[2]!, a13 + v1[3]!]);
  const live = [a00, a01, a02, a10, a11, a12, a13];
  const white = gae(rewards, values, m, { gamma: g, lam: l });
  const s = Math.sqrt(stdU(live) ** 2 + 1e-8);
  closeAll(white.advantages.flat(), raw.flat().map((a, i) => (i === 3 ? 0 : (a - avg(live)) / s)));
  closeAll(white.returns.flat(), plain.returns.flat());
  // Garbage in the padding slot and an extra padding column change nothing.
  const garbage = gae([[0.1, -0.2, 1.0, 7, 7], [0.0, 0.3, -0.1, 0.5, 7]], [[0.5, 0.4, 0.9, -3, -3], [0.2, 0.1, 0.3, 0.6, -3]], [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], { gamma: g, lam: l });
  closeAll(garbage.advantages.flatMap((r) => r.slice(0, 4)), white.advantages.flat());
  closeAll(garbage.returns.flatMap((r) => r.slice(0, 4)), white.returns.flat());
  assert.deepEqual([garbage.advantages[0]![3], garbage.advantages[0]![4], garbage.returns[1]![4]], [0, 0, 0]);
});

test('PPO rewards: −klCoef·KL per completion token (k1 or k3) plus the score on the last token', () => {
  const logps = [[-1.0, -2.0, -0.5], [-0.3, -0.4, 9]];
  const refs = [[-1.5, -1.0, -0.5], [-0.2, -0.9, 9]];
  const m = [[1, 1, 1], [1, 1, 0]];
  const k1 = ppoRewards({ scores: [2, -1], logps, refLogps: refs, mask: m }, { klCoef: 0.1 });
  closeAll(k1.rewards.flat(), [-0.1 * 0.5, -0.1 * -1.0, 2, -0.1 * -0.1, -0.1 * 0.5 - 1, 0]);
  close(k1.metrics['objective/kl']!, (0.5 - 1 + 0 + -0.1 + 0.5) / 2);
  close(k1.metrics['objective/rlhf_reward']!, -0.1 * (-0.1 / 2) + 0.5);
  const k3 = ppoRewards({ scores: [0, 0], logps, refLogps: refs, mask: m }, { klCoef: 1, klEstimator: 'k3' });
  const k3of = (l: number, r: number): number => Math.exp(r - l) - (r - l) - 1;
  closeAll(k3.rewards.flat(), [-k3of(-1, -1.5), -k3of(-2, -1), -0, -k3of(-0.3, -0.2), -k3of(-0.4, -0.9), 0]);
});

test('PPO policy loss: masked mean of max(−A·ratio, −A·clip(ratio)), clipfrac, approxkl, gradient', () => {
  // (0, 1): ratio above 1.2 with A > 0 and (1, 1): below 0.8 with A < 0 are clipped; (0, 2), (1, 0), (2, 1) are not.
  const a = [[0.8, 0.5, 1.1, 0], [-1.2, -0.3, 0.6, -0.4], [0.2, -0.9, 0, 0]];
  const run = (x: T.Tensor, o = old, m = mask) => ppoLoss({ logps: x, oldLogps: o, advantages: a, mask: m }, { clip: 0.2 });
  let [sum, n, clipped, kl] = [0, 0, 0, 0];
  lp.forEach((row, b) => row.forEach((l, t) => {
    if (!mask[b]![t]) return;
    const d = l - old[b]![t]!;
    const ratio = Math.exp(d);
    const [p1, p2] = [-a[b]![t]! * ratio, -a[b]![t]! * clip(ratio, 0.8, 1.2)];
    sum += Math.max(p1, p2);
    clipped += p2 > p1 ? 1 : 0;
    kl += d * d;
    n++;
  }));
  const r = run(f64(lp));
  close(r.loss.item(), sum / n);
  close(r.metrics['policy/clipfrac']!, clipped / n);
  assert.equal(clipped, 2);
  close(r.metrics.approxkl!, (0.5 * kl) / n);
  gradcheck(([x]) => run(x!).loss, [param(lp)]);
  const garbage = lp.map((row, b) => row.map((v, t) => (mask[b]![t]! ? v : 300)));
  close(run(f64(garbage)).loss.item(), r.loss.item(), 1e-14);
});

test('PPO value loss: ½·masked mean of max((v − R)², (clip(v, old ± c) − R)²), clipfrac, gradient', () => {
  const oldV = [[0.5, 0.4, 0.9, 0], [0.2, 0.1, 0.3, 0.6], [1.0, -0.5, 0, 0]];
  const v = [[0.55, 0.9, 0.5, 0], [0.25, -0.3, 0.35, 1.2], [1.05, -0.45, 0, 0]]; // some moved by more than c = 0.2
  const ret = [[0.6, 1.0, 0.2, 0], [0.0, 0.2, 0.4, 0.7], [2.0, -1.0, 0, 0]];
  const run = (x: T.Tensor) => valueLoss({ values: x, oldValues: oldV, returns: ret, mask }, { clipValue: 0.2 });
  let [sum, n, clipped] = [0, 0, 0];
  v.forEach((row, b) => row.forEach((x, t) => {
    if (!mask[b]![t]) return;
    const vc = clip(x, oldV[b]![t]! - 0.2, oldV[b]![t]! + 0.2);
    const [l1, l2] = [(x - ret[b]![t]!) ** 2, (vc - ret[b]![t]!) ** 2];
    sum += Math.max(l1, l2);
    clipped += l2 > l1 ? 1 : 0;
    n++;
  }));
  const r = run(f64(v));
  close(r.loss.item(), (0.5 * sum) / n);
  close(r.metrics['val/clipfrac']!, clipped / n);
  assert.ok(clipped > 0 && clipped < n, 'both cases present');
  gradcheck(([x]) => run(x!).loss, [param(v)]);
  const garbage = v.map((row, b) => row.map((x, t) => (mask[b]![t]! ? x : 50)));
  close(run(f64(garbage)).loss.item(), r.loss.item(), 1e-14);
});
