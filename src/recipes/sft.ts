// Supervised fine-tuning, top to bottom: the model made trainable (setup.ts), the data read and tokenised, batches
// (padded or packed), the shared loop with SFT's chunked loss and holdout, the adapter or model saved.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { readDataset, splitExamples } from '../data/read.ts';
import { tokenizeExample, type TokenizedExample } from '../data/tokenize.ts';
import { bucketLength } from '../data/batch.ts';
import type { Example } from '../data/formats.ts';
import type { TrainResult } from '../train/trainer.ts';
import { estimateTrainingMemory } from '../train/memory-estimate.ts';
import type { TrainConfig } from './train-config.ts';
import { holdoutEvaluator, sftBatchSource, sftLoss } from './sft-steps.ts';
import { saveTrained, trainableModel, trainWith, type TrainHooks } from './setup.ts';

export interface SftRun {
  result: TrainResult;
  /** Where the trained adapter (lora) or model folder (full) was written. */
  output: string;
  trainExamples: number;
  holdoutExamples: number;
  trainableParams: number;
  holdoutLossBefore?: number;
  holdoutLossAfter?: number;
}

export async function runSft(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<SftRun> {
  const log = hooks.log ?? (() => {});
  // ---- model ----
  const trainable = trainableModel(cfg, { log });
  const { loaded: { model, tokenizer }, template } = trainable;

  // ---- data ----
  const read = (path: string): Example[] => {
    const d = readDataset(path);
    if (d.errorCount > 0) throw new WhetError(`${path}: ${d.errorCount} invalid rows, e.g.\n  ${d.errors.slice(0, 5).join('\n  ')}\n(run 'whet data validate ${path}' for the full list)`);
    return d.examples;
  };
  let trainSet = read(cfg.data);
  let holdoutSet: Example[] = [];
  if (cfg.holdout !== undefined) holdoutSet = read(cfg.holdout);
  else if (cfg.holdout_fraction > 0 && trainSet.length >= 20) ({ train: trainSet, holdout: holdoutSet } = splitExamples(trainSet, cfg.holdout_fraction, cfg.seed));
  const tok = (e: Example): TokenizedExample => tokenizeExample(e, tokenizer, { template, trainOnPrompt: cfg.train_on_prompt, maxLength: cfg.max_length });
  const trainTok = trainSet.map(tok).filter((t) => t.labels.some((l) => l >= 0));
  const holdoutTok = holdoutSet.map(tok).filter((t) => t.labels.some((l) => l >= 0));
  if (trainTok.length === 0) throw new WhetError(`${cfg.data}: no example has any token to learn from`);
  const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;
  const { batches, description } = sftBatchSource(trainTok, cfg, padId);
  log(`data: ${description}; holdout ${holdoutTok.length}`);
  const activations = activationDtype(cfg);
  const estimate = estimateTrainingMemory(model, { tokens: cfg.packing ? cfg.batch_size * cfg.max_length : maxBatchTokens(trainTok, cfg), gradientCheckpointing: cfg.gradient_checkpointing, activations });
  log(`memory estimate for the largest batch: ${gb(estimate.totalBytes)} (weights ${gb(estimate.weightsBytes)}, optimizer ${gb(estimate.optimizerBytes)}, activations ${gb(estimate.activationsBytes)}, output head ${gb(estimate.headBytes)})`);

  // ---- loss and holdout ----
  const loss = sftLoss(model, { checkpoint: cfg.gradient_checkpointing, rngs: trainable.rngs, activations });
  // Holdout batches as large as the biggest training batch: without a backward they need far less memory.
  const evaluate = holdoutTok.length > 0 ? holdoutEvaluator(model, holdoutTok, padId, Math.max(cfg.batch_size * cfg.max_length, 4096), trainable.lora !== undefined) : undefined;

  // ---- train ----
  const holdoutLossBefore = evaluate !== undefined && !cfg.resume ? evaluate() : undefined;
  if (holdoutLossBefore !== undefined) log(`holdout loss before training: ${holdoutLossBefore.toFixed(4)}`);
  const result = await trainWith(cfg, trainable, { loss, batches, evaluate }, hooks);
  const holdoutLossAfter = result.finalHoldout ?? evaluate?.(); // the last step's evaluation is of the final weights

  // ---- save ----
  const output = saveTrained(cfg, trainable);
  return { result, output, trainExamples: trainTok.length, holdoutExamples: holdoutTok.length, trainableParams: trainable.trainableParams, holdoutLossBefore, holdoutLossAfter };
}

/** auto: a bf16 or quantised base is a memory-saving run, and the MLP activations kept for backward follow it. */
export function activationDtype(cfg: TrainConfig): 'f32' | 'bf16' {
  if (cfg.activation_dtype !== 'auto') return cfg.activation_dtype;
  return cfg.finetuning === 'lora' && cfg.base_dtype !== 'f32' ? 'bf16' : 'f32';
}

/** Tokens of the largest padded batch: the longest examples, batch_size of them (or fewer under a token budget). */
function maxBatchTokens(examples: readonly TokenizedExample[], cfg: TrainConfig): number {
  const longest = Math.max(...examples.map((e) => e.ids.length));
  const padded = bucketLength(longest, cfg.max_length);
  const rows = cfg.max_batch_tokens > 0 ? Math.max(1, Math.min(cfg.batch_size, Math.floor(cfg.max_batch_tokens / padded))) : cfg.batch_size;
  return rows * padded;
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

export function checkOutDir(cfg: TrainConfig): void {
  if (!cfg.resume && existsSync(join(cfg.out, 'metrics.jsonl'))) throw new WhetError(`${cfg.out} already holds a run; pass --resume to continue it, or choose another --out`);
}
