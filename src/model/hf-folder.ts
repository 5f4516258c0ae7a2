// Writes a Hugging Face model folder: config.json, safetensors weights (sharded past 2 GB), tokenizer files.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../formats/atomic.ts';
import { writeAll } from '../formats/file-io.ts';
import { writeSafetensorsSharded } from '../formats/safetensors-sharded.ts';
import type { SafetensorsTensor } from '../formats/safetensors.ts';
import { writeHfTokenizerFolder, type HfTokenizerFolder } from '../tokenizer/convert.ts';

export const MAX_SHARD_BYTES = 2 * 1024 ** 3;

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, (fd) => writeAll(fd, new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n')));
}

/** Writes config, weights and tokenizer files into dir (created if needed). */
export function writeHfFolder(dir: string, config: Record<string, unknown>, tensors: Map<string, SafetensorsTensor>, tokenizer: HfTokenizerFolder): void {
  mkdirSync(dir, { recursive: true });
  writeSafetensorsSharded(dir, tensors, MAX_SHARD_BYTES);
  writeHfTokenizerFolder(dir, { ...tokenizer, generationConfig: undefined });
  const generation: Record<string, unknown> = { ...(tokenizer.generationConfig ?? {}) };
  for (const key of ['bos_token_id', 'eos_token_id', 'pad_token_id'])
    if (generation[key] === undefined && config[key] !== undefined) generation[key] = config[key];
  writeJsonAtomic(join(dir, 'generation_config.json'), generation);
  // config.json last: a folder with a config.json is a complete model.
  writeJsonAtomic(join(dir, 'config.json'), config);
}

export function readJsonFile(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}
