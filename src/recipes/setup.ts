// The parts every training recipe shares around its own loss and batches: the model made trainable (LoRA on a
// frozen base, a PEFT adapter to continue, or every weight; a score head for reward models), the chat template,
// the trainer called with the run's settings, and the result saved as a PEFT adapter or an HF folder.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { modelContext } from '../model/context.ts';
import { loadModel, quantizedTensors, type LoadedModel } from '../model/load.ts';
import { saveModelFolder } from '../model/save.ts';
import { initModel } from '../model/init.ts';
import { applyLora, loraLayers, mergeLora, setLoraTraining, type LoraConfig } from '../adapters/apply.ts';
import { adapterTaskType, loadAdapter, saveAdapter } from '../adapters/peft.ts';
import { Rng } from '../tensor/random.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { train, type BatchSource, type StepMetrics, type TrainOptions, type TrainResult } from '../train/trainer.ts';
import type { TrainConfig } from './train-config.ts';

export interface TrainHooks {
  onStep?: (m: StepMetrics) => void;
  signal?: { interrupted: boolean };
  log?: (line: string) => void;
}

/** What a recipe's run returns: the trainer's result, where the weights went, and the holdout before and after. */
export interface RecipeRun {
  result: TrainResult;
  /** The adapter folder (LoRA) or model folder (full) written. */
  output: string;
  trainExamples: number;
  holdoutExamples: number;
  trainableParams: number;
  /** The holdout's loss (and the method's metrics) before and after training. */
  holdoutBefore?: { loss: number; metrics?: Record<string, number> };
  holdoutAfter?: { loss: number; metrics?: Record<string, number> };
}

export interface TrainableModel {
  loaded: LoadedModel;
  /** The adapter's settings (LoRA runs): cfg's, or those of the adapter it continues. */
  lora?: LoraConfig;
  params: Map<string, Tensor>;
  trainableParams: number;
  /** Generators the forward pass draws from (LoRA dropout), saved in checkpoints. */
  rngs: Rng[];
  /** The Jinja chat template file's text, when cfg names one. */
  template?: string;
}

/**
 * Loads cfg.model and makes it trainable: LoRA on a frozen base (bf16 with base_dtype bf16), continuing
 * cfg.adapter if given; or every weight in f32 (cfg.adapter merged in first). `scoreHead` makes it a reward model.
 */
export function trainableModel(cfg: TrainConfig, opts: { scoreHead?: boolean; log?: (line: string) => void } = {}): TrainableModel {
  const lora = cfg.finetuning === 'lora';
  const loaded = cfg.init !== undefined ? initModel(cfg.init, cfg.tokenizer, cfg.seed) : loadModel(cfg.model, { dtype: lora ? cfg.base_dtype : 'f32' });
  const { model, config } = loaded;
  const quantized = quantizedTensors(model);
  if (!lora && quantized.length > 0)
    throw new WhetError(
      `${cfg.model} stores ${quantized.length} quantised matrices (${quantized[0]}, …): full fine-tuning updates every weight and needs them in full precision. ` +
        'Train LoRA on it instead (--method lora: the base stays quantised and only the adapter learns), or start from the f32/bf16 original.',
    );
  if (opts.scoreHead === true) {
    config.padTokenId ??= loaded.tokenizer.padId ?? loaded.tokenizer.eosId;
    model.attachScoreHead(new Rng(cfg.seed ^ 0x2c1b3c6d));
  }
  let loraConfig: LoraConfig | undefined;
  if (cfg.adapter !== undefined) {
    if (opts.scoreHead !== true && adapterTaskType(cfg.adapter) === 'SEQ_CLS') throw new WhetError(`${cfg.adapter}: a reward model's adapter cannot start a ${cfg.method} run (it scores text)`);
    loraConfig = loadAdapter(cfg.adapter, model, { seed: cfg.seed }).config;
    if (!lora) {
      mergeLora(model);
      for (const [, t] of model.namedTensors()) t.requireGrad(true);
      loraConfig = undefined;
    }
  } else if (lora) {
    loraConfig = { r: cfg.rank, alpha: cfg.alpha, dropout: cfg.dropout, targetModules: cfg.target_modules, rsLora: cfg.rslora, seed: cfg.seed };
    applyLora(model, loraConfig);
  }
  model.score?.weight.requireGrad(true); // the reward head trains whole, LoRA or not
  const params = new Map(model.namedTensors().filter(([, t]) => t.requiresGrad));
  const trainableParams = [...params.values()].reduce((n, t) => n + t.size, 0);
  const rngs = lora && loraConfig!.dropout > 0 ? [loraLayers(model)[0]!.layer.dropoutRng] : [];
  const log = opts.log ?? (() => {});
  const from = cfg.adapter === undefined ? '' : ` starting from ${cfg.adapter}`;
  log(`model ${cfg.init !== undefined ? `${cfg.init} (random initialisation)` : cfg.model}: ${config.modelType}, ${config.numLayers} layers; ${cfg.method} (${cfg.finetuning}${from}) with ${trainableParams.toLocaleString('en')} trainable parameters`);
  const context = modelContext(config);
  if (cfg.max_length > context)
    log(`warning: max_length ${cfg.max_length} exceeds the model's context of ${context} tokens: positions past ${context} are outside what it was trained on (lower --max-length to ${context})`);
  const template = cfg.chat_template === undefined ? undefined : readFileSync(cfg.chat_template, 'utf8');
  return { loaded, lora: lora ? loraConfig : undefined, params, trainableParams, rngs, ...(template !== undefined ? { template } : {}) };
}

/** Runs the shared trainer with the run's settings, LoRA dropout on while it trains. */
export async function trainWith<B>(
  cfg: TrainConfig,
  m: TrainableModel,
  parts: { loss: TrainOptions<B>['loss']; batches: BatchSource<B>; evaluate?: TrainOptions<B>['evaluate'] },
  hooks: TrainHooks,
): Promise<TrainResult> {
  if (m.lora !== undefined) setLoraTraining(m.loaded.model, true);
  try {
    return await train({
      params: m.params,
      ...parts,
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
      rngs: m.rngs,
      onStep: hooks.onStep,
      signal: hooks.signal,
    });
  } finally {
    if (m.lora !== undefined) setLoraTraining(m.loaded.model, false);
  }
}

/** Saves the trained weights (out/adapter, a PEFT adapter; or out/model, an HF folder) and frees the model; returns the path. */
export function saveTrained(cfg: TrainConfig, m: TrainableModel): string {
  let output: string;
  if (m.lora !== undefined) {
    output = join(cfg.out, 'adapter');
    saveAdapter(output, m.loaded.model, m.lora, cfg.model);
  } else {
    output = join(cfg.out, 'model');
    saveModelFolder(m.loaded, output);
  }
  m.loaded.model.dispose();
  return output;
}
