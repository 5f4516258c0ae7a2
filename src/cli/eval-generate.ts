// The models `whet eval` runs: a model with its adapter loaded, and its greedy answers to examples' prompts (with a
// progress bar), shared by the text metrics and the win rate.
import type { FrozenDType } from '../model/frozen-weights.ts';
import { loadAdapter } from '../adapters/peft.ts';
import type { Example } from '../data/formats.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { defaultStopStrings, evalPrompt, predict } from '../eval/predict.ts';
import { Progress } from './progress.ts';

export function loadWithAdapter(modelPath: string, adapterDir: string | undefined, dtype: 'f32' | FrozenDType): LoadedModel {
  const loaded = loadModel(modelPath, { dtype });
  if (adapterDir !== undefined) loadAdapter(adapterDir, loaded.model);
  return loaded;
}

export function generatePredictions(loaded: LoadedModel, examples: readonly Example[], opts: { maxTokens: number; batchSize: number; stop?: string[]; prefix: string }): string[] {
  const prompts = examples.map((e, i) => evalPrompt(e, loaded.tokenizer, i));
  const bar = new Progress(`${opts.prefix}generate`, examples.length, 'ex');
  const preds = predict(loaded.model, loaded.tokenizer, prompts, {
    maxTokens: opts.maxTokens,
    batchSize: opts.batchSize,
    stopStrings: opts.stop ?? defaultStopStrings(examples, loaded.tokenizer),
    onProgress: (d) => bar.update(d),
  });
  bar.done();
  return preds;
}
