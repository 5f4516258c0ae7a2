// Carries a tokenizer across `whet convert`: GGUF tokenizer metadata ↔ a Hugging Face folder's tokenizer files, read and written.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../formats/atomic.ts';
import { writeAll } from '../formats/file-io.ts';
import { readHfTokenizerFiles, type HfTokenizerFiles } from './hf.ts';

export { hfTokenizerFilesFromGguf } from './convert-hf.ts';
export { ggufTokenizerMetadataFromHf, type GgufTokenizerOptions } from './convert-gguf.ts';

export interface HfTokenizerFolder extends HfTokenizerFiles {
  /**
   * tokenizer.model, SentencePiece's own file, which Llama-2-style folders ship next to tokenizer.json. It is
   * the only place that keeps SentencePiece scores exactly, and llama.cpp's converter reads the vocab from it.
   */
  sentencePieceModel?: Uint8Array;
}

/** Reads a model folder's tokenizer files, tokenizer.model included when present. */
export function readHfTokenizerFolder(dir: string): HfTokenizerFolder {
  const files: HfTokenizerFolder = readHfTokenizerFiles(dir);
  const spm = join(dir, 'tokenizer.model');
  if (existsSync(spm)) files.sentencePieceModel = new Uint8Array(readFileSync(spm));
  return files;
}

/**
 * Writes tokenizer.json, tokenizer_config.json, and tokenizer.model and generation_config.json when present
 * (leave generationConfig out when the model writer writes its own generation_config.json).
 */
export function writeHfTokenizerFolder(dir: string, files: HfTokenizerFolder): void {
  const write = (name: string, bytes: Uint8Array): void => writeFileAtomic(join(dir, name), (fd) => writeAll(fd, bytes));
  const json = (value: unknown): Uint8Array => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
  write('tokenizer.json', json(files.tokenizerJson));
  write('tokenizer_config.json', json({ ...files.tokenizerConfig, ...(files.chatTemplate !== undefined ? { chat_template: files.chatTemplate } : {}) }));
  if (files.generationConfig !== undefined) write('generation_config.json', json(files.generationConfig));
  if (files.sentencePieceModel !== undefined) write('tokenizer.model', files.sentencePieceModel);
}
