// Supervised fine-tuning, top to bottom: load the model (LoRA-wrapped or fully trainable), read and
// tokenise the data, batch (padded or packed), train with the shared loop and steps, save adapter or model.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { modelContext } from '../model/context.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { saveModelFolder } from '../model/save.ts';
import { applyLora, loraLayers, setLoraTraining, type LoraConfig } from '../adapters/apply.ts';
import { saveAdapter } from '../adapters/peft.ts';
import { readDataset, splitExamples } from '../data/read.ts';
import { tokenizeExample, type TokenizedExample } from '../data/tokenize.ts';
import { bucketLength } from '../data/batch.ts';
import type { Example } from '../data/formats.ts';
import { train, type StepMetrics, type TrainResult } from '../train/trainer.ts';
import { estimateTrainingMemory } from '../train/memory-estimate.ts';
import type { SftConfig } from './sft-config.ts';
import { holdoutEvaluator, sftBatchSource, sftLoss } from './sft-steps.ts';

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

export interface SftHooks {
  onStep?: (m: StepMetrics) => void;
  signal?: { interrupted: boolean };
  log?: (line: string) => void;
}

export async function runSft(cfg: SftConfig, hooks: SftHooks = {}): Promise<SftRun> {
  const log = hooks.log ?? (() => {});
  // ---- model ----
  const loaded: LoadedModel = loadModel(cfg.model, { dtype: cfg.method === 'lora' ? cfg.base_dtype : 'f32' });
  const { model, tokenizer, config } = loaded;
  const lora: LoraConfig = { r: cfg.rank, alpha: cfg.alpha, dropout: cfg.dropout, targetModules: cfg.target_modules, rsLora: cfg.rslora, seed: cfg.seed };
  if (cfg.method === 'lora') applyLora(model, lora);
  const params = new Map(model.namedTensors().filter(([, t]) => t.requiresGrad));
  const trainableParams = [...params.values()].reduce((n, t) => n + t.size, 0);
  const rngs = cfg.method === 'lora' && cfg.dropout > 0 ? [loraLayers(model)[0]!.layer.dropoutRng] : [];
  log(`model ${cfg.model}: ${config.modelType}, ${config.numLayers} layers; ${cfg.method} with ${trainableParams.toLocaleString('en')} trainable parameters`);
  const context = modelContext(config);
  if (cfg.max_length > context)
    log(`warning: max_length ${cfg.max_length} exceeds the model's context of ${context} tokens: positions past ${context} are outside what it was trained on (lower --max-length to ${context})`);

  // ---- data ----
  const template = cfg.chat_template === undefined ? undefined : readFileSync(cfg.chat_template, 'utf8');
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
  // auto: a bf16 base is a memory-saving run, and the MLP activations kept for backward follow it.
  const activations = cfg.activation_dtype === 'auto' ? (cfg.method === 'lora' ? cfg.base_dtype : 'f32') : cfg.activation_dtype;
  const estimate = estimateTrainingMemory(model, { tokens: cfg.packing ? cfg.batch_size * cfg.max_length : maxBatchTokens(trainTok, cfg), gradientCheckpointing: cfg.gradient_checkpointing, activations });
  log(`memory estimate for the largest batch: ${gb(estimate.totalBytes)} (weights ${gb(estimate.weightsBytes)}, optimizer ${gb(estimate.optimizerBytes)}, activations ${gb(estimate.activationsBytes)}, output head ${gb(estimate.headBytes)})`);

  // ---- loss and holdout ----
  const loss = sftLoss(model, { checkpoint: cfg.gradient_checkpointing, rngs, activations });
  // Holdout batches as large as the biggest training batch: without a backward they need far less memory.
  const evaluate = holdoutTok.length > 0 ? holdoutEvaluator(model, holdoutTok, padId, Math.max(cfg.batch_size * cfg.max_length, 4096), cfg.method === 'lora') : undefined;

  // ---- train ----
  const holdoutLossBefore = evaluate !== undefined && !cfg.resume ? evaluate() : undefined;
  if (holdoutLossBefore !== undefined) log(`holdout loss before training: ${holdoutLossBefore.toFixed(4)}`);
  if (cfg.method === 'lora') setLoraTraining(model, true);
  const result = await train({
    params,
    loss,
    batches,
    evaluate,
    steps: cfg.steps,
    lr: cfg.lr,
    schedule: cfg.schedule,
    warmupSteps: cfg.warmup_steps,
    minLrRatio: cfg.min_lr_ratio,
    weightDecay: cfg.weight_decay,
    gradAccum: cfg.grad_accum,
    maxGradNorm: cfg.max_grad_norm,
    evalEvery: cfg.eval_every,
    saveEvery: cfg.save_every,
    earlyStoppingPatience: cfg.early_stopping_patience,
    keepCheckpoints: cfg.keep_checkpoints,
    outDir: cfg.out,
    resume: cfg.resume,
    rngs,
    onStep: hooks.onStep,
    signal: hooks.signal,
  });
  if (cfg.method === 'lora') setLoraTraining(model, false);
  const holdoutLossAfter = result.finalHoldout ?? evaluate?.(); // the last step's evaluation is of the final weights

  // ---- save ----
  let output: string;
  if (cfg.method === 'lora') {
    output = join(cfg.out, 'adapter');
    saveAdapter(output, model, lora, cfg.model);
  } else {
    output = join(cfg.out, 'model');
    saveModelFolder(loaded, output);
  }
  model.dispose();
  return { result, output, trainExamples: trainTok.length, holdoutExamples: holdoutTok.length, trainableParams, holdoutLossBefore, holdoutLossAfter };
}

/** Tokens of the largest padded batch: the longest examples, batch_size of them (or fewer under a token budget). */
function maxBatchTokens(examples: readonly TokenizedExample[], cfg: SftConfig): number {
  const longest = Math.max(...examples.map((e) => e.ids.length));
  const padded = bucketLength(longest, cfg.max_length);
  const rows = cfg.max_batch_tokens > 0 ? Math.max(1, Math.min(cfg.batch_size, Math.floor(cfg.max_batch_tokens / padded))) : cfg.batch_size;
  return rows * padded;
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

export function checkOutDir(cfg: SftConfig): void {
  if (!cfg.resume && existsSync(join(cfg.out, 'metrics.jsonl'))) throw new WhetError(`${cfg.out} already holds a run; pass --resume to continue it, or choose another --out`);
}
