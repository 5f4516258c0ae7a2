// DPO (and its ipo, hinge, robust and reference-free simpo variants), top to bottom: the policy made trainable
// (typically continuing an SFT adapter), preference pairs read and tokenised, the reference chosen (LoRA: the same
// weights with the starting adapter or none; full: log-probs cached before training), the shared loop with TRL's
// metrics per step, holdout loss and reward accuracy, the adapter or model saved.
import type { TrainConfig } from './train-config.ts';
import type { DpoLossType } from '../train/preference-loss.ts';
import { activationDtype } from './sft.ts';
import { preferencePairs } from './preference-data.ts';
import { averagesLogps, cachedReferenceLogps, dpoStepLoss, evaluateDpo, loraReference, pairBatchSource, type DpoStepOptions, type ReferencePolicy } from './dpo-steps.ts';
import { saveTrained, trainableModel, trainWith, type RecipeRun, type TrainHooks } from './setup.ts';

/** TRL's DPO settings from the run's config. */
export function dpoOptions(cfg: TrainConfig): DpoStepOptions {
  return { loss: (cfg.loss_type ?? 'sigmoid') as DpoLossType, beta: cfg.beta, labelSmoothing: cfg.label_smoothing, simpoGamma: cfg.simpo_gamma, rpoAlpha: cfg.rpo_alpha };
}

export async function runDpo(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<RecipeRun> {
  const log = hooks.log ?? (() => {});
  // ---- model ----
  const trainable = trainableModel(cfg, { log });
  const { loaded: { model, tokenizer }, template } = trainable;

  // ---- data ----
  const pairs = preferencePairs({ ...cfg, template }, tokenizer, log);
  const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;
  const opts = dpoOptions(cfg);

  // ---- reference ----
  const average = averagesLogps(opts.loss);
  let reference: ReferencePolicy | undefined;
  let trainRef: Float32Array | undefined;
  let holdoutRef: Float32Array | undefined;
  if (opts.loss === 'simpo') log('reference: none (simpo is reference-free)');
  else if (trainable.lora !== undefined) {
    reference = loraReference(model, cfg.adapter !== undefined);
    log(`reference: ${cfg.adapter === undefined ? 'the base (the adapter switched off)' : `the starting adapter ${cfg.adapter}`}, on the same weights in memory`);
  } else {
    const t0 = performance.now();
    const answers = (ps: typeof pairs.train) => [...ps.map((p) => p.chosen), ...ps.map((p) => p.rejected)];
    trainRef = cachedReferenceLogps(model, answers(pairs.train), padId, average);
    holdoutRef = cachedReferenceLogps(model, answers(pairs.holdout), padId, average);
    log(`reference: log-probs of ${2 * (pairs.train.length + pairs.holdout.length)} answers cached before training (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const batches = pairBatchSource(pairs.train, { batchSize: cfg.batch_size, seed: cfg.seed }, padId, trainRef);
  log(`data: ${pairs.train.length} training pairs, ${cfg.batch_size} a batch (${2 * cfg.batch_size} rows); holdout ${pairs.holdout.length}`);

  // ---- loss and holdout ----
  const loss = dpoStepLoss(model, opts, reference, { checkpoint: cfg.gradient_checkpointing, rngs: trainable.rngs, activations: activationDtype(cfg) });
  const evaluate = pairs.holdout.length > 0 ? () => evaluateDpo(model, pairs.holdout, padId, opts, reference, holdoutRef) : undefined;

  // ---- train ----
  const holdoutBefore = evaluate !== undefined && !cfg.resume ? evaluate() : undefined;
  if (holdoutBefore !== undefined) log(`holdout before training: loss ${holdoutBefore.loss.toFixed(4)}, reward accuracy ${holdoutBefore.metrics['rewards/accuracies']!.toFixed(3)}`);
  const result = await trainWith(cfg, trainable, { loss, batches, evaluate }, hooks);
  const holdoutAfter = evaluate?.();
  if (holdoutAfter !== undefined) log(`holdout after training: loss ${holdoutAfter.loss.toFixed(4)}, reward accuracy ${holdoutAfter.metrics['rewards/accuracies']!.toFixed(3)}, margin ${holdoutAfter.metrics['rewards/margins']!.toFixed(3)}`);

  // ---- save ----
  const output = saveTrained(cfg, trainable);
  return { result, output, trainExamples: pairs.train.length, holdoutExamples: pairs.holdout.length, trainableParams: trainable.trainableParams, holdoutBefore, holdoutAfter };
}
