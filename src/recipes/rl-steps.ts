// RL's pieces for the shared trainer: a batch source that samples rollouts with the current policy, scores them
// (reward model and/or functions), turns rewards into advantages per group, and precomputes the reference's
// (and, for several iterations per batch, the sampling policy's) per-token log-probs; and the GRPO/RLOO step loss.
import { appendFileSync } from 'node:fs';
import type { LlamaModel } from '../model/llama.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { nextTokenTargets, padBatch, type Batch } from '../data/batch.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import { DataIterator, type IteratorState } from '../data/iterator.ts';
import type { Prompt } from '../data/preference.ts';
import { withLoraEval } from '../adapters/apply.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { tensor } from '../tensor/ops/create.ts';
import { Rng } from '../tensor/random.ts';
import { tidy, type Tensor } from '../tensor/tensor.ts';
import type { BatchSource } from '../train/trainer.ts';
import { gae, groupAdvantages, grpoLoss, ppoLoss, ppoRewards, rlooAdvantages, rlooLoss, valueLoss, type GrpoOptions } from '../train/rl-loss.ts';
import { add, scale } from '../tensor/ops/elementwise.ts';
import { linear } from '../tensor/ops/matmul.ts';
import { reshape } from '../tensor/ops/shape.ts';
import { rollout, rolloutExample, type Rollout } from '../rl/rollout.ts';
import { tokenLogps, type ForwardSettings, type ReferencePolicy } from './dpo-steps.ts';

/** A prompt to train on: its token ids as the model sees them, as text or turns for reward functions, and its row. */
export interface RlPrompt {
  ids: number[];
  prompt: Prompt;
  row: Record<string, unknown>;
}

/** Rewards of a step's completions: the weighted total, and each reward's own values (logged by name). */
export type Scorer = (prompts: Prompt[], completions: string[], rows: Record<string, unknown>[]) => Promise<{ total: number[]; parts: Record<string, number[]> }>;

export interface RlBatch {
  rows: Batch;
  /** One advantage per completion (GRPO, RLOO), or per token (PPO, rows × time). */
  advantages: Float32Array;
  /** PPO: the value head's predictions when the rollouts were made, and the GAE returns (rows × time). */
  oldValues?: Float32Array;
  returns?: Float32Array;
  /** Per-token log-probs (rows × time, as tokenLogps lays them out) of the sampling policy and of the reference. */
  old?: Float32Array;
  ref?: Float32Array;
  /** The rollouts' own metrics (reward, lengths, generation time), logged with the loss's. */
  metrics: Record<string, number>;
}

/** PPO's value head (1, D) on the policy's final hidden states, and its GAE settings. */
export interface ValueHead {
  weight: Tensor;
  gamma: number;
  lam: number;
}

export interface RlSettings {
  algorithm: 'grpo' | 'rloo' | 'ppo';
  value?: ValueHead;
  generations: number;
  maxTokens: number;
  temperature: number;
  topP: number;
  stop: string[];
  iterations: number;
  beta: number;
  scaleRewards: 'group' | 'batch' | 'none';
  promptsPerStep: number;
  seed: number;
  /** Sample completions go to this file every sampleEvery batches (0: never). */
  samples?: { path: string; every: number };
}

const mean = (xs: readonly number[]): number => xs.reduce((a, v) => a + v, 0) / Math.max(xs.length, 1);
const std = (xs: readonly number[]): number => Math.sqrt(mean(xs.map((v) => (v - mean(xs)) ** 2)));

/**
 * Batches of fresh rollouts: promptsPerStep prompts, each sampled `generations` times with the current policy, then
 * served `iterations` times (the clipped objective's several steps per batch). Its state — data order, the sampling
 * generator, a batch still being served — is saved with checkpoints so a resumed run samples the same rollouts.
 */
export class RolloutSource implements BatchSource<RlBatch> {
  private readonly prompts: DataIterator<number, number[]>;
  private rng: Rng;
  private current?: { batch: RlBatch; served: number };
  private made = 0;

  constructor(
    private readonly model: LlamaModel,
    private readonly tokenizer: Tokenizer,
    private readonly items: readonly RlPrompt[],
    private readonly score: Scorer,
    private readonly reference: ReferencePolicy | undefined,
    private readonly s: RlSettings,
  ) {
    this.prompts = new DataIterator(items.map((_, i) => i), { batchSize: s.promptsPerStep, seed: s.seed, collate: (idx) => idx });
    this.rng = new Rng(s.seed ^ 0x6c8e9cf5);
  }

  async next(): Promise<RlBatch> {
    if (this.current !== undefined && this.current.served < this.s.iterations) {
      this.current.served++;
      return this.current.batch;
    }
    const picked = this.prompts.next();
    const t0 = performance.now();
    const seeds = Array.from({ length: picked.length * this.s.generations }, () => this.rng.nextU32());
    const rollouts = rollout(this.model, this.tokenizer, picked.map((i) => this.items[i]!.ids), { ...this.s, seeds });
    const genSecs = (performance.now() - t0) / 1000;
    const rewards = await this.score(
      rollouts.map((r) => this.items[picked[r.group]!]!.prompt),
      rollouts.map((r) => r.text),
      rollouts.map((r) => this.items[picked[r.group]!]!.row),
    );
    const rewardSecs = (performance.now() - t0) / 1000 - genSecs;
    const batch = this.batchOf(rollouts, rewards, genSecs, rewardSecs);
    this.current = { batch, served: 1 };
    if (this.s.samples !== undefined && this.s.samples.every > 0 && this.made % this.s.samples.every === 0) this.writeSamples(rollouts, rewards.total, picked);
    this.made++;
    return batch;
  }

  /** Where the next batch comes from, with a batch still being served saved whole (its rollouts came from weights since changed). */
  state(): unknown {
    const serving = this.current !== undefined && this.current.served < this.s.iterations ? this.current : undefined;
    return {
      data: this.prompts.state(),
      rng: this.rng.getState(),
      made: this.made,
      ...(serving !== undefined ? { serving: { batch: encodeBatch(serving.batch), served: serving.served } } : {}),
    };
  }

  restore(state: unknown): void {
    const s = state as { data: IteratorState; rng: number[]; made: number; serving?: { batch: EncodedBatch; served: number } };
    this.prompts.restore(s.data);
    this.rng.setState(s.rng);
    this.made = s.made;
    this.current = s.serving === undefined ? undefined : { batch: decodeBatch(s.serving.batch), served: s.serving.served };
  }

  private batchOf(rollouts: Rollout[], rewards: { total: number[]; parts: Record<string, number[]> }, genSecs: number, rewardSecs: number): RlBatch {
    const padId = this.tokenizer.padId ?? this.tokenizer.eosId ?? 0;
    const rows = padBatch(rollouts.map(rolloutExample), padId);
    const perToken = (fn: () => Tensor): Float32Array => withLoraEval(this.model, () => noGrad(() => tidy(() => Float32Array.from(fn().f))));
    // The sampling policy's log-probs: needed by a second iteration's ratio, and by RLOO's KL-in-the-reward.
    const old = this.s.iterations > 1 || this.s.algorithm === 'ppo' || (this.s.algorithm === 'rloo' && this.s.beta > 0) ? perToken(() => tokenLogps(this.model, rows).logps) : undefined;
    const ref = this.s.beta > 0 && this.reference !== undefined ? this.reference(() => tidy(() => Float32Array.from(tokenLogps(this.model, rows).logps.f))) : undefined;
    const table = (x: Float32Array): number[][] => Array.from({ length: rows.batch }, (_, i) => Array.from(x.subarray(i * rows.time, (i + 1) * rows.time)));
    const mask = table(Float32Array.from(nextTokenTargets(rows), (t) => (t === IGNORE_INDEX ? 0 : 1))); // as tokenLogps masks
    // RLOO (as TRL's) charges β·Σ(old − ref) in each reward before the leave-one-out baseline; GRPO keeps its KL in
    // the loss; PPO charges it per token and spreads the score back over the tokens with GAE on its value head.
    if (this.s.algorithm === 'ppo') return this.ppoBatch(rows, rollouts, rewards, table, mask, old!, ref, genSecs, rewardSecs);
    const advantages =
      this.s.algorithm === 'rloo'
        ? rlooAdvantages(rewards.total, this.s.generations, old !== undefined && ref !== undefined ? { beta: this.s.beta, kl: { oldLogps: table(old), refLogps: table(ref), mask } } : {})
        : groupAdvantages(rewards.total, this.s.generations, { scale: this.s.scaleRewards });
    const metrics = rolloutMetrics(rollouts, rewards.parts, genSecs, rewardSecs);
    Object.assign(metrics, { reward: advantages.metrics.reward, reward_std: advantages.metrics.reward_std, frac_reward_zero_std: advantages.metrics.frac_reward_zero_std });
    const batch: RlBatch = { rows, advantages: Float32Array.from(advantages.advantages), metrics };
    if (this.s.iterations > 1) batch.old = old;
    if (this.s.algorithm === 'grpo' && ref !== undefined) batch.ref = ref;
    const kl = (advantages.metrics as { kl?: number }).kl; // RLOO's, measured where it is charged
    if (kl !== undefined) metrics.kl = kl;
    return batch;
  }

  /** PPO: per-token rewards (−β·KL, the score on the last token), the value head's predictions, GAE. */
  private ppoBatch(rows: Batch, rollouts: Rollout[], rewards: { total: number[]; parts: Record<string, number[]> }, table: (x: Float32Array) => number[][], mask: number[][], old: Float32Array, ref: Float32Array | undefined, genSecs: number, rewardSecs: number): RlBatch {
    const head = this.s.value!;
    const values = withLoraEval(this.model, () => noGrad(() => tidy(() => Float32Array.from(valuesOf(tokenLogps(this.model, rows).hidden, head.weight).f))));
    const tokenRewards = ppoRewards({ scores: rewards.total, logps: table(old), refLogps: table(ref ?? old), mask }, { klCoef: this.s.beta });
    const { advantages, returns } = gae(tokenRewards.rewards, table(values), mask, { gamma: head.gamma, lam: head.lam });
    const metrics = rolloutMetrics(rollouts, rewards.parts, genSecs, rewardSecs);
    Object.assign(metrics, { reward: mean(rewards.total), reward_std: std(rewards.total), ...tokenRewards.metrics });
    return { rows, advantages: Float32Array.from(advantages.flat()), old, oldValues: values, returns: Float32Array.from(returns.flat()), metrics };
  }

  private writeSamples(rollouts: Rollout[], rewards: number[], picked: number[]): void {
    const lines = rollouts.map((r, i) => JSON.stringify({ batch: this.made, prompt: this.items[picked[r.group]!]!.prompt, completion: r.text, reward: rewards[i], clipped: r.clipped }));
    appendFileSync(this.s.samples!.path, lines.join('\n') + '\n');
  }
}

/** The value head's prediction at every position (R, T) from hidden states (R, T, D). */
export function valuesOf(hidden: Tensor, weight: Tensor): Tensor {
  const [r, t] = hidden.shape as [number, number, number];
  return reshape(linear(hidden, weight), [r, t]);
}

/** What every algorithm logs of its rollouts: each reward's mean, completion lengths, clipped share, time. */
function rolloutMetrics(rollouts: Rollout[], parts: Record<string, number[]>, genSecs: number, rewardSecs: number): Record<string, number> {
  const lengths = rollouts.map((r) => r.completion.length);
  return {
    ...Object.fromEntries(Object.entries(parts).map(([name, v]) => [`rewards/${name}`, mean(v)])),
    'completion_length/mean': mean(lengths),
    'completion_length/min': Math.min(...lengths),
    'completion_length/max': Math.max(...lengths),
    clipped_ratio: rollouts.filter((r) => r.clipped).length / rollouts.length,
    'time/generation_s': genSecs,
    'time/reward_s': rewardSecs,
  };
}

type EncodedBatch = { rows: Record<string, number[] | number>; advantages: number[]; old?: number[]; ref?: number[]; oldValues?: number[]; returns?: number[]; metrics: Record<string, number> };

/** A batch as JSON (checkpoint state). */
function encodeBatch(b: RlBatch): EncodedBatch {
  const { ids, labels, positions, batch, time, lossTokens } = b.rows;
  return {
    rows: { ids: [...ids], labels: [...labels], positions: [...positions], batch, time, lossTokens },
    advantages: [...b.advantages],
    ...(b.old !== undefined ? { old: [...b.old] } : {}),
    ...(b.ref !== undefined ? { ref: [...b.ref] } : {}),
    ...(b.oldValues !== undefined ? { oldValues: [...b.oldValues], returns: [...b.returns!] } : {}),
    metrics: b.metrics,
  };
}

function decodeBatch(e: EncodedBatch): RlBatch {
  const r = e.rows as { ids: number[]; labels: number[]; positions: number[]; batch: number; time: number; lossTokens: number };
  return {
    rows: { ids: Int32Array.from(r.ids), labels: Int32Array.from(r.labels), positions: Int32Array.from(r.positions), batch: r.batch, time: r.time, lossTokens: r.lossTokens },
    advantages: Float32Array.from(e.advantages),
    ...(e.old !== undefined ? { old: Float32Array.from(e.old) } : {}),
    ...(e.ref !== undefined ? { ref: Float32Array.from(e.ref) } : {}),
    ...(e.oldValues !== undefined ? { oldValues: Float32Array.from(e.oldValues), returns: Float32Array.from(e.returns!) } : {}),
    metrics: e.metrics,
  };
}

/**
 * The RL step: the policy's per-token log-probs against the sampling policy's (and, GRPO, the reference's); PPO adds
 * its value head's clipped loss, weighted by vfCoef.
 */
export function rlStepLoss(model: LlamaModel, algorithm: 'grpo' | 'rloo' | 'ppo', opts: GrpoOptions & { value?: { weight: Tensor; vfCoef: number; clipValue: number } }, settings: ForwardSettings = {}) {
  return (b: RlBatch): { loss: Tensor; tokens: number; metrics: Record<string, number> } => {
    const { logps, mask, hidden } = tokenLogps(model, b.rows, settings); // (R, T)
    const shape = logps.shape;
    if (algorithm === 'ppo') {
      const table = (x: Float32Array): Tensor => tensor(x, shape, logps.dtype); // (R, T)
      const policy = ppoLoss({ logps, oldLogps: table(b.old!), advantages: table(b.advantages), mask }, { clip: opts.epsilonLow ?? 0.2 });
      const v = opts.value!;
      const value = valueLoss({ values: valuesOf(hidden, v.weight), oldValues: table(b.oldValues!), returns: table(b.returns!), mask }, { clipValue: v.clipValue });
      return { loss: add(policy.loss, scale(value.loss, v.vfCoef)), tokens: b.rows.ids.length, metrics: { ...b.metrics, ...policy.metrics, ...value.metrics, 'loss/value': value.loss.item() } };
    }
    // Without old log-probs (one iteration per batch) the sampling policy is the policy now: TRL's logps.detach().
    const oldLogps = b.old === undefined ? undefined : tensor(b.old, shape, logps.dtype);
    const refLogps = b.ref === undefined ? undefined : tensor(b.ref, shape, logps.dtype);
    const advantages = Array.from(b.advantages);
    const old = oldLogps !== undefined ? { oldLogps } : {};
    const { loss, metrics } =
      algorithm === 'rloo'
        ? rlooLoss({ logps, ...old, advantages, mask }, opts)
        : grpoLoss({ logps, ...old, ...(refLogps !== undefined ? { refLogps } : {}), advantages, mask }, opts);
    return { loss, tokens: b.rows.ids.length, metrics: { ...b.metrics, ...metrics } };
  };
}
