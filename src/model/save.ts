// Saves a loaded model's current weights as a Hugging Face folder, with the source's config and tokenizer files.
import { join } from 'node:path';
import { getBackend } from '../backend/registry.ts';
import { readGguf } from '../formats/gguf.ts';
import type { SafetensorsTensor } from '../formats/safetensors.ts';
import { configToHf, sequenceClassifierFields } from './config.ts';
import { readJsonFile, writeHfFolder } from './hf-folder.ts';
import type { LoadedModel } from './load.ts';
import { hfTokenizerFilesFromGguf, readHfTokenizerFolder } from '../tokenizer/convert.ts';

/** Writes loaded.model (f32 weights, stored as f32 or rounded to bf16) to outDir. */
export function saveModelFolder(loaded: LoadedModel, outDir: string, dtype: 'f32' | 'bf16' = 'f32'): void {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, t] of loaded.model.namedTensors()) {
    if (t.dtype === 'bf16') tensors.set(name, { dtype: 'BF16', shape: [...t.shape], data: t.data as Uint16Array });
    else if (dtype === 'f32') tensors.set(name, { dtype: 'F32', shape: [...t.shape], data: t.f as Float32Array });
    else {
      const bits = new Uint16Array(t.size);
      getBackend().castToBf16(t.f, bits, t.size);
      tensors.set(name, { dtype: 'BF16', shape: [...t.shape], data: bits });
    }
  }
  const hfConfig = loaded.init !== undefined ? { ...loaded.init.hfConfig } : loaded.format === 'hf' ? readJsonFile(join(loaded.path, 'config.json')) : configToHf(loaded.config);
  hfConfig.torch_dtype = dtype === 'f32' ? 'float32' : 'bfloat16';
  if (loaded.model.score !== undefined) Object.assign(hfConfig, sequenceClassifierFields(loaded.config));
  const tokenizer = loaded.format === 'hf' ? readHfTokenizerFolder(loaded.init?.tokenizerPath ?? loaded.path) : hfTokenizerFilesFromGguf(readGguf(loaded.path).metadata);
  writeHfFolder(outDir, hfConfig, tensors, tokenizer);
}
