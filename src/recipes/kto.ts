// KTO on thumbs up/down, top to bottom: the policy made trainable (typically continuing an SFT adapter), unpaired
// feedback read (pairs count as one up, one down) with mismatched twins for the KL reference point, the reference
// chosen as DPO's, the shared loop with TRL's KTO loss, holdout loss and rewards, the adapter or model saved.
import type { TrainConfig } from './train-config.ts';
import { activationDtype } from './sft.ts';
import { feedbackExamples } from './preference-data.ts';
import { cachedReferenceLogps, loraReference, type ReferencePolicy } from './dpo-steps.ts';
import { evaluateKto, feedbackBatchSource, ktoStepLoss } from './kto-steps.ts';
import { saveTrained, trainableModel, trainWith, type RecipeRun, type TrainHooks } from './setup.ts';

export async function runKto(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<RecipeRun> {
  const log = hooks.log ?? (() => {});
  // ---- model ----
  const trainable = trainableModel(cfg, { log });
  const { loaded: { model, tokenizer }, template } = trainable;

  // ---- data ----
  const data = feedbackExamples({ ...cfg, template }, tokenizer, log);
  const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;
  const opts = { beta: cfg.beta, desirableWeight: cfg.desirable_weight, undesirableWeight: cfg.undesirable_weight };
  const up = data.train.filter((f) => f.label).length;
  log(`data: ${data.train.length} training answers (${up} desirable, ${data.train.length - up} undesirable), ${cfg.batch_size} a batch; holdout ${data.holdout.length}`);

  // ---- reference ----
  let reference: ReferencePolicy | undefined;
  let trainRef: Float32Array | undefined;
  let holdoutRef: Float32Array | undefined;
  if (trainable.lora !== undefined) {
    reference = loraReference(model, cfg.adapter !== undefined);
    log(`reference: ${cfg.adapter === undefined ? 'the base (the adapter switched off)' : `the starting adapter ${cfg.adapter}`}, on the same weights in memory`);
  } else {
    const cache = (items: typeof data.train, twins: typeof data.train) => cachedReferenceLogps(model, [...items, ...twins].map((f) => f.example), padId, false);
    trainRef = cache(data.train, data.trainMismatched);
    holdoutRef = cache(data.holdout, data.holdoutMismatched);
    log(`reference: log-probs of ${2 * (data.train.length + data.holdout.length)} answers cached before training`);
  }
  const batches = feedbackBatchSource(data.train, data.trainMismatched, { batchSize: cfg.batch_size, seed: cfg.seed }, padId, trainRef);

  // ---- loss and holdout ----
  const loss = ktoStepLoss(model, opts, reference, { checkpoint: cfg.gradient_checkpointing, rngs: trainable.rngs, activations: activationDtype(cfg) });
  const evaluate = data.holdout.length > 0 ? () => evaluateKto(model, data.holdout, data.holdoutMismatched, padId, opts, reference, holdoutRef) : undefined;

  // ---- train ----
  const holdoutBefore = evaluate !== undefined && !cfg.resume ? evaluate() : undefined;
  if (holdoutBefore !== undefined) log(`holdout before training: loss ${holdoutBefore.loss.toFixed(4)}`);
  const result = await trainWith(cfg, trainable, { loss, batches, evaluate }, hooks);
  const holdoutAfter = evaluate?.();
  if (holdoutAfter !== undefined) log(`holdout after training: loss ${holdoutAfter.loss.toFixed(4)}, reward margin ${holdoutAfter.metrics['rewards/margins']!.toFixed(3)}`);

  // ---- save ----
  const output = saveTrained(cfg, trainable);
  return { result, output, trainExamples: data.train.length, holdoutExamples: data.holdout.length, trainableParams: trainable.trainableParams, holdoutBefore, holdoutAfter };
}
