// Supervised fine-tuning, top to bottom: load the model (LoRA-wrapped or fully trainable), read and
// tokenise the data, batch (padded or packed), train with the shared loop, save adapter or model.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { saveModelFolder } from '../model/save.ts';
import { applyLora, loraLayers, setLoraTraining, type LoraConfig } from '../adapters/apply.ts';
import { saveAdapter } from '../adapters/peft.ts';
import { readDataset, splitExamples } from '../data/read.ts';
import { tokenizeExample, type TokenizedExample } from '../data/tokenize.ts';
import { nextTokenTargets, packExamples, padBatch, type Batch } from '../data/batch.ts';
import { DataIterator } from '../data/iterator.ts';
import type { Example } from '../data/formats.ts';
import { crossEntropy } from '../tensor/ops/loss.ts';
import { reshape } from '../tensor/ops/shape.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { tidy, type Tensor } from '../tensor/tensor.ts';
import { train, type StepMetrics, type TrainResult } from '../train/trainer.ts';
import type { SftConfig } from './sft-config.ts';

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
  let iterator: DataIterator<number, Batch> | DataIterator<TokenizedExample, Batch>;
  if (cfg.packing) {
    const packed = packExamples(trainTok, cfg.max_length, padId);
    const row = (r: number): Batch => sliceRows(packed, r, r + 1);
    iterator = new DataIterator(packed.rows.map((_, i) => i), { batchSize: cfg.batch_size, seed: cfg.seed, collate: (rows) => concatRows(rows.map(row)) });
    log(`data: ${trainTok.length} examples packed into ${packed.batch} rows of ${cfg.max_length}; holdout ${holdoutTok.length}`);
  } else {
    iterator = new DataIterator(trainTok, { batchSize: cfg.batch_size, seed: cfg.seed, collate: (items) => padBatch(items, padId) });
    log(`data: ${trainTok.length} training examples, ${holdoutTok.length} holdout`);
  }

  // ---- loss ----
  const vocab = config.vocabSize;
  const batchLoss = (b: Batch): Tensor => {
    const hidden = model.forward(b.ids, b.batch, { positions: b.positions, segments: b.segments, checkpoint: cfg.gradient_checkpointing, rngs });
    return crossEntropy(reshape(model.logits(hidden), [b.batch * b.time, vocab]), nextTokenTargets(b), { inPlaceBackward: true });
  };
  const holdoutBatches = chunk(holdoutTok, cfg.batch_size).map((items) => padBatch(items, padId));
  const evaluate = (): number =>
    noGrad(() => {
      if (cfg.method === 'lora') setLoraTraining(model, false);
      let sum = 0;
      let n = 0;
      for (const b of holdoutBatches)
        tidy(() => {
          sum += crossEntropy(reshape(model.logits(model.forward(b.ids, b.batch, { positions: b.positions })), [b.batch * b.time, vocab]), nextTokenTargets(b), { reduction: 'sum' }).item();
          n += b.lossTokens;
        });
      if (cfg.method === 'lora') setLoraTraining(model, true);
      return sum / n;
    });

  // ---- train ----
  const holdoutLossBefore = holdoutBatches.length > 0 && !cfg.resume ? evaluate() : undefined;
  if (holdoutLossBefore !== undefined) log(`holdout loss before training: ${holdoutLossBefore.toFixed(4)}`);
  if (cfg.method === 'lora') setLoraTraining(model, true);
  const result = await train({
    params,
    loss: (b: Batch) => ({ loss: batchLoss(b), tokens: b.ids.length }),
    batches: iterator,
    evaluate: holdoutBatches.length > 0 ? evaluate : undefined,
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
  const holdoutLossAfter = holdoutBatches.length > 0 ? evaluate() : undefined;

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

function chunk<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** Rows [from, to) of a batch. */
function sliceRows(b: Batch, from: number, to: number): Batch {
  const t = b.time;
  const labels = b.labels.subarray(from * t, to * t);
  return {
    ids: b.ids.subarray(from * t, to * t),
    labels,
    batch: to - from,
    time: t,
    positions: b.positions.subarray(from * t, to * t),
    segments: b.segments?.subarray(from * t, to * t),
    lossTokens: labels.reduce((n, l) => n + (l >= 0 ? 1 : 0), 0),
  };
}

/** Stacks rows of equal length into one batch. */
function concatRows(rows: Batch[]): Batch {
  const cat = (xs: Int32Array[]): Int32Array => {
    const out = new Int32Array(xs.reduce((n, x) => n + x.length, 0));
    let at = 0;
    for (const x of xs) {
      out.set(x, at);
      at += x.length;
    }
    return out;
  };
  return {
    ids: cat(rows.map((r) => r.ids)),
    labels: cat(rows.map((r) => r.labels)),
    batch: rows.reduce((n, r) => n + r.batch, 0),
    time: rows[0]!.time,
    positions: cat(rows.map((r) => r.positions)),
    segments: rows[0]!.segments === undefined ? undefined : cat(rows.map((r) => r.segments!)),
    lossTokens: rows.reduce((n, r) => n + r.lossTokens, 0),
  };
}

export function checkOutDir(cfg: SftConfig): void {
  if (!cfg.resume && existsSync(join(cfg.out, 'metrics.jsonl'))) throw new WhetError(`${cfg.out} already holds a run; pass --resume to continue it, or choose another --out`);
}
