// Loads a model from a Hugging Face folder or a GGUF file: config, weights (HF names) and tokenizer.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { resolveModelPath } from '../hub/cache.ts';
import { keep, Tensor } from '../tensor/tensor.ts';
import { getBackend } from '../backend/registry.ts';
import { readSafetensorsFolder } from '../formats/safetensors-sharded.ts';
import type { SafetensorsTensor } from '../formats/safetensors.ts';
import { decodeF16 } from '../formats/f16.ts';
import { readGguf, readGgufTensor, readGgufTensorBytes } from '../formats/gguf.ts';
import { attentionHeads, fromGgufTensor, hfConfigFromGguf } from '../formats/llama-names.ts';
import { configFromHf, type ModelConfig } from './config.ts';
import { LlamaModel } from './llama.ts';
import { FrozenArena, freezeMatrix, type FrozenDType } from './frozen-weights.ts';
import { isQuantDType, type QuantDType } from '../tensor/dtype.ts';
import { dequantize, type QuantType } from '../formats/gguf-quant.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { tokenizerFromJson } from '../tokenizer/hf.ts';
import { tokenizerFromGguf } from '../tokenizer/gguf.ts';

export interface LoadOptions {
  /**
   * 'f32' (default): every weight trainable in fp32. 'bf16': matrices frozen in bf16 (inference, LoRA). A quantised
   * type (q8_0, q4_0, q4_k, q6_k): matrices frozen and quantised to it (rows that are not whole blocks stay bf16).
   * Matrices a GGUF stores quantised stay as stored, frozen, whatever this says, unless it names another
   * quantised type: they are never expanded (full fine-tuning refuses such a model, see quantizedTensors).
   */
  dtype?: 'f32' | FrozenDType;
}

export interface LoadedModel {
  model: LlamaModel;
  tokenizer: Tokenizer;
  config: ModelConfig;
  /** What was loaded: an HF folder or a GGUF file. */
  format: 'hf' | 'gguf';
  path: string;
  /** A randomly initialised model's: the folder of its tokenizer files and its config.json, which `path` need not hold. */
  init?: { tokenizerPath: string; hfConfig: Record<string, unknown> };
}

/** Tensors a checkpoint may carry that the model rebuilds itself (or that are duplicates). */
const IGNORABLE = /(rotary_emb\.inv_freq|rope_freqs\.weight)$/;

/** `spec`: a local GGUF file or HF folder, or a pulled ORG/NAME (see resolveModelPath). */
export function loadModel(spec: string, opts: LoadOptions = {}): LoadedModel {
  const path = resolveModelPath(spec);
  return statSync(path).isDirectory() ? loadHfFolder(path, opts) : loadGguf(path, opts);
}

/** A model's config alone (a folder's config.json, or a GGUF's metadata): no weights are read. */
export function loadConfig(spec: string): ModelConfig {
  const path = resolveModelPath(spec);
  if (!statSync(path).isDirectory()) return configFromHf(hfConfigFromGguf(readGguf(path)) as unknown as Record<string, unknown>, path);
  return folderConfig(path);
}

function folderConfig(dir: string): ModelConfig {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new WhetError(`${dir}: no config.json (not a Hugging Face model folder)`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new WhetError(`${configPath}: invalid JSON (${(e as Error).message})`);
  }
  return configFromHf(json, configPath);
}

function loadHfFolder(dir: string, opts: LoadOptions): LoadedModel {
  const config = folderConfig(dir);
  const { tensors } = readSafetensorsFolder(dir);
  const model = build(config, dir, (name) => {
    const t = tensors.get(name);
    return t === undefined ? undefined : { shape: t.shape, data: toFloatData(t, `${dir}: ${name}`) };
  }, [...tensors.keys()], opts);
  return { model, tokenizer: tokenizerFromJson(dir), config, format: 'hf', path: dir };
}

function loadGguf(path: string, opts: LoadOptions): LoadedModel {
  const file = readGguf(path);
  const hf = hfConfigFromGguf(file);
  const config = configFromHf(hf as unknown as Record<string, unknown>, path);
  const heads = attentionHeads(hf);
  const byHfName = new Map<string, RawTensor>();
  for (const info of file.tensors) {
    const quant = info.type.toLowerCase();
    if (isQuantDType(quant)) {
      const converted = fromGgufTensor(info.name, info.shape, readGgufTensorBytes(file, info), heads);
      if (converted !== undefined) byHfName.set(converted.name, { shape: info.shape, data: converted.data, quant });
      continue;
    }
    const converted = fromGgufTensor(info.name, info.shape, readGgufTensor(file, info), heads);
    if (converted !== undefined) byHfName.set(converted.name, { shape: info.shape, data: converted.data });
  }
  const model = build(config, path, (name) => byHfName.get(name), [...byHfName.keys()], opts);
  return { model, tokenizer: tokenizerFromGguf(file.metadata), config, format: 'gguf', path };
}

interface RawTensor {
  shape: number[];
  /** Float32Array, Uint16Array of bf16 bits, or the blocks of a quantised matrix. */
  data: Float32Array | Uint16Array | Uint8Array;
  quant?: QuantDType;
}

/** Builds the model from raw tensors by HF name; reports tensors the file has and the model does not use. */
function build(config: ModelConfig, where: string, get: (name: string) => RawTensor | undefined, available: string[], opts: LoadOptions): LlamaModel {
  const used = new Set<string>();
  let model: LlamaModel;
  const arena = new FrozenArena();
  try {
    model = new LlamaModel(config, (name, shape) => {
      const raw = get(name);
      if (raw === undefined) return undefined;
      used.add(name);
      return arena.place(toTensor(raw, shape.length === 2 ? opts.dtype ?? 'f32' : 'f32'));
    });
  } catch (e) {
    throw new WhetError(`${where}: ${(e as Error).message}`);
  }
  // A tied checkpoint may still carry lm_head.weight (a copy of the embedding).
  const unused = available.filter((n) => !used.has(n) && !IGNORABLE.test(n) && !(n === 'lm_head.weight' && config.tieWordEmbeddings));
  if (unused.length > 0) throw new WhetError(`${where}: tensors not used by a ${config.modelType} model: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ` (+${unused.length - 5} more)` : ''}`);
  return model;
}

function toFloatData(t: SafetensorsTensor, what: string): Float32Array | Uint16Array {
  switch (t.dtype) {
    case 'F32':
      return t.data as Float32Array;
    case 'BF16':
      return t.data as Uint16Array;
    case 'F16':
      return decodeF16(t.data as Uint16Array);
    default:
      throw new WhetError(`${what}: dtype ${t.dtype} is not supported for weights (F32, BF16, F16)`);
  }
}

/** A kept tensor of the wanted dtype: f32 weights require gradients, bf16 and quantised ones are frozen. */
function toTensor(raw: RawTensor, dtype: 'f32' | FrozenDType): Tensor {
  if (raw.quant !== undefined) {
    const bytes = raw.data as Uint8Array;
    if (!isQuantDType(dtype) || dtype === raw.quant) return keep(Tensor.fromQuantized(bytes, raw.shape, raw.quant));
    const values = dequantize(raw.quant.toUpperCase() as QuantType, bytes, raw.shape[0]! * raw.shape[1]!);
    return freezeMatrix(values, raw.shape, dtype); // asked for another quantised type: re-quantised from the values
  }
  const isBf16 = raw.data instanceof Uint16Array;
  const backend = getBackend();
  let t: Tensor;
  if (dtype !== 'f32') return freezeMatrix(raw.data as Float32Array | Uint16Array, raw.shape, dtype);
  if (isBf16) {
    t = Tensor.empty(raw.shape, 'f32');
    backend.castFromBf16(raw.data as Uint16Array, t.f, t.size);
  } else t = Tensor.fromArray(raw.data as Float32Array, raw.shape);
  return keep(t).requireGrad();
}

/** Names of the model's quantised tensors with their types (what full fine-tuning cannot train). */
export function quantizedTensors(model: LlamaModel): string[] {
  return model.namedTensors().filter(([, t]) => t.quantized).map(([name, t]) => `${name} (${t.dtype})`);
}
