// A model from random initialisation (Hugging Face's from_config): an HF config.json for the architecture, the
// tokenizer files of a folder, weights drawn from a seeded normal(0, initializer_range).
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { WhetError } from '../errors.ts';
import { Rng } from '../tensor/random.ts';
import { tokenizerFromJson } from '../tokenizer/hf.ts';
import { configFromHf } from './config.ts';
import { readJsonFile } from './hf-folder.ts';
import { LlamaModel } from './llama.ts';
import type { LoadedModel } from './load.ts';

/**
 * `config` is a config.json or a folder holding one; `tokenizerDir` holds tokenizer.json (default: the config's
 * folder). The tokenizer's vocabulary must fit the config's vocab_size.
 */
export function initModel(config: string, tokenizerDir: string | undefined, seed: number): LoadedModel {
  if (!existsSync(config)) throw new WhetError(`${config}: no such file or folder`);
  const configPath = statSync(config).isDirectory() ? join(config, 'config.json') : config;
  if (!existsSync(configPath)) throw new WhetError(`${config}: no config.json`);
  let json: Record<string, unknown>;
  try {
    json = readJsonFile(configPath);
  } catch (e) {
    throw new WhetError(`${configPath}: invalid JSON (${(e as Error).message})`);
  }
  const cfg = configFromHf(json, configPath);
  const tokenizerPath = tokenizerDir ?? dirname(configPath);
  const tokenizer = tokenizerFromJson(tokenizerPath);
  if (tokenizer.vocabSize > cfg.vocabSize) throw new WhetError(`${configPath}: vocab_size ${cfg.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens (${tokenizerPath})`);
  const std = typeof json.initializer_range === 'number' ? json.initializer_range : 0.02;
  const model = LlamaModel.random(cfg, new Rng(seed), { std });
  return { model, tokenizer, config: cfg, format: 'hf', path: configPath, init: { tokenizerPath, hfConfig: json } };
}
