// `whet merge --model PATH --adapter DIR --out DIR`: folds a PEFT LoRA adapter into the f32 base and writes a Hugging Face folder.
import { existsSync, statSync } from 'node:fs';
import { WhetError } from '../errors.ts';
import { resolve } from 'node:path';
import { loadModel } from '../model/load.ts';
import { saveModelFolder } from '../model/save.ts';
import { loadAdapter } from '../adapters/peft.ts';
import { mergeLora } from '../adapters/apply.ts';
import { parseCommand } from './options.ts';
import { mergeSpec } from './specs.ts';

export async function mergeCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(mergeSpec, argv);
  if (parsed === null) return 0;
  const { model: modelPath, adapter: adapterDir, out: outDir, dtype } = parsed.values as { model: string; adapter: string; out: string; dtype: 'f32' | 'bf16' };
  if (resolve(outDir) === resolve(modelPath)) throw new WhetError(`--out ${outDir} is the base model itself; write the merged model elsewhere`);
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new WhetError(`--out ${outDir} exists and is not a folder`);

  // The base in f32: merging into rounded weights would change the adapter's effect.
  const loaded = loadModel(modelPath, { dtype: 'f32' });
  const adapter = loadAdapter(adapterDir, loaded.model);
  const merged = mergeLora(loaded.model);

  saveModelFolder(loaded, outDir, dtype);
  loaded.model.dispose();
  process.stderr.write(`merged ${merged} LoRA layers (r ${adapter.config.r}, alpha ${adapter.config.alpha}) into ${modelPath}: ${outDir}\n`);
  return 0;
}
