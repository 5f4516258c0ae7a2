// The training loop every recipe shares (SFT, reward, DPO, RL differ only in the loss and the batches):
// AdamW with a schedule, gradient accumulation and clipping, periodic holdout evaluation, early stopping,
// a NaN/inf guard, JSONL metrics, atomic checkpoints with exact resume, and Ctrl-C that saves and stops.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { AdamW } from '../optim/adamw.ts';
import { clipGradNorm } from '../optim/clip.ts';
import { lrAt, type ScheduleKind } from '../optim/schedule.ts';
import { backward } from '../tensor/autograd.ts';
import { scale } from '../tensor/ops/elementwise.ts';
import type { Rng } from '../tensor/random.ts';
import { keep, tidy, Tensor } from '../tensor/tensor.ts';
import { poolStats, resetPoolPeaks } from '../tensor/pool.ts';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint-io.ts';

/** Where batches come from; its position is saved in checkpoints so a resumed run sees the same data. */
export interface BatchSource<B> {
  /** The next batch; a promise when making it waits on something (RL's rollouts and reward functions). */
  next(): B | Promise<B>;
  state(): unknown;
  restore(state: unknown): void;
}

export interface TrainOptions<B> {
  /** Trainable parameters by name (names key the checkpoint). */
  params: Map<string, Tensor>;
  /**
   * Mean loss of a batch (a scalar with gradients), the number of tokens it processed, and optional metrics of the
   * method (DPO's `rewards/margins`, …), averaged over the step's micro-batches into metrics.jsonl.
   */
  loss: (batch: B) => { loss: Tensor; tokens: number; metrics?: Record<string, number> };
  batches: BatchSource<B>;
  /** Holdout loss (no gradients), with the method's own holdout metrics (a reward model's accuracy, …) if any. */
  evaluate?: () => Holdout | Promise<Holdout>;
  steps: number;
  lr: number;
  schedule?: ScheduleKind;
  warmupSteps?: number;
  minLrRatio?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  gradAccum?: number;
  /** Global gradient-norm clip (0 = off). */
  maxGradNorm?: number;
  evalEvery?: number;
  saveEvery?: number;
  /** Stop after this many evaluations without a new best holdout loss. */
  earlyStoppingPatience?: number;
  keepCheckpoints?: number;
  outDir: string;
  resume?: boolean;
  /** Generators the loss uses (dropout): saved and restored with checkpoints. */
  rngs?: Rng[];
  /** Called after each step with its metrics (progress bars). */
  onStep?: (m: StepMetrics) => void;
  /** Checked between steps; true stops the run after saving a checkpoint (Ctrl-C). */
  signal?: { interrupted: boolean };
}

/** A holdout evaluation: its loss (lower is better: early stopping and the best checkpoint follow it), with metrics. */
export type Holdout = number | { loss: number; metrics: Record<string, number> };

export interface StepMetrics {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  /** Tokens the step processed (padding included). */
  tokens: number;
  tokens_per_s: number;
  /** Seconds the step took (batches made included: RL's rollouts are part of it). */
  step_s: number;
  holdout_loss?: number;
  /** Seconds the holdout evaluation took (steps that evaluate). */
  eval_s?: number;
  elapsed_s: number;
  /** Tensor memory after the step (MiB): in use, idle in the pool, and the most held at once during the step. */
  live_mb: number;
  pooled_mb: number;
  peak_mb: number;
  /** The loss's own metrics, averaged over micro-batches (written as top-level keys of metrics.jsonl). */
  metrics?: Record<string, number>;
  /** The holdout's metrics on steps that evaluate (written as holdout_<key>). */
  holdout_metrics?: Record<string, number>;
}

export interface TrainResult {
  steps: number;
  stoppedBy: 'done' | 'early-stop' | 'interrupted';
  bestHoldout?: number;
  /** The holdout loss of the final weights, when the last step evaluated. */
  finalHoldout?: number;
  lastCheckpoint?: string;
}

export async function train<B>(o: TrainOptions<B>): Promise<TrainResult> {
  const params = [...o.params.values()];
  const names = [...o.params.keys()];
  const opt = new AdamW(params, { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay });
  const schedule = { kind: o.schedule ?? 'cosine', peakLr: o.lr, warmupSteps: o.warmupSteps ?? 0, totalSteps: o.steps, minLrRatio: o.minLrRatio };
  const accum = o.gradAccum ?? 1;
  const metricsPath = join(o.outDir, 'metrics.jsonl');
  mkdirSync(o.outDir, { recursive: true });
  let step = 0;
  let bestHoldout: number | undefined;
  let badEvals = 0;
  let lastCheckpoint: string | undefined;

  if (o.resume === true) {
    const dir = latestCheckpoint(o.outDir);
    if (dir !== undefined) {
      const ck = loadCheckpoint(dir);
      const s = ck.state as { step: number; optimizerStep: number; data: unknown; rngs: number[][]; bestHoldout?: number; badEvals: number };
      names.forEach((name, i) => {
        restore(params[i]!, ck.tensors.get(name), `${dir}: weights of ${name}`);
        opt.m[i] = tensorLike(params[i]!, ck.tensors.get(`m.${name}`), `${dir}: optimizer m of ${name}`);
        opt.v[i] = tensorLike(params[i]!, ck.tensors.get(`v.${name}`), `${dir}: optimizer v of ${name}`);
      });
      opt.step = s.optimizerStep;
      o.batches.restore(s.data);
      (o.rngs ?? []).forEach((r, i) => r.setState(s.rngs[i]!));
      step = s.step;
      bestHoldout = s.bestHoldout;
      badEvals = s.badEvals;
      lastCheckpoint = dir;
      truncateMetrics(metricsPath, step);
    }
  } else writeFileSync(metricsPath, '');

  const save = (): string => {
    const tensors = new Map<string, Float32Array>();
    const shapes = new Map<string, number[]>();
    names.forEach((name, i) => {
      const p = params[i]!;
      for (const [key, t] of [[name, p], [`m.${name}`, opt.m[i]], [`v.${name}`, opt.v[i]]] as [string, Tensor | null][]) {
        if (t === null) continue;
        tensors.set(key, Float32Array.from(t.f));
        shapes.set(key, [...t.shape]);
      }
    });
    const state = { step, optimizerStep: opt.step, data: o.batches.state(), rngs: (o.rngs ?? []).map((r) => r.getState()), bestHoldout, badEvals };
    return (lastCheckpoint = saveCheckpoint(o.outDir, step, { tensors, shapes, state }, o.keepCheckpoints ?? 2));
  };

  const start = performance.now();
  let stoppedBy: TrainResult['stoppedBy'] = 'done';
  let finalHoldout: number | undefined;
  try {
    while (step < o.steps) {
      // Let the event loop run between steps: signal handlers (Ctrl-C) only fire when it does.
      await new Promise((resolve) => setImmediate(resolve));
      if (o.signal?.interrupted === true) {
        stoppedBy = 'interrupted';
        break;
      }
      const t0 = performance.now();
      resetPoolPeaks();
      const lr = lrAt(schedule, step);
      let lossSum = 0;
      let tokens = 0;
      const metricSums = new Map<string, number>();
      for (let micro = 0; micro < accum; micro++) {
        const batch = await o.batches.next();
        tidy(() => {
          const r = o.loss(batch);
          const value = r.loss.item();
          if (!Number.isFinite(value)) throw new WhetError(`loss became ${value} at step ${step + 1} (lr ${lr.toExponential(2)}); weights were not updated${lastCheckpoint ? `; last checkpoint: ${lastCheckpoint}` : ''}. Lower --lr or check the data.`);
          backward(accum === 1 ? r.loss : scale(r.loss, 1 / accum));
          lossSum += value;
          tokens += r.tokens;
          for (const [k, v] of Object.entries(r.metrics ?? {})) metricSums.set(k, (metricSums.get(k) ?? 0) + v);
        });
      }
      const gradNorm = clipGradNorm(params, o.maxGradNorm !== undefined && o.maxGradNorm > 0 ? o.maxGradNorm : Infinity);
      if (!Number.isFinite(gradNorm)) throw new WhetError(`gradient norm became ${gradNorm} at step ${step + 1} (lr ${lr.toExponential(2)}); weights were not updated. Lower --lr or enable clipping.`);
      opt.update(lr);
      opt.zeroGrad();
      step++;
      const stepSecs = (performance.now() - t0) / 1000;
      const evalNow = o.evaluate !== undefined && o.evalEvery !== undefined && o.evalEvery > 0 && (step % o.evalEvery === 0 || step === o.steps);
      let holdout: number | undefined;
      const t1 = performance.now();
      let holdoutMetrics: Record<string, number> | undefined;
      if (evalNow) {
        const r = await o.evaluate!();
        [holdout, holdoutMetrics] = typeof r === 'number' ? [r, undefined] : [r.loss, r.metrics];
      }
      const mem = poolStats();
      const m: StepMetrics = {
        step, loss: lossSum / accum, lr, grad_norm: gradNorm, tokens, tokens_per_s: tokens / stepSecs, step_s: stepSecs, elapsed_s: (performance.now() - start) / 1000,
        live_mb: mib(mem.liveBytes), pooled_mb: mib(mem.pooledBytes), peak_mb: mib(mem.peakHeldBytes),
      };
      if (metricSums.size > 0) m.metrics = Object.fromEntries([...metricSums].map(([k, v]) => [k, v / accum]));
      finalHoldout = holdout;
      if (holdout !== undefined) {
        m.holdout_loss = holdout;
        m.eval_s = (performance.now() - t1) / 1000;
        if (holdoutMetrics !== undefined) m.holdout_metrics = holdoutMetrics;
        if (bestHoldout === undefined || m.holdout_loss < bestHoldout) {
          bestHoldout = m.holdout_loss;
          badEvals = 0;
        } else badEvals++;
      }
      const { metrics, holdout_metrics, ...line } = m;
      const holdoutKeys = Object.fromEntries(Object.entries(holdout_metrics ?? {}).map(([k, v]) => [`holdout_${k}`, v]));
      appendFileSync(metricsPath, JSON.stringify({ ...line, ...metrics, ...holdoutKeys }) + '\n');
      o.onStep?.(m);
      if (o.saveEvery !== undefined && o.saveEvery > 0 && step % o.saveEvery === 0) save();
      if (o.earlyStoppingPatience !== undefined && badEvals >= o.earlyStoppingPatience) {
        stoppedBy = 'early-stop';
        break;
      }
    }
    if (lastCheckpoint === undefined || !lastCheckpoint.endsWith(String(step).padStart(7, '0'))) save();
  } finally {
    opt.dispose();
  }
  return { steps: step, stoppedBy, bestHoldout, finalHoldout, lastCheckpoint };
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

function restore(p: Tensor, data: Float32Array | undefined, what: string): void {
  if (data === undefined || data.length !== p.size) throw new WhetError(`${what}: missing or of the wrong size in the checkpoint`);
  p.f.set(data);
}

function tensorLike(p: Tensor, data: Float32Array | undefined, what: string): Tensor | null {
  if (data === undefined) return null;
  if (data.length !== p.size) throw new WhetError(`${what}: wrong size in the checkpoint`);
  const t = keep(Tensor.empty(p.shape));
  t.f.set(data);
  return t;
}

/** Drops metric lines past `step` (written after the checkpoint a run resumes from). */
function truncateMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8').split('\n').filter((line) => line !== '' && (JSON.parse(line) as { step: number }).step <= step);
  writeFileSync(path, kept.map((l) => l + '\n').join(''));
}
