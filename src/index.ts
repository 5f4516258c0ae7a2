// Whetstone's library API: the one public entry point.
export * from './tensor/index.ts';
export { linearCrossEntropy, linearLogProbs, defaultChunkRows } from './tensor/ops/linear-loss.ts';
export type { Backend } from './backend/backend.ts';
export { getBackend, setBackend, nativeBackend, referenceBackend } from './backend/registry.ts';
export { AdamW } from './optim/adamw.ts';
export type { AdamWOptions } from './optim/adamw.ts';
export { clipGradNorm, gradNorm } from './optim/clip.ts';
export { Module } from './nn/module.ts';
export { Linear, Embedding, RMSNorm } from './nn/layers.ts';
export { checkpoint } from './tensor/checkpoint.ts';
export { lrAt } from './optim/schedule.ts';
export type { Schedule, ScheduleKind } from './optim/schedule.ts';

// Models: load, convert, generate, measure
export { loadModel } from './model/load.ts';
export type { LoadedModel, LoadOptions } from './model/load.ts';
export { LlamaModel } from './model/llama.ts';
export { KVCache } from './model/kv-cache.ts';
export { configFromHf, configToHf } from './model/config.ts';
export type { ModelConfig } from './model/config.ts';
export type { Tokenizer } from './tokenizer/tokenizer.ts';
export { tokenizerFromJson } from './tokenizer/hf.ts';
export { tokenizerFromGguf } from './tokenizer/gguf.ts';
export { renderChat, chatTemplateOf } from './tokenizer/chat-template.ts';
export { convert } from './model/convert.ts';
export { saveModelFolder } from './model/save.ts';
export { pullModel } from './hub/pull.ts';
export type { PullOptions, PullResult } from './hub/pull.ts';
export { resolveModelPath, defaultCacheDir, parseModelRef } from './hub/cache.ts';
export { generate } from './generate/generate.ts';
export type { GenerateOptions, Generation } from './generate/generate.ts';
export { sampleToken } from './generate/sampling.ts';
export { perplexity } from './eval/perplexity.ts';

// Fine-tuning: data, adapters, the training loop and the SFT recipe
export { readDataset, splitExamples } from './data/read.ts';
export type { Example } from './data/formats.ts';
export { tokenizeExample } from './data/tokenize.ts';
export { padBatch, packExamples, nextTokenTargets } from './data/batch.ts';
export { DataIterator } from './data/iterator.ts';
export { rehearsalTexts, withRehearsal } from './data/rehearsal.ts';
export type { RehearsalDocument } from './data/rehearsal.ts';
export { applyLora, mergeLora, setLoraEnabled, setLoraTraining, loraParameters } from './adapters/apply.ts';
export type { LoraConfig } from './adapters/apply.ts';
export { LoraLinear } from './adapters/lora.ts';
export { saveAdapter, loadAdapter } from './adapters/peft.ts';
export { exportGgufLora } from './adapters/gguf-lora.ts';
export { readGgufLora, writeGgufLora } from './formats/gguf-lora.ts';
export { train } from './train/trainer.ts';
export type { TrainOptions, TrainResult, StepMetrics, BatchSource } from './train/trainer.ts';
export { runSft } from './recipes/sft.ts';
export { resolveTrainConfig } from './recipes/train-config.ts';

// Learning from preferences: data, losses, the reward, DPO and KTO recipes
export { readPreferenceData, parsePreferenceRow } from './data/preference.ts';
export type { PreferencePair, Feedback } from './data/preference.ts';
export { tokenizePair, tokenizeFeedback } from './data/preference-tokenize.ts';
export { dpoLoss, rewardLoss, ktoLoss } from './train/preference-loss.ts';
export { grpoLoss, rlooLoss, ppoLoss, valueLoss, groupAdvantages, rlooAdvantages, ppoRewards, gae } from './train/rl-loss.ts';
export { runReward } from './recipes/reward.ts';
export { runDpo } from './recipes/dpo.ts';
export { runKto } from './recipes/kto.ts';
export type { TrainConfig } from './recipes/train-config.ts';

// Evaluation
export { exactMatch, normalizedMatch, loadScorer } from './eval/metrics.ts';
export { executionAccuracy } from './eval/sql.ts';
export { forgettingCheck, forgettingVerdict } from './eval/forgetting.ts';
export { writeReport } from './eval/report.ts';
export { loadRewardModel, scoreExamples, evaluateRewardPairs } from './eval/reward.ts';
export { winRate, judgeAnswers } from './eval/win-rate.ts';
export { WhetError } from './errors.ts';

// RL rewards
export { combineRewards, batchReward } from './rl/combine.ts';
export type { RewardFn, RewardScore, NamedReward, CombinedReward, BatchReward } from './rl/combine.ts';
export { exactReward, normalizedReward, regexReward, sqlReward } from './rl/builtin-rewards.ts';
export { loadRewardFunction, parseRewardSpec, rewardsFromSpecs, rewardFunctions } from './rl/rewards.ts';
