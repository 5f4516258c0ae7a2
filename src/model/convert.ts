// `whet convert`: GGUF file ↔ Hugging Face folder, bit-exact for F32/F16/BF16 weights (Q8_0 is dequantised),
// renaming tensors, un/permuting llama q/k rows and carrying the tokenizer across.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { readGguf, readGgufTensor, readGgufTensorBytes } from '../formats/gguf.ts';
import { writeGguf, type GgufWriteTensor } from '../formats/gguf-write.ts';
import { attentionHeads, fromGgufTensor, ggufMetadataFromHfConfig, hfConfigFromGguf, toGgufTensor } from '../formats/llama-names.ts';
import { readSafetensorsFolder } from '../formats/safetensors-sharded.ts';
import type { SafetensorsTensor } from '../formats/safetensors.ts';
import { ggufTokenizerMetadataFromHf, hfTokenizerFilesFromGguf, readHfTokenizerFolder } from '../tokenizer/convert.ts';
import { readJsonFile, writeHfFolder } from './hf-folder.ts';

export interface ConvertResult {
  direction: 'gguf→hf' | 'hf→gguf';
  tensors: number;
}

export function convert(input: string, output: string): ConvertResult {
  if (!existsSync(input)) throw new WhetError(`${input}: no such file or folder`);
  if (statSync(input).isDirectory()) {
    if (!output.endsWith('.gguf')) throw new WhetError(`output ${output} must be a .gguf file when the input is a folder`);
    return hfToGguf(input, output);
  }
  if (existsSync(output) && !statSync(output).isDirectory()) throw new WhetError(`output ${output} exists and is not a folder`);
  return ggufToHf(input, output);
}

function ggufToHf(input: string, outDir: string): ConvertResult {
  const file = readGguf(input);
  const config = hfConfigFromGguf(file);
  const heads = attentionHeads(config);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const info of file.tensors) {
    // F16 keeps its bits; everything else decodes to F32 or BF16 bits.
    const data = info.type === 'F16' ? new Uint16Array(readGgufTensorBytes(file, info).slice().buffer) : readGgufTensor(file, info);
    const dtype = info.type === 'F16' ? 'F16' : info.type === 'BF16' ? 'BF16' : 'F32';
    const hf = fromGgufTensor(info.name, info.shape, data, heads);
    if (hf === undefined) continue;
    tensors.set(hf.name, { dtype, shape: info.shape, data: hf.data });
  }
  writeHfFolder(outDir, config as unknown as Record<string, unknown>, tensors, hfTokenizerFilesFromGguf(file.metadata));
  return { direction: 'gguf→hf', tensors: tensors.size };
}

function hfToGguf(inDir: string, output: string): ConvertResult {
  const configPath = join(inDir, 'config.json');
  if (!existsSync(configPath)) throw new WhetError(`${inDir}: no config.json (not a Hugging Face model folder)`);
  const config = readJsonFile(configPath);
  const metadata = { ...ggufMetadataFromHfConfig(config, configPath), ...ggufTokenizerMetadataFromHf(readHfTokenizerFolder(inDir), { vocabSize: config.vocab_size as number }) };
  const heads = attentionHeads(config as never);
  const { tensors } = readSafetensorsFolder(inDir);
  const out: GgufWriteTensor[] = [];
  for (const [name, t] of tensors) {
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') throw new WhetError(`${inDir}: tensor ${name} is ${t.dtype}; only F32, F16 and BF16 convert`);
    const g = toGgufTensor(name, t.shape, t.data as Float32Array | Uint16Array, heads);
    if (g === undefined) continue;
    out.push({ name: g.name, shape: t.shape, type: t.dtype, data: g.data });
  }
  writeGguf(output, { metadata, tensors: out });
  return { direction: 'hf→gguf', tensors: out.length };
}
