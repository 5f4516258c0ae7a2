// Reward model training, top to bottom: the LM made a reward model (its head replaced by a scalar `score`, LoRA or
// full), preference pairs read and tokenised, the shared loop with the Bradley–Terry loss, holdout pairwise
// accuracy before and after, and the result saved as PEFT's SEQ_CLS adapter or an HF …ForSequenceClassification folder.
import { estimateTrainingMemory } from '../train/memory-estimate.ts';
import type { TrainResult } from '../train/trainer.ts';
import type { TrainConfig } from './train-config.ts';
import { activationDtype } from './sft.ts';
import { preferencePairs } from './preference-data.ts';
import { rewardBatchSource, rewardStepLoss } from './reward-steps.ts';
import { evaluateRewardPairs, type RewardHoldout } from '../eval/reward.ts';
import { saveTrained, trainableModel, trainWith, type TrainHooks } from './setup.ts';

export interface RewardRun {
  result: TrainResult;
  output: string;
  trainPairs: number;
  holdoutPairs: number;
  trainableParams: number;
  holdoutBefore?: RewardHoldout;
  holdoutAfter?: RewardHoldout;
}

export async function runReward(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<RewardRun> {
  const log = hooks.log ?? (() => {});
  // ---- model ----
  const trainable = trainableModel(cfg, { scoreHead: true, log });
  const { loaded: { model, tokenizer }, template } = trainable;

  // ---- data ----
  const pairs = preferencePairs({ ...cfg, template }, tokenizer, log);
  const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;
  const batches = rewardBatchSource(pairs.train, { batchSize: cfg.batch_size, seed: cfg.seed }, padId);
  log(`data: ${pairs.train.length} training pairs in batches of ${cfg.batch_size} (a ranking's pairs together); holdout ${pairs.holdout.length}`);
  const activations = activationDtype(cfg);
  const longest = Math.max(...pairs.train.flatMap((p) => [p.chosen.ids.length, p.rejected.ids.length]));
  const estimate = estimateTrainingMemory(model, { tokens: 2 * cfg.batch_size * longest, gradientCheckpointing: cfg.gradient_checkpointing, activations });
  log(`memory estimate for the largest batch: ${(estimate.totalBytes / 1e9).toFixed(2)} GB`);

  // ---- loss and holdout ----
  const loss = rewardStepLoss(model, { checkpoint: cfg.gradient_checkpointing, rngs: trainable.rngs, activations, centerCoefficient: cfg.center_rewards_coefficient });
  const holdout = (): RewardHoldout => evaluateRewardPairs(model, pairs.holdout, padId);
  const evaluate = pairs.holdout.length > 0 ? () => {
    const { loss: l, accuracy, margin } = holdout();
    return { loss: l, metrics: { accuracy, margin } };
  } : undefined;

  // ---- train ----
  const holdoutBefore = pairs.holdout.length > 0 && !cfg.resume ? holdout() : undefined;
  if (holdoutBefore !== undefined) log(`holdout before training: accuracy ${holdoutBefore.accuracy.toFixed(3)}, loss ${holdoutBefore.loss.toFixed(4)}`);
  const result = await trainWith(cfg, trainable, { loss, batches, evaluate }, hooks);
  const holdoutAfter = pairs.holdout.length > 0 ? holdout() : undefined;
  if (holdoutAfter !== undefined)
    log(`holdout after training: accuracy ${holdoutAfter.accuracy.toFixed(3)} on ${holdoutAfter.pairs} pairs, mean margin ${holdoutAfter.margin.toFixed(3)}, reward/length correlation ${holdoutAfter.length_correlation.toFixed(2)}`);

  // ---- save ----
  const output = saveTrained(cfg, trainable);
  return { result, output, trainPairs: pairs.train.length, holdoutPairs: pairs.holdout.length, trainableParams: trainable.trainableParams, holdoutBefore, holdoutAfter };
}
