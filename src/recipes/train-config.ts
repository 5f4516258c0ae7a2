// A training run's configuration (SFT, reward model, DPO, KTO): every option, its type, default and range, read
// from YAML and/or flags and validated.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { WhetError } from '../errors.ts';
import type { FrozenDType } from '../model/frozen-weights.ts';

export type TrainMethod = 'sft' | 'reward' | 'dpo' | 'kto' | 'rl' | 'pretrain';

export interface TrainConfig {
  method: TrainMethod;
  finetuning: 'lora' | 'full';
  model: string;
  /** pretrain from random initialisation: a config.json (or a folder holding one) giving the architecture. */
  init?: string;
  /** With init: the folder of the tokenizer files (default: the config's folder). */
  tokenizer?: string;
  data: string;
  holdout?: string;
  holdout_fraction: number;
  out: string;
  steps: number;
  lr: number;
  schedule: 'cosine' | 'linear' | 'constant';
  warmup_steps: number;
  min_lr_ratio: number;
  weight_decay: number;
  batch_size: number;
  grad_accum: number;
  max_length: number;
  packing: boolean;
  /** Padded batches of similar lengths (less padding), as Hugging Face's group_by_length. */
  group_by_length: boolean;
  /** A padded batch holds at most this many tokens, padding included (0: no budget). */
  max_batch_tokens: number;
  max_grad_norm: number;
  rank: number;
  alpha: number;
  dropout: number;
  target_modules: string[] | 'all-linear';
  rslora: boolean;
  base_dtype: 'f32' | FrozenDType;
  /** Storage of the MLP activations kept for backward: auto follows the base's storage (bf16 base → bf16). */
  activation_dtype: 'auto' | 'f32' | 'bf16';
  gradient_checkpointing: boolean;
  train_on_prompt: boolean;
  chat_template?: string;
  seed: number;
  save_every: number;
  eval_every: number;
  early_stopping_patience?: number;
  keep_checkpoints: number;
  resume: boolean;
  /** A PEFT adapter to start from (an SFT adapter before DPO/KTO): trained further, and the reference it starts as. */
  adapter?: string;
  beta: number;
  /** DPO's loss (sigmoid, robust, hinge, ipo, simpo) or RL's aggregation (grpo, bnpo, dr_grpo); each method has its default. */
  loss_type?: 'sigmoid' | 'robust' | 'hinge' | 'ipo' | 'simpo' | 'grpo' | 'bnpo' | 'dr_grpo';
  label_smoothing: number;
  simpo_gamma: number;
  rpo_alpha: number;
  desirable_weight: number;
  undesirable_weight: number;
  center_rewards_coefficient: number;
  rl_algorithm: 'grpo' | 'rloo' | 'ppo';
  vf_coef: number;
  gamma: number;
  lam: number;
  cliprange_value: number;
  reward_model?: string;
  reward_adapter?: string;
  reward_fn?: string[];
  num_generations: number;
  max_completion_length: number;
  temperature: number;
  top_p: number;
  num_iterations: number;
  epsilon: number;
  epsilon_high?: number;
  scale_rewards: 'group' | 'batch' | 'none';
  sample_every: number;
}

/** One option: its type and range, and a line saying what it means (whet train --help prints it). */
export type TrainOptionSpec = (
  | { type: 'string'; required?: boolean }
  | { type: 'number'; min?: number; max?: number; integer?: boolean }
  | { type: 'boolean' }
  | { type: 'choice'; choices: readonly string[] }
  | { type: 'targets' }
  | { type: 'list' }
) & { help: string };

export const TRAIN_SPEC: Record<keyof TrainConfig, TrainOptionSpec> = {
  method: { type: 'choice', choices: ['sft', 'reward', 'dpo', 'kto', 'rl', 'pretrain', 'lora', 'full'], help: 'sft on responses, a reward model on preference pairs, dpo on pairs, kto on thumbs up/down, rl on prompts against a reward model or functions, pretrain on plain text (every weight, every token; lora, full: sft with that --finetuning)' },
  finetuning: { type: 'choice', choices: ['lora', 'full'], help: 'LoRA adapters on a frozen base, or every weight' },
  model: { type: 'string', help: 'base model: a GGUF file, a Hugging Face folder, or ORG/NAME fetched by whet pull (required, but for pretrain with --init)' },
  init: { type: 'string', help: 'pretrain from random initialisation: an HF config.json (or a folder with one) giving the architecture' },
  tokenizer: { type: 'string', help: "with --init: the folder of the tokenizer files (default: the config's folder)" },
  data: { type: 'string', required: true, help: 'training data: prompt/completion, messages, Alpaca, ShareGPT or text for sft; plain text for pretrain (.txt: documents separated by blank lines; .jsonl: {text}); preference pairs or rankings for reward and dpo; thumbs up/down (or pairs) for kto' },
  holdout: { type: 'string', help: 'holdout data file (default: a seeded fraction of --data)' },
  holdout_fraction: { type: 'number', min: 0, max: 0.9, help: 'share of --data held out when no --holdout file is given' },
  out: { type: 'string', required: true, help: 'output folder (adapter or model, checkpoints, metrics.jsonl)' },
  steps: { type: 'number', min: 1, integer: true, help: 'optimizer steps' },
  lr: { type: 'number', min: 0, help: 'peak learning rate' },
  schedule: { type: 'choice', choices: ['cosine', 'linear', 'constant'], help: 'learning-rate schedule after warm-up' },
  warmup_steps: { type: 'number', min: 0, integer: true, help: 'linear warm-up steps' },
  min_lr_ratio: { type: 'number', min: 0, max: 1, help: 'final learning rate as a share of --lr' },
  weight_decay: { type: 'number', min: 0, help: 'AdamW weight decay' },
  batch_size: { type: 'number', min: 1, integer: true, help: 'examples (or packed rows) per micro-batch' },
  grad_accum: { type: 'number', min: 1, integer: true, help: 'micro-batches per optimizer step' },
  max_length: { type: 'number', min: 2, integer: true, help: 'tokens per example; longer ones are truncated' },
  packing: { type: 'boolean', help: 'pack examples into rows of --max-length (no attention across examples)' },
  group_by_length: { type: 'boolean', help: 'padded batches of similar lengths (less padding)' },
  max_batch_tokens: { type: 'number', min: 0, integer: true, help: 'a padded batch holds at most this many tokens, padding included (0: no budget)' },
  max_grad_norm: { type: 'number', min: 0, help: 'clip the gradient norm to this (0: no clipping)' },
  rank: { type: 'number', min: 1, integer: true, help: 'LoRA rank r' },
  alpha: { type: 'number', min: 0, help: 'LoRA alpha (scale alpha/r)' },
  dropout: { type: 'number', min: 0, max: 0.99, help: 'LoRA dropout on the adapter input' },
  target_modules: { type: 'targets', help: 'LoRA targets: all-linear or names such as q_proj,v_proj' },
  rslora: { type: 'boolean', help: 'rank-stabilised LoRA (scale alpha/√r)' },
  base_dtype: { type: 'choice', choices: ['f32', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'], help: 'storage of the frozen base weights: bf16 halves their memory, q8_0 about a quarter of f32, q4_* an eighth (QLoRA-style; a GGUF\'s quantised matrices stay as stored)' },
  activation_dtype: { type: 'choice', choices: ['auto', 'f32', 'bf16'], help: 'storage of the MLP activations kept for backward: bf16 halves them at bf16 precision in their gradient; auto follows the base' },
  gradient_checkpointing: { type: 'boolean', help: 'recompute each layer in backward: far less memory, about a third slower' },
  train_on_prompt: { type: 'boolean', help: 'put loss on prompt tokens too, not only on responses' },
  chat_template: { type: 'string', help: 'Jinja chat template file (default: the model\'s own)' },
  seed: { type: 'number', integer: true, help: 'seed for initialisation, data order, holdout split and dropout' },
  save_every: { type: 'number', min: 0, integer: true, help: 'checkpoint every N steps (0: only the last step)' },
  eval_every: { type: 'number', min: 0, integer: true, help: 'holdout loss every N steps (0: only before and after)' },
  early_stopping_patience: { type: 'number', min: 1, integer: true, help: 'stop after N evaluations without holdout improvement' },
  keep_checkpoints: { type: 'number', min: 1, integer: true, help: 'checkpoints kept on disk' },
  resume: { type: 'boolean', help: 'continue from the last checkpoint in --out' },
  adapter: { type: 'string', help: 'PEFT adapter to start from (e.g. an SFT adapter before dpo/kto, which is also their reference)' },
  beta: { type: 'number', min: 0, help: 'dpo/kto: strength of the pull towards the reference (TRL beta)' },
  loss_type: { type: 'choice', choices: ['sigmoid', 'robust', 'hinge', 'ipo', 'simpo', 'grpo', 'bnpo', 'dr_grpo'], help: 'dpo: sigmoid (default), robust, hinge, ipo, simpo (reference-free); rl: grpo (per-sequence mean), bnpo (per token, default), dr_grpo (per token over the length limit)' },
  label_smoothing: { type: 'number', min: 0, max: 0.5, help: 'dpo sigmoid/robust: assumed share of flipped labels' },
  simpo_gamma: { type: 'number', min: 0, help: 'simpo: target reward margin γ' },
  rpo_alpha: { type: 'number', min: 0, help: "dpo: weight of the chosen answers' NLL added to the loss (RPO; TRL's rpo_alpha, 1.0 in its paper): keeps chosen answers likely" },
  desirable_weight: { type: 'number', min: 0, help: 'kto: weight of thumbs-up answers' },
  undesirable_weight: { type: 'number', min: 0, help: 'kto: weight of thumbs-down answers' },
  center_rewards_coefficient: { type: 'number', min: 0, help: 'reward: weight of mean((r⁺ + r⁻)²), keeping rewards centred on zero' },
  rl_algorithm: { type: 'choice', choices: ['grpo', 'rloo', 'ppo'], help: "rl: group-normalised advantages (GRPO), a leave-one-out baseline (RLOO), or a value head with GAE (PPO, InstructGPT's)" },
  vf_coef: { type: 'number', min: 0, help: 'rl ppo: weight of the value loss' },
  gamma: { type: 'number', min: 0, max: 1, help: 'rl ppo: discount per token' },
  lam: { type: 'number', min: 0, max: 1, help: 'rl ppo: GAE λ' },
  cliprange_value: { type: 'number', min: 0, help: 'rl ppo: clip range of the value predictions' },
  reward_model: { type: 'string', help: "rl: a reward model to maximise (a folder from --method reward --finetuning full, or the base of --reward-adapter)" },
  reward_adapter: { type: 'string', help: "rl: a reward model's adapter (from --method reward) on --reward-model" },
  reward_fn: { type: 'list', help: 'rl: reward functions, summed: exact, normalized, regex:PATTERN, sql:DBDIR, file:MODULE (default export (prompt, completion, example) => number); @W weights one' },
  num_generations: { type: 'number', min: 2, integer: true, help: 'rl: completions sampled per prompt (a group)' },
  max_completion_length: { type: 'number', min: 1, integer: true, help: 'rl: most tokens a completion may have' },
  temperature: { type: 'number', min: 0, help: 'rl: sampling temperature of the rollouts' },
  top_p: { type: 'number', min: 0, max: 1, help: 'rl: nucleus sampling mass of the rollouts' },
  num_iterations: { type: 'number', min: 1, integer: true, help: 'rl: optimizer steps on each batch of rollouts (the clipped ratio matters from the second)' },
  epsilon: { type: 'number', min: 0, help: 'rl: clip range of the probability ratio' },
  epsilon_high: { type: 'number', min: 0, help: 'rl: upper clip range (DAPO clip-higher; default epsilon)' },
  scale_rewards: { type: 'choice', choices: ['group', 'batch', 'none'], help: "rl grpo: divide advantages by the group's reward std, the batch's, or not (Dr. GRPO)" },
  sample_every: { type: 'number', min: 0, integer: true, help: 'rl: write sample completions to samples.jsonl every N steps (0: never)' },
};

export const TRAIN_DEFAULTS: Omit<TrainConfig, 'model' | 'data' | 'out'> = {
  method: 'sft', finetuning: 'lora', holdout_fraction: 0.05, steps: 100, lr: 2e-4, schedule: 'cosine', warmup_steps: 10, min_lr_ratio: 0.1,
  weight_decay: 0, batch_size: 4, grad_accum: 1, max_length: 512, packing: false, group_by_length: true, max_batch_tokens: 0, max_grad_norm: 1, rank: 16, alpha: 32,
  dropout: 0.05, target_modules: 'all-linear', rslora: false, base_dtype: 'f32', activation_dtype: 'auto', gradient_checkpointing: false,
  train_on_prompt: false, seed: 0, save_every: 100, eval_every: 50, keep_checkpoints: 2, resume: false,
  beta: 0.1, label_smoothing: 0, simpo_gamma: 0.5, rpo_alpha: 0, desirable_weight: 1, undesirable_weight: 1, center_rewards_coefficient: 0,
  rl_algorithm: 'grpo', vf_coef: 0.1, gamma: 1, lam: 0.95, cliprange_value: 0.2, num_generations: 4, max_completion_length: 64, temperature: 1, top_p: 1, num_iterations: 1, epsilon: 0.2, scale_rewards: 'group', sample_every: 10,
};

export const TRAIN_KEYS = Object.keys(TRAIN_SPEC) as (keyof TrainConfig)[];

/** Flag name for a config key: learning_rate → --learning-rate. */
export const flagOf = (key: string): string => key.replace(/_/g, '-');

/** Checks one raw value (from YAML or a flag string) against its spec; `where` names its origin in errors. */
function coerce(key: keyof TrainConfig, raw: unknown, where: string): unknown {
  const spec = TRAIN_SPEC[key];
  const fail = (what: string): never => {
    throw new WhetError(`${where}: '${key}' ${what} (got ${JSON.stringify(raw)})`);
  };
  switch (spec.type) {
    case 'string':
      return typeof raw === 'string' && raw !== '' ? raw : fail('must be a non-empty string');
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      return raw === 'true' ? true : raw === 'false' ? false : fail('must be true or false');
    case 'choice':
      return typeof raw === 'string' && spec.choices.includes(raw) ? raw : fail(`must be one of ${spec.choices.join(', ')}`);
    case 'list':
      if (typeof raw === 'string') return [raw];
      return Array.isArray(raw) && raw.length > 0 && raw.every((s) => typeof s === 'string') ? raw : fail('must be a list of strings');
    case 'targets':
      if (raw === 'all-linear') return raw;
      if (typeof raw === 'string') return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
      return Array.isArray(raw) && raw.length > 0 && raw.every((s) => typeof s === 'string') ? raw : fail("must be 'all-linear' or a list of module names");
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) fail('must be a number');
      if (spec.integer === true && !Number.isInteger(n)) fail('must be an integer');
      if (spec.min !== undefined && n < spec.min) fail(`must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) fail(`must be at most ${spec.max}`);
      return n;
    }
  }
}

/** Merges defaults, the YAML file (if any) and flags (strings, which win), validating every value. */
export function resolveTrainConfig(configPath: string | undefined, flags: Record<string, unknown>): TrainConfig {
  const merged: Record<string, unknown> = { ...TRAIN_DEFAULTS };
  const given = new Set<string>();
  if (configPath !== undefined) {
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(configPath, 'utf8'));
    } catch (e) {
      throw new WhetError(`${configPath}: ${(e as Error).message.split('\n')[0]}`);
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new WhetError(`${configPath}: expected a mapping of option: value`);
    for (const [key, value] of Object.entries(doc)) {
      if (!(key in TRAIN_SPEC)) throw new WhetError(`${configPath}: unknown option '${key}' (options: ${TRAIN_KEYS.join(', ')})`);
      merged[key] = coerce(key as keyof TrainConfig, value, configPath);
      given.add(key);
    }
  }
  for (const [key, value] of Object.entries(flags))
    if (value !== undefined) {
      merged[key] = coerce(key as keyof TrainConfig, value, `--${flagOf(key)}`);
      given.add(key);
    }
  const finetuningGiven = given.has('finetuning');
  // method: lora | full is SFT with that finetuning, as these configs read before preference methods existed.
  if (merged.method === 'lora' || merged.method === 'full') [merged.method, merged.finetuning] = ['sft', merged.method];
  const lossTypes: Partial<Record<string, readonly string[]>> = { dpo: ['sigmoid', 'robust', 'hinge', 'ipo', 'simpo'], rl: ['grpo', 'bnpo', 'dr_grpo'] };
  const allowed = lossTypes[merged.method as string];
  if (merged.loss_type !== undefined && (allowed === undefined || !allowed.includes(merged.loss_type as string)))
    throw new WhetError(`'loss_type' ${merged.loss_type} does not apply to method ${merged.method}${allowed ? ` (one of ${allowed.join(', ')})` : ''}`);
  if (merged.method === 'rl' && merged.reward_model === undefined && merged.reward_fn === undefined)
    throw new WhetError("method rl needs something to maximise: 'reward_model' and/or 'reward_fn'");
  if (merged.method === 'pretrain') {
    if (merged.finetuning === 'lora' && finetuningGiven) throw new WhetError('method pretrain trains every weight: drop finetuning lora (pretraining is full training)');
    merged.finetuning = 'full';
    if ((merged.model === undefined) === (merged.init === undefined)) throw new WhetError("method pretrain needs one of 'model' (continue pretraining it) or 'init' (a config.json to initialise randomly)");
  } else {
    if (merged.model === undefined) throw new WhetError(`'model' is required (set it in the config file or with --model)`);
    if (merged.init !== undefined || merged.tokenizer !== undefined) throw new WhetError(`'init' and 'tokenizer' apply to method pretrain only`);
  }
  if (merged.tokenizer !== undefined && merged.init === undefined) throw new WhetError("'tokenizer' goes with 'init' (a model given by 'model' brings its own)");
  for (const key of TRAIN_KEYS) {
    const spec = TRAIN_SPEC[key];
    if (spec.type === 'string' && spec.required === true && merged[key] === undefined)
      throw new WhetError(`'${key}' is required (set it in the config file or with --${flagOf(key)})`);
  }
  return merged as unknown as TrainConfig;
}
