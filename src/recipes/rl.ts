// RL (GRPO, RLOO) top to bottom: the policy made trainable (typically continuing an SFT adapter), prompts read from
// any dataset (their rows reach reward functions), rewards from a reward model and/or functions, the reference
// (LoRA: the adapter off or the starting adapter swapped in; full: the starting weights swapped in), the shared loop
// with rollouts as its batches, the held-out prompts' mean reward before and after, the adapter or model saved.
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { modelContext } from '../model/context.ts';
import type { LoadedModel } from '../model/load.ts';
import { splitExamples } from '../data/read.ts';
import type { Prompt } from '../data/preference.ts';
import type { Example } from '../data/formats.ts';
import { readPrompts, promptExample } from '../eval/prompts.ts';
import { defaultStopStrings, evalPrompt } from '../eval/predict.ts';
import { loadRewardModel } from '../eval/reward.ts';
import { judgeAnswers } from '../eval/win-rate.ts';
import { generate } from '../generate/generate.ts';
import { withLoraEval } from '../adapters/apply.ts';
import { rewardFunctions } from '../rl/rewards.ts';
import type { TrainConfig } from './train-config.ts';
import { activationDtype } from './sft.ts';
import { loraReference, startingWeightsReference, type ReferencePolicy } from './dpo-steps.ts';
import { RolloutSource, rlStepLoss, type RlPrompt, type Scorer } from './rl-steps.ts';
import { saveTrained, trainableModel, trainWith, type RecipeRun, type TrainHooks } from './setup.ts';
import { keep } from '../tensor/tensor.ts';
import { zeros } from '../tensor/ops/create.ts';

/** The reward of completions: a reward model's score and/or reward functions, summed with their weights. */
async function scorerOf(cfg: TrainConfig, log: (line: string) => void): Promise<{ score: Scorer; close: () => void }> {
  // Built now, so that a broken reward module fails at start-up, naming its spec.
  const functions = cfg.reward_fn === undefined ? undefined : await rewardFunctions(cfg.reward_fn);
  let judge: LoadedModel | undefined;
  if (cfg.reward_model !== undefined) {
    judge = loadRewardModel(cfg.reward_model, cfg.reward_adapter);
    log(`reward model: ${cfg.reward_model}${cfg.reward_adapter !== undefined ? ` with ${cfg.reward_adapter}` : ''}`);
  }
  const score: Scorer = async (prompts, completions, rows) => {
    const parts: Record<string, number[]> = {};
    const total = new Array<number>(completions.length).fill(0);
    if (judge !== undefined) {
      const { rewards } = judgeAnswers(judge, prompts, completions, { maxLength: modelContext(judge.config), batchRows: 16 });
      parts.reward_model = [...rewards];
      rewards.forEach((r, i) => (total[i]! += r));
    }
    if (functions !== undefined) {
      const scored = await functions(prompts, completions, rows);
      scored.total.forEach((r, i) => (total[i]! += r));
      Object.assign(parts, scored.parts);
    }
    return { total, parts };
  };
  return {
    score,
    close: () => {
      functions?.close();
      judge?.model.dispose();
    },
  };
}

export async function runRl(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<RecipeRun> {
  const log = hooks.log ?? (() => {});
  // ---- model and rewards ----
  const trainable = trainableModel(cfg, { log });
  const { loaded: { model, tokenizer } } = trainable;
  const { score, close } = await scorerOf(cfg, log);

  // ---- prompts ----
  /** A file's prompts, and each as an example (its reference answer, if any, suggests stop strings). */
  const read = (path: string): { prompts: RlPrompt[]; examples: Example[] } => {
    const set = readPrompts(path);
    if (set.errorCount > 0) log(`${path}: ${set.errorCount} rows left out as invalid, e.g.\n  ${set.errors.slice(0, 5).join('\n  ')}`);
    const examples = set.items.map(promptExample);
    return { prompts: set.items.map((item, i) => ({ ids: evalPrompt(examples[i]!, tokenizer, i).ids, prompt: item.prompt, row: item.row })), examples };
  };
  const data = read(cfg.data);
  let train = data.prompts;
  let holdout: RlPrompt[] = [];
  if (cfg.holdout !== undefined) holdout = read(cfg.holdout).prompts;
  else if (cfg.holdout_fraction > 0 && train.length >= 20) ({ train, holdout } = splitExamples(train, cfg.holdout_fraction, cfg.seed));
  const context = modelContext(trainable.loaded.config);
  const tooLong = train.filter((p) => p.ids.length + cfg.max_completion_length > context).length;
  if (tooLong > 0) throw new WhetError(`${cfg.data}: ${tooLong} prompts leave no room for ${cfg.max_completion_length} completion tokens in the context of ${context}`);
  const stop = defaultStopStrings(data.examples, tokenizer);
  log(`data: ${train.length} prompts, ${cfg.batch_size} a step × ${cfg.num_generations} completions of at most ${cfg.max_completion_length} tokens${stop.length > 0 ? ` (stop ${JSON.stringify(stop)})` : ''}; holdout ${holdout.length}`);

  // ---- reference ----
  let reference: ReferencePolicy | undefined;
  if (cfg.beta > 0) {
    reference = trainable.lora !== undefined ? loraReference(model, cfg.adapter !== undefined) : startingWeightsReference(model, [...trainable.params.values()]);
    log(`reference: ${trainable.lora === undefined ? 'the starting weights, swapped in for each reference pass' : cfg.adapter === undefined ? 'the base (the adapter switched off)' : `the starting adapter ${cfg.adapter}`}; β ${cfg.beta}`);
  }

  // ---- batches, loss, holdout ----
  // PPO's value head reads the policy's final hidden states; it trains with the policy but is not saved with it.
  const valueHead = cfg.rl_algorithm === 'ppo' ? keep(zeros([1, trainable.loaded.config.hiddenSize])).requireGrad() : undefined;
  if (valueHead !== undefined) trainable.params.set('value_head.weight', valueHead);
  const batches = new RolloutSource(model, tokenizer, train, score, reference, {
    algorithm: cfg.rl_algorithm,
    ...(valueHead !== undefined ? { value: { weight: valueHead, gamma: cfg.gamma, lam: cfg.lam } } : {}), generations: cfg.num_generations, maxTokens: cfg.max_completion_length, temperature: cfg.temperature, topP: cfg.top_p, stop,
    iterations: cfg.num_iterations, beta: cfg.beta, scaleRewards: cfg.scale_rewards, promptsPerStep: cfg.batch_size, seed: cfg.seed,
    samples: { path: join(cfg.out, 'samples.jsonl'), every: cfg.sample_every },
  });
  const loss = rlStepLoss(
    model,
    cfg.rl_algorithm,
    {
      beta: cfg.beta, epsilonLow: cfg.epsilon, epsilonHigh: cfg.epsilon_high ?? cfg.epsilon, lossType: (cfg.loss_type ?? 'bnpo') as 'grpo' | 'bnpo' | 'dr_grpo', maxCompletionLength: cfg.max_completion_length,
      ...(valueHead !== undefined ? { value: { weight: valueHead, vfCoef: cfg.vf_coef, clipValue: cfg.cliprange_value } } : {}),
    },
    { checkpoint: cfg.gradient_checkpointing, rngs: trainable.rngs, activations: activationDtype(cfg) },
  );
  // Held-out prompts answered greedily, one completion each, scored as training scores: the mean reward.
  const evaluate = holdout.length > 0 ? async () => {
    const answers = withLoraEval(model, () => generate(model, tokenizer, holdout.map((p) => p.ids), { maxTokens: cfg.max_completion_length, temperature: 0, stopStrings: stop }));
    const prompts: Prompt[] = holdout.map((p) => p.prompt);
    const scored = await score(prompts, answers.map((a) => a.text), holdout.map((p) => p.row));
    const mean = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / xs.length;
    const reward = mean(scored.total);
    return { loss: -reward, metrics: { reward, ...Object.fromEntries(Object.entries(scored.parts).map(([k, v]) => [`rewards/${k}`, mean(v)])) } };
  } : undefined;

  // ---- train ----
  const holdoutBefore = evaluate !== undefined && !cfg.resume ? await evaluate() : undefined;
  if (holdoutBefore !== undefined) log(`holdout before training: mean reward ${holdoutBefore.metrics.reward!.toFixed(4)} on ${holdout.length} prompts (greedy)`);
  const result = await trainWith(cfg, trainable, { loss, batches, evaluate }, hooks);
  const holdoutAfter = await evaluate?.();
  if (holdoutAfter !== undefined) log(`holdout after training: mean reward ${holdoutAfter.metrics.reward!.toFixed(4)}`);

  // ---- save ----
  close();
  valueHead?.dispose();
  const output = saveTrained(cfg, trainable);
  return { result, output, trainExamples: train.length, holdoutExamples: holdout.length, trainableParams: trainable.trainableParams, holdoutBefore, holdoutAfter };
}
