// Preference losses against an independent float64 implementation written here from the papers' and TRL's
// formulas (values and metrics), and their gradients against finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { dpoLoss, ktoLoss, rewardLoss, sequenceLogps, type DpoLossType } from '../src/train/preference-loss.ts';
import { gradcheck, leaf } from './helpers/gradcheck.ts';

const logsig = (x: number): number => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));
const sig = (x: number): number => 1 / (1 + Math.exp(-x));
const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

// Log-probs of 4 pairs: policy and reference, chosen and rejected (the second pair is ranked wrongly by the policy).
const pc = [-12.5, -30.1, -8.2, -20.0];
const pr = [-14.0, -28.7, -9.9, -26.5];
const rc = [-13.1, -29.5, -8.6, -21.2];
const rr = [-13.4, -29.0, -9.0, -24.8];
const f64 = (v: number[]) => T.tensor(v, [v.length], 'f64');

/** The per-pair loss by its definition, on h = (pc − pr) − (rc − rr) (simpo: h = pc − pr). */
function expected(type: DpoLossType, beta: number, eps: number, gamma: number): number[] {
  return pc.map((_, i) => {
    const h = type === 'simpo' ? pc[i]! - pr[i]! : pc[i]! - pr[i]! - (rc[i]! - rr[i]!);
    switch (type) {
      case 'sigmoid': return -(1 - eps) * logsig(beta * h) - eps * logsig(-beta * h);
      case 'robust': return (-(1 - eps) * logsig(beta * h) + eps * logsig(-beta * h)) / (1 - 2 * eps);
      case 'hinge': return Math.max(0, 1 - beta * h);
      case 'ipo': return (h - 1 / (2 * beta)) ** 2;
      case 'simpo': return -logsig(beta * h - gamma);
    }
  });
}

for (const type of ['sigmoid', 'robust', 'hinge', 'ipo', 'simpo'] as DpoLossType[]) {
  test(`DPO ${type}: value and TRL metrics as defined, gradient by finite differences`, () => {
    const opts = { loss: type, beta: 0.3, labelSmoothing: type === 'sigmoid' || type === 'robust' ? 0.1 : 0, simpoGamma: 0.5 };
    const refs = type === 'simpo' ? {} : { refChosen: f64(rc), refRejected: f64(rr) };
    const { loss, metrics } = dpoLoss({ chosen: f64(pc), rejected: f64(pr), ...refs }, opts);
    assert.ok(Math.abs(loss.item() - avg(expected(type, 0.3, opts.labelSmoothing, 0.5))) < 1e-12, `${type}: ${loss.item()}`);
    const cr = pc.map((v, i) => 0.3 * (v - (type === 'simpo' ? 0 : rc[i]!)));
    const rw = pr.map((v, i) => 0.3 * (v - (type === 'simpo' ? 0 : rr[i]!)));
    assert.ok(Math.abs(metrics['rewards/chosen'] - avg(cr)) < 1e-12);
    assert.ok(Math.abs(metrics['rewards/rejected'] - avg(rw)) < 1e-12);
    assert.ok(Math.abs(metrics['rewards/margins'] - avg(cr.map((c, i) => c - rw[i]!))) < 1e-12);
    assert.equal(metrics['rewards/accuracies'], cr.filter((c, i) => c > rw[i]!).length / 4);
    assert.ok(Math.abs(metrics['logps/chosen'] - avg(pc)) < 1e-12);
    const rng = new T.Rng(3);
    const [c, r] = [leaf([4], rng, -3, 0), leaf([4], rng, -3, 0)];
    gradcheck(([a, b]) => dpoLoss({ chosen: a!, rejected: b!, ...(type === 'simpo' ? {} : { refChosen: f64(rc.map((v) => v / 10)), refRejected: f64(rr.map((v) => v / 10)) }) }, opts).loss, [c, r]);
  });
}

test('DPO without reference log-probs is refused, except for simpo', () => {
  assert.throws(() => dpoLoss({ chosen: f64(pc), rejected: f64(pr) }, { loss: 'sigmoid', beta: 0.1 }), /needs reference log-probs/);
});

test('reward model: Bradley–Terry with a margin per pair and reward centring; accuracy and mean margin', () => {
  const rc2 = [1.2, -0.3, 0.8, 2.0];
  const rr2 = [0.4, 0.1, -0.5, 1.9];
  const margin = [0.5, 0, 1, 0.2];
  const { loss, accuracy, margin: m } = rewardLoss(f64(rc2), f64(rr2), { margin, centerCoefficient: 0.01 });
  const want = avg(rc2.map((c, i) => -logsig(c - rr2[i]! - margin[i]!))) + 0.01 * avg(rc2.map((c, i) => (c + rr2[i]!) ** 2));
  assert.ok(Math.abs(loss.item() - want) < 1e-12);
  assert.equal(accuracy, 0.75);
  assert.ok(Math.abs(m - avg(rc2.map((c, i) => c - rr2[i]!))) < 1e-12);
  const rng = new T.Rng(5);
  gradcheck(([a, b]) => rewardLoss(a!, b!, { margin, centerCoefficient: 0.01 }).loss, [leaf([4], rng, -2, 2), leaf([4], rng, -2, 2)]);
});

test('KTO: desirable and undesirable answers against a KL reference point held constant, weighted', () => {
  const up = [-10.0, -7.5, -12.0];
  const refUp = [-10.8, -7.0, -12.5];
  const down = [-9.0, -15.0];
  const refDown = [-8.2, -15.5];
  const klPolicy = [-20.0, -18.0, -25.0];
  const klRef = [-20.6, -18.1, -25.2];
  const beta = 0.2;
  const z = Math.max(0, avg(klPolicy) - avg(klRef));
  const want = avg([...up.map((v, i) => 1.0 * (1 - sig(beta * (v - refUp[i]! - z)))), ...down.map((v, i) => 1.33 * (1 - sig(beta * (z - (v - refDown[i]!)))))]);
  const logps = { desirable: f64(up), refDesirable: f64(refUp), undesirable: f64(down), refUndesirable: f64(refDown), klPolicy: f64(klPolicy), klReference: f64(klRef) };
  const r = ktoLoss(logps, { beta, desirableWeight: 1, undesirableWeight: 1.33 });
  assert.ok(Math.abs(r.kl - z) < 1e-12 && z > 0);
  assert.ok(Math.abs(r.loss.item() - want) < 1e-12, `${r.loss.item()} vs ${want}`);
  assert.ok(Math.abs(r.metrics['rewards/chosen'] - beta * avg(up.map((v, i) => v - refUp[i]!))) < 1e-12);
  // The reference point is a constant: the gradient flows through the answers only.
  const rng = new T.Rng(9);
  gradcheck(([a, b]) => ktoLoss({ ...logps, desirable: a!, undesirable: b! }, { beta, undesirableWeight: 1.33 }).loss, [leaf([3], rng, -12, -6), leaf([2], rng, -16, -8)]);
  const negativeKl = ktoLoss({ ...logps, klPolicy: f64(klRef), klReference: f64(klPolicy) }, { beta });
  assert.equal(negativeKl.kl, 0, 'the KL estimate is clamped at zero');
});

test('sequence log-probs: answer tokens summed, or averaged over their count', () => {
  const lp = T.tensor([-1, -2, -3, -4, -5, -6], [2, 3], 'f64');
  const mask = T.tensor([0, 1, 1, 1, 0, 0], [2, 3], 'f64');
  assert.deepEqual(sequenceLogps(lp, mask).toArray(), [-5, -4]);
  assert.deepEqual(sequenceLogps(lp, mask, true).toArray(), [-2.5, -4]);
  const rng = new T.Rng(1);
  gradcheck(([x]) => sequenceLogps(x!, mask, true), [leaf([2, 3], rng, -3, 0)]);
});
