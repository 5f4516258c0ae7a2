// `whet merge --model PATH --adapter DIR --out DIR`: folds a PEFT LoRA adapter into the f32 base and writes a Hugging Face folder.
import { parseArgs } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { WhetError } from '../errors.ts';
import { getBackend } from '../backend/registry.ts';
import { loadModel } from '../model/load.ts';
import { configToHf } from '../model/config.ts';
import { readJsonFile, writeHfFolder } from '../model/hf-folder.ts';
import { readHfTokenizerFiles } from '../model/tokenizer-hf.ts';
import { hfTokenizerFilesFromGguf } from '../model/tokenizer-convert.ts';
import { readGguf } from '../formats/gguf.ts';
import type { SafetensorsTensor } from '../formats/safetensors.ts';
import { loadAdapter } from '../adapters/peft.ts';
import { mergeLora } from '../adapters/apply.ts';
import { choiceFlag, requireFlag } from './args.ts';

export async function mergeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      adapter: { type: 'string' },
      out: { type: 'string' },
      dtype: { type: 'string', default: 'f32' },
    },
  });
  const modelPath = requireFlag(values.model, 'model');
  const adapterDir = requireFlag(values.adapter, 'adapter');
  const outDir = requireFlag(values.out, 'out');
  const dtype = choiceFlag(values.dtype, 'dtype', ['f32', 'bf16'] as const)!;
  if (resolve(outDir) === resolve(modelPath)) throw new WhetError(`--out ${outDir} is the base model itself; write the merged model elsewhere`);
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new WhetError(`--out ${outDir} exists and is not a folder`);

  // The base in f32: merging into rounded weights would change the adapter's effect.
  const loaded = loadModel(modelPath, { dtype: 'f32' });
  const adapter = loadAdapter(adapterDir, loaded.model);
  const merged = mergeLora(loaded.model);

  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, t] of loaded.model.namedTensors()) {
    if (dtype === 'f32') tensors.set(name, { dtype: 'F32', shape: [...t.shape], data: t.f });
    else {
      const bits = new Uint16Array(t.size);
      getBackend().castToBf16(t.f, bits, t.size);
      tensors.set(name, { dtype: 'BF16', shape: [...t.shape], data: bits });
    }
  }
  const hfConfig = loaded.format === 'hf' ? readJsonFile(join(modelPath, 'config.json')) : configToHf(loaded.config);
  hfConfig.torch_dtype = dtype === 'f32' ? 'float32' : 'bfloat16';
  const tokenizer = loaded.format === 'hf' ? readHfTokenizerFiles(modelPath) : hfTokenizerFilesFromGguf(readGguf(modelPath).metadata);
  writeHfFolder(outDir, hfConfig, tensors, tokenizer);
  loaded.model.dispose();
  process.stderr.write(`merged ${merged} LoRA layers (r ${adapter.config.r}, alpha ${adapter.config.alpha}) into ${modelPath}: ${outDir}\n`);
  return 0;
}
