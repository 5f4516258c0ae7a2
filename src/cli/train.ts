// `whet train --config FILE.yaml [--option value ...]`: supervised fine-tuning (full or LoRA); every config
// option is also a flag. Progress on stderr; the run summary on stdout (JSON with --json).
import { checkOutDir, runSft } from '../recipes/sft.ts';
import { flagOf, resolveSftConfig, SFT_KEYS } from '../recipes/sft-config.ts';
import { parseCommand } from './options.ts';
import { trainSpec } from './specs.ts';
import { Progress } from './progress.ts';

export async function trainCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(trainSpec, argv, { noDefaults: true }); // defaults come from resolveSftConfig, under the config file
  if (parsed === null) return 0;
  const values = parsed.values;
  const flags: Record<string, unknown> = {};
  for (const key of SFT_KEYS) flags[key] = values[flagOf(key)];
  const cfg = resolveSftConfig(values.config as string | undefined, flags);
  checkOutDir(cfg);

  const signal = { interrupted: false };
  const onSigint = (): void => {
    if (signal.interrupted) process.exit(130); // a second Ctrl-C stops at once
    signal.interrupted = true;
    process.stderr.write('\ninterrupted: finishing the current step and saving a checkpoint (Ctrl-C again to abort)\n');
  };
  process.on('SIGINT', onSigint);
  const bar = new Progress(`train ${cfg.method}`, cfg.steps);
  const showMemory = process.env.WHET_MEMORY === '1';
  try {
    const run = await runSft(cfg, {
      signal,
      log: (line) => process.stderr.write(`${line}\n`),
      onStep: (m) => {
        const memory = `${m.live_mb}+${m.pooled_mb} MiB (peak ${m.peak_mb})`;
        bar.update(m.step, {
          loss: m.loss,
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
      steps: run.result.steps,
      stopped_by: run.result.stoppedBy,
      output: run.output,
      checkpoint: run.result.lastCheckpoint,
      trainable_params: run.trainableParams,
      train_examples: run.trainExamples,
      holdout_examples: run.holdoutExamples,
      holdout_loss_before: run.holdoutLossBefore,
      holdout_loss_after: run.holdoutLossAfter,
    };
    if (values.json === true) process.stdout.write(JSON.stringify(summary) + '\n');
    else {
      process.stdout.write(`${cfg.method} fine-tuning ${run.result.stoppedBy === 'done' ? 'finished' : run.result.stoppedBy} after ${run.result.steps} steps: ${run.output}\n`);
      if (run.holdoutLossAfter !== undefined) process.stdout.write(`holdout loss ${run.holdoutLossBefore?.toFixed(4) ?? '?'} → ${run.holdoutLossAfter.toFixed(4)}\n`);
      if (run.result.stoppedBy === 'interrupted') process.stdout.write(`checkpoint saved: ${run.result.lastCheckpoint}; continue with --resume\n`);
    }
    return run.result.stoppedBy === 'interrupted' ? 130 : 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
