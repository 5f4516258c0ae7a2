// `whet convert`: GGUF file ↔ Hugging Face folder (renaming tensors, un/permuting llama q/k rows, carrying the
// tokenizer across) and GGUF → GGUF, each optionally to another dtype: f32/f16/bf16, or a GGUF quantisation.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { resolveModelPath } from '../hub/cache.ts';
import { bf16ToF32, f32ToBf16 } from '../backend/bf16.ts';
import { decodeF16, encodeF16 } from '../formats/f16.ts';
import { readGguf, readGgufTensor, readGgufTensorBytes } from '../formats/gguf.ts';
import { dequantize, isQuantType, QUANT_TYPES, quantize, quantTypeForRows, type QuantType } from '../formats/gguf-quant.ts';
import { ggufTypedMetadata, writeGguf, type GgufWriteTensor, type GgufWriteValue } from '../formats/gguf-write.ts';
import { attentionHeads, fromGgufTensor, ggufMetadataFromHfConfig, hfConfigFromGguf, toGgufTensor } from '../formats/llama-names.ts';
import { readSafetensorsFolder } from '../formats/safetensors-sharded.ts';
import type { SafetensorsTensor } from '../formats/safetensors.ts';
import { ggufTokenizerMetadataFromHf, hfTokenizerFilesFromGguf, readHfTokenizerFolder } from '../tokenizer/convert.ts';
import { gptqQ4_0 } from './gptq.ts';
import { readJsonFile, writeHfFolder } from './hf-folder.ts';

/** Target dtypes of `whet convert --dtype`; q4_k_m is llama.cpp's Q4_K_M mix, simplified (see tensorTarget). */
export const CONVERT_DTYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k', 'q4_k_m'] as const;
export type ConvertDType = (typeof CONVERT_DTYPES)[number];

export interface ConvertOptions {
  /** Stored type of the written weights; default: each tensor as the input stores it (quantised GGUF → f32 for HF). */
  dtype?: ConvertDType;
  /**
   * Per GGUF tensor name, the Gram matrix of its inputs over calibration text (calibrationGrams): Q4_0 matrices are
   * then quantised by GPTQ, those without one (the token embedding, very wide inputs) by its block-scale search.
   */
  calibration?: ReadonlyMap<string, Float32Array>;
}

export interface ConvertResult {
  direction: 'gguf→hf' | 'hf→gguf' | 'gguf→gguf';
  tensors: number;
  /** How many written tensors have each stored type, e.g. { Q8_0: 35, F32: 22 }. */
  types: Record<string, number>;
  /** Matrices left in F32 although the dtype quantises them, each with the reason (its rows do not split into blocks). */
  keptF32: { name: string; reason: string }[];
  /** Quantised inputs that were dequantised and quantised again to a different type (quality of the worse of the two). */
  requantized: string[];
}

/** llama.cpp's LLAMA_FTYPE of each dtype, written as general.file_type. */
const FILE_TYPES: Record<ConvertDType, number> = { f32: 0, f16: 1, bf16: 32, q8_0: 7, q4_0: 2, q4_k: 14, q6_k: 18, q4_k_m: 15 };

type StoredType = 'F32' | 'F16' | 'BF16' | QuantType;
const SINGLE: Record<Exclude<ConvertDType, 'q4_k_m'>, StoredType> = { f32: 'F32', f16: 'F16', bf16: 'BF16', q8_0: 'Q8_0', q4_0: 'Q4_0', q4_k: 'Q4_K', q6_k: 'Q6_K' };

/** A tensor's data as read: values (f32), bit patterns (F16/BF16) or whole quantised blocks. */
interface Source {
  type: string;
  data: Float32Array | Uint16Array | Uint8Array;
}

export function convert(inputSpec: string, output: string, opts: ConvertOptions = {}): ConvertResult {
  if (opts.dtype !== undefined && !(CONVERT_DTYPES as readonly string[]).includes(opts.dtype)) {
    throw new WhetError(`unknown dtype '${String(opts.dtype)}' (one of ${CONVERT_DTYPES.join(', ')})`);
  }
  const input = resolveModelPath(inputSpec);
  if (statSync(input).isDirectory()) {
    if (!output.endsWith('.gguf')) throw new WhetError(`output ${output} must be a .gguf file when the input is a folder`);
    return hfToGguf(input, output, opts.dtype, opts.calibration);
  }
  if (output.endsWith('.gguf')) {
    if (existsSync(output) && statSync(output).isDirectory()) throw new WhetError(`output ${output} is a folder, not a .gguf file`);
    return ggufToGguf(input, output, opts.dtype, opts.calibration);
  }
  if (existsSync(output) && !statSync(output).isDirectory()) throw new WhetError(`output ${output} exists and is not a folder`);
  return ggufToHf(input, output, opts.dtype);
}

/**
 * The stored type a tensor gets under `dtype`: 1-D tensors (norms, biases) stay F32; matrices take the dtype, or for
 * q4_k_m Q6_K when they are output.weight (or the token embedding when it doubles as the output), attn_v or
 * ffn_down and Q4_K otherwise; a matrix whose rows do not split into the type's blocks stays F32 (with the reason).
 */
function tensorTarget(name: string, shape: readonly number[], dtype: ConvertDType, hasOutput: boolean): { type: StoredType; kept?: string } {
  if (shape.length < 2) return { type: 'F32' };
  let type: StoredType;
  const isOutput = name === 'output.weight' || (!hasOutput && name === 'token_embd.weight');
  if (dtype === 'q4_k_m') {
    const more = isOutput || /\.attn_v\.weight$/.test(name) || /\.ffn_down(_exps)?\.weight$/.test(name);
    type = more ? 'Q6_K' : 'Q4_K';
  } else {
    type = SINGLE[dtype];
    // As llama.cpp's quantize does: the output head, which every token's distribution goes through, gets Q6_K
    // under the 4-bit types.
    if (isOutput && (type === 'Q4_0' || type === 'Q4_K')) type = 'Q6_K';
  }
  if (isQuantType(type)) {
    const row = shape[shape.length - 1]!;
    const fits = quantTypeForRows(type, row);
    if (fits === undefined) return { type: 'F32', kept: `row length ${row} is not a multiple of the ${type} block (${QUANT_TYPES[type].block})` };
    type = fits;
  }
  return { type };
}

/** A source tensor's values as float32 (dequantised or decoded when stored otherwise). */
function toF32(src: Source, count: number): Float32Array {
  if (src.type === 'F32') return src.data as Float32Array;
  if (src.type === 'F16') return decodeF16(src.data as Uint16Array);
  if (src.type === 'BF16') {
    const bits = src.data as Uint16Array;
    const out = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = bf16ToF32(bits[i]);
    return out;
  }
  if (isQuantType(src.type)) return dequantize(src.type, src.data as Uint8Array, count);
  throw new WhetError(`tensor type ${src.type} cannot be converted`);
}

/** Stores a source tensor as `type`; the same type keeps its exact bytes, a quantised target quantises full-precision values. */
function storeAs(src: Source, type: StoredType, shape: readonly number[], calibration?: { gram?: Float32Array }): Float32Array | Uint16Array | Uint8Array {
  if (src.type === type) return src.data;
  const count = shape.reduce((a, b) => a * b, 1);
  const values = toF32(src, count);
  switch (type) {
    case 'F32': return values;
    case 'F16': return encodeF16(values);
    case 'BF16': {
      const out = new Uint16Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = f32ToBf16(values[i]);
      return out;
    }
    case 'Q4_0': {
      const cols = shape[shape.length - 1]!;
      return calibration === undefined ? quantize(type, values, cols) : gptqQ4_0(values, count / cols, cols, calibration.gram);
    }
    default: return quantize(type, values, shape[shape.length - 1]!);
  }
}

/** Converts the tensors (GGUF names) to `dtype`, counting what stayed F32 and what was quantised twice. */
function retype(tensors: { name: string; shape: number[]; src: Source }[], dtype: ConvertDType | undefined, calibration?: ReadonlyMap<string, Float32Array>): Omit<ConvertResult, 'direction'> & { out: GgufWriteTensor[] } {
  const hasOutput = tensors.some((t) => t.name === 'output.weight');
  const keptF32: { name: string; reason: string }[] = [];
  const requantized: string[] = [];
  const types: Record<string, number> = {};
  const out: GgufWriteTensor[] = [];
  for (const t of tensors) {
    let type = t.src.type as StoredType;
    let data = t.src.data;
    if (dtype !== undefined) {
      const target = tensorTarget(t.name, t.shape, dtype, hasOutput);
      if (target.kept !== undefined) keptF32.push({ name: t.name, reason: target.kept });
      if (isQuantType(target.type) && isQuantType(t.src.type) && target.type !== t.src.type) requantized.push(`${t.name} (${t.src.type} → ${target.type})`);
      try {
        data = storeAs(t.src, target.type, t.shape, calibration === undefined ? undefined : { gram: calibration.get(t.name) });
      } catch (e) {
        throw e instanceof WhetError ? new WhetError(`tensor ${t.name}: ${e.message}`) : e;
      }
      type = target.type;
    }
    types[type] = (types[type] ?? 0) + 1;
    out.push({ name: t.name, shape: t.shape, type, data });
  }
  return { out, tensors: out.length, types, keptF32, requantized };
}

/** general.file_type for the dtype, and general.quantization_version when any tensor is quantised (as llama.cpp writes them). */
function quantMetadata(dtype: ConvertDType | undefined, out: GgufWriteTensor[]): Record<string, GgufWriteValue> {
  const meta: Record<string, GgufWriteValue> = {};
  if (dtype !== undefined) meta['general.file_type'] = { type: 'u32', value: FILE_TYPES[dtype] };
  if (out.some((t) => isQuantType(t.type))) meta['general.quantization_version'] = { type: 'u32', value: 2 };
  return meta;
}

function ggufSource(file: ReturnType<typeof readGguf>, info: ReturnType<typeof readGguf>['tensors'][number]): Source {
  const bytes = readGgufTensorBytes(file, info);
  if (info.type === 'F32') return { type: 'F32', data: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) };
  if (info.type === 'F16' || info.type === 'BF16') return { type: info.type, data: new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) };
  if (isQuantType(info.type)) return { type: info.type, data: bytes };
  throw new WhetError(`${file.path}: tensor '${info.name}' is ${info.type}, which cannot be converted (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)`);
}

function ggufToGguf(input: string, output: string, dtype: ConvertDType | undefined, calibration?: ReadonlyMap<string, Float32Array>): ConvertResult {
  const file = readGguf(input);
  // GGUF order is kept as is (llama q/k rows stay permuted the GGUF way).
  const r = retype(file.tensors.map((info) => ({ name: info.name, shape: info.shape, src: ggufSource(file, info) })), dtype, calibration);
  writeGguf(output, { metadata: { ...ggufTypedMetadata(file), ...quantMetadata(dtype, r.out) }, tensors: r.out });
  const { out: _, ...result } = r;
  return { direction: 'gguf→gguf', ...result };
}

function ggufToHf(input: string, outDir: string, dtype: ConvertDType | undefined): ConvertResult {
  if (dtype !== undefined && dtype !== 'f32' && dtype !== 'f16' && dtype !== 'bf16') {
    throw new WhetError(`a Hugging Face folder holds f32, f16 or bf16 weights, not ${dtype}: write a .gguf file to quantise`);
  }
  const file = readGguf(input);
  const config = hfConfigFromGguf(file);
  const heads = attentionHeads(config);
  const tensors = new Map<string, SafetensorsTensor>();
  const types: Record<string, number> = {};
  for (const info of file.tensors) {
    // F16 keeps its bits; everything else decodes to F32 (quantised types dequantised) or BF16 bits.
    let data: Float32Array | Uint16Array = info.type === 'F16' ? new Uint16Array(readGgufTensorBytes(file, info).buffer) : readGgufTensor(file, info);
    let type: 'F32' | 'F16' | 'BF16' = info.type === 'F16' ? 'F16' : info.type === 'BF16' ? 'BF16' : 'F32';
    if (dtype !== undefined) {
      const target = SINGLE[dtype] as 'F32' | 'F16' | 'BF16';
      data = storeAs({ type, data }, target, info.shape) as Float32Array | Uint16Array;
      type = target;
    }
    const hf = fromGgufTensor(info.name, info.shape, data, heads);
    if (hf === undefined) continue;
    tensors.set(hf.name, { dtype: type, shape: info.shape, data: hf.data });
    types[type] = (types[type] ?? 0) + 1;
  }
  const hfConfig = { ...(config as unknown as Record<string, unknown>) };
  if (dtype !== undefined) hfConfig.torch_dtype = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' }[dtype];
  writeHfFolder(outDir, hfConfig, tensors, hfTokenizerFilesFromGguf(file.metadata));
  return { direction: 'gguf→hf', tensors: tensors.size, types, keptF32: [], requantized: [] };
}

function hfToGguf(inDir: string, output: string, dtype: ConvertDType | undefined, calibration?: ReadonlyMap<string, Float32Array>): ConvertResult {
  const configPath = join(inDir, 'config.json');
  if (!existsSync(configPath)) throw new WhetError(`${inDir}: no config.json (not a Hugging Face model folder)`);
  const config = readJsonFile(configPath);
  const metadata = { ...ggufMetadataFromHfConfig(config, configPath), ...ggufTokenizerMetadataFromHf(readHfTokenizerFolder(inDir), { vocabSize: config.vocab_size as number }) };
  const heads = attentionHeads(config as never);
  const { tensors } = readSafetensorsFolder(inDir);
  const renamed: { name: string; shape: number[]; src: Source }[] = [];
  for (const [name, t] of tensors) {
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') throw new WhetError(`${inDir}: tensor ${name} is ${t.dtype}; only F32, F16 and BF16 convert`);
    // Renamed and q/k-permuted in full precision; quantisation (if any) comes after.
    const g = toGgufTensor(name, t.shape, t.data as Float32Array | Uint16Array, heads);
    if (g === undefined) continue;
    renamed.push({ name: g.name, shape: t.shape, src: { type: t.dtype, data: g.data } });
  }
  const r = retype(renamed, dtype, calibration);
  writeGguf(output, { metadata: { ...metadata, ...quantMetadata(dtype, r.out) }, tensors: r.out });
  const { out: _, ...result } = r;
  return { direction: 'hf→gguf', ...result };
}
