// Pretraining (or continued pretraining): plain-text documents, each ended by EOS, cut to max_length and packed
// (positions restart and attention stays within each document), loss on every token, every weight trained; from
// --model or from a random initialisation of --init's architecture. The loop, holdout, checkpoints and the
// saved HF folder are SFT's.
import { WhetError } from '../errors.ts';
import { readDocuments, tokenizeDocuments } from '../data/documents.ts';
import { splitExamples } from '../data/read.ts';
import type { TrainConfig } from './train-config.ts';
import { holdoutEvaluator, sftBatchSource, sftLoss } from './sft-steps.ts';
import { saveTrained, trainableModel, trainWith, type RecipeRun, type TrainHooks } from './setup.ts';

export async function runPretrain(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<RecipeRun> {
  const log = hooks.log ?? (() => {});
  const trainable = trainableModel(cfg, { log });
  const { model, tokenizer } = trainable.loaded;

  let trainDocs = readDocuments(cfg.data);
  let holdoutDocs: string[] = [];
  if (cfg.holdout !== undefined) holdoutDocs = readDocuments(cfg.holdout);
  else if (cfg.holdout_fraction > 0 && trainDocs.length >= 2) ({ train: trainDocs, holdout: holdoutDocs } = splitExamples(trainDocs, cfg.holdout_fraction, cfg.seed));
  const train = tokenizeDocuments(trainDocs, tokenizer, cfg.max_length);
  const holdout = tokenizeDocuments(holdoutDocs, tokenizer, cfg.max_length);
  if (train.length === 0) throw new WhetError(`${cfg.data}: no document has two tokens to learn from`);
  const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;
  const { batches, description } = sftBatchSource(train, { ...cfg, packing: true }, padId);
  const tokens = (pieces: typeof train): number => pieces.reduce((n, p) => n + p.ids.length, 0);
  log(`data: ${trainDocs.length} documents, ${tokens(train).toLocaleString('en')} tokens (${description}); holdout ${holdoutDocs.length} documents, ${tokens(holdout).toLocaleString('en')} tokens`);

  const loss = sftLoss(model, { checkpoint: cfg.gradient_checkpointing, rngs: trainable.rngs, activations: cfg.activation_dtype === 'bf16' ? 'bf16' : 'f32' });
  const evaluate = holdout.length > 0 ? holdoutEvaluator(model, holdout, padId, Math.max(cfg.batch_size * cfg.max_length, 4096), false) : undefined;
  const before = evaluate !== undefined && !cfg.resume ? evaluate() : undefined;
  if (before !== undefined) log(`holdout loss before training: ${before.toFixed(4)}`);
  const result = await trainWith(cfg, trainable, { loss, batches, evaluate }, hooks);
  const after = result.finalHoldout ?? evaluate?.();
  const output = saveTrained(cfg, trainable);
  return {
    result,
    output,
    trainExamples: train.length,
    holdoutExamples: holdout.length,
    trainableParams: trainable.trainableParams,
    holdoutBefore: before === undefined ? undefined : { loss: before },
    holdoutAfter: after === undefined ? undefined : { loss: after },
  };
}
