// `whet train --config FILE.yaml [--option value ...]`: SFT, a reward model, DPO or KTO (full or LoRA); every
// config option is also a flag. Progress on stderr; the run summary on stdout (JSON with --json).
import { checkOutDir, runSft } from '../recipes/sft.ts';
import { runReward } from '../recipes/reward.ts';
import { runDpo } from '../recipes/dpo.ts';
import { runKto } from '../recipes/kto.ts';
import { runRl } from '../recipes/rl.ts';
import { runPretrain } from '../recipes/pretrain.ts';
import type { RecipeRun, TrainHooks } from '../recipes/setup.ts';
import type { TrainConfig } from '../recipes/train-config.ts';
import { flagOf, resolveTrainConfig, TRAIN_KEYS } from '../recipes/train-config.ts';
import { parseCommand } from './options.ts';
import { trainSpec } from './specs.ts';
import { writeRunInfo, type RunInfo } from '../train/run-info.ts';
import { Progress } from './progress.ts';

export async function trainCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(trainSpec, argv, { noDefaults: true }); // defaults come from resolveTrainConfig, under the config file
  if (parsed === null) return 0;
  const values = parsed.values;
  const flags: Record<string, unknown> = {};
  for (const key of TRAIN_KEYS) flags[key] = values[flagOf(key)];
  const cfg = resolveTrainConfig(values.config as string | undefined, flags);
  checkOutDir(cfg);

  const signal = { interrupted: false };
  const onSigint = (): void => {
    if (signal.interrupted) process.exit(130); // a second Ctrl-C stops at once
    signal.interrupted = true;
    process.stderr.write('\ninterrupted: finishing the current step and saving a checkpoint (Ctrl-C again to abort)\n');
  };
  process.on('SIGINT', onSigint);
  const bar = new Progress(`train ${cfg.method === 'sft' ? cfg.finetuning : `${cfg.method} ${cfg.finetuning}`}`, cfg.steps);
  const showMemory = process.env.WHET_MEMORY === '1';
  // run.json lets `whet studio --runs` show the run's method, model and state while it trains and after.
  const info: RunInfo = { method: cfg.method, model: cfg.model, state: 'running', pid: process.pid, started: new Date().toISOString(), config: { ...cfg } };
  writeRunInfo(cfg.out, info);
  try {
    const run = await runMethod(cfg, {
      signal,
      log: (line) => process.stderr.write(`${line}\n`),
      onStep: (m) => {
        const memory = `${m.live_mb}+${m.pooled_mb} MiB (peak ${m.peak_mb})`;
        const shown = Object.fromEntries(Object.entries(m.metrics ?? {}).filter(([k]) => BAR_METRICS.has(k)).map(([k, v]) => [k.replace('rewards/', ''), v]));
        bar.update(m.step, {
          loss: m.loss,
          ...shown,
          ...(m.holdout_loss !== undefined ? { holdout: m.holdout_loss, eval: `${m.eval_s!.toFixed(1)}s` } : {}),
          'tok/s': Math.round(m.tokens_per_s).toString(),
          ...(showMemory ? { 'live+pooled': memory } : {}),
        });
        if (showMemory) process.stderr.write(`\nmemory step ${m.step}: live+pooled ${memory}${m.eval_s !== undefined ? `, holdout evaluation ${m.eval_s.toFixed(1)} s` : ''}\n`);
      },
    });
    bar.done();
    const summary = {
      method: cfg.method,
      finetuning: cfg.finetuning,
      steps: run.result.steps,
      stopped_by: run.result.stoppedBy,
      output: run.output,
      checkpoint: run.result.lastCheckpoint,
      trainable_params: run.trainableParams,
      train_examples: run.trainExamples,
      holdout_examples: run.holdoutExamples,
      holdout_loss_before: run.holdoutBefore?.loss,
      holdout_loss_after: run.holdoutAfter?.loss,
      ...(run.holdoutAfter?.metrics !== undefined ? { holdout_metrics_before: run.holdoutBefore?.metrics, holdout_metrics_after: run.holdoutAfter.metrics } : {}),
    };
    writeRunInfo(cfg.out, { ...info, state: run.result.stoppedBy === 'interrupted' ? 'interrupted' : 'finished', ended: new Date().toISOString() });
    if (values.json === true) process.stdout.write(JSON.stringify(summary) + '\n');
    else {
      const what = cfg.method === 'sft' ? `${cfg.finetuning} fine-tuning` : `${cfg.method} training (${cfg.finetuning})`;
      process.stdout.write(`${what} ${run.result.stoppedBy === 'done' ? 'finished' : run.result.stoppedBy} after ${run.result.steps} steps: ${run.output}\n`);
      if (run.holdoutAfter !== undefined) process.stdout.write(`holdout loss ${run.holdoutBefore?.loss.toFixed(4) ?? '?'} → ${run.holdoutAfter.loss.toFixed(4)}\n`);
      for (const [k, v] of Object.entries(run.holdoutAfter?.metrics ?? {}))
        process.stdout.write(`holdout ${k} ${run.holdoutBefore?.metrics?.[k]?.toFixed(4) ?? '?'} → ${v.toFixed(4)}\n`);
      if (run.result.stoppedBy === 'interrupted') process.stdout.write(`checkpoint saved: ${run.result.lastCheckpoint}; continue with --resume\n`);
    }
    return run.result.stoppedBy === 'interrupted' ? 130 : 0;
  } catch (e) {
    writeRunInfo(cfg.out, { ...info, state: 'failed', ended: new Date().toISOString(), error: (e as Error).message });
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** The step metrics the progress bar shows beside the loss. */
const BAR_METRICS = new Set(['accuracy', 'rewards/accuracies', 'rewards/margins', 'kl', 'reward', 'clip_ratio/region_mean']);

/** Runs the recipe of cfg.method; its summary in one shape. */
async function runMethod(cfg: TrainConfig, hooks: TrainHooks): Promise<RecipeRun> {
  switch (cfg.method) {
    case 'sft': {
      const r = await runSft(cfg, hooks);
      const loss = (l: number | undefined) => (l === undefined ? undefined : { loss: l });
      return { ...r, holdoutBefore: loss(r.holdoutLossBefore), holdoutAfter: loss(r.holdoutLossAfter) };
    }
    case 'reward': {
      const r = await runReward(cfg, hooks);
      const holdout = (h: typeof r.holdoutAfter) => (h === undefined ? undefined : { loss: h.loss, metrics: { accuracy: h.accuracy, margin: h.margin, length_correlation: h.length_correlation } });
      return { ...r, trainExamples: r.trainPairs, holdoutExamples: r.holdoutPairs, holdoutBefore: holdout(r.holdoutBefore), holdoutAfter: holdout(r.holdoutAfter) };
    }
    case 'dpo':
      return runDpo(cfg, hooks);
    case 'kto':
      return runKto(cfg, hooks);
    case 'rl':
      return runRl(cfg, hooks);
    case 'pretrain':
      return runPretrain(cfg, hooks);
  }
}
