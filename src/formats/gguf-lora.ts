// llama.cpp's GGUF LoRA adapter files (what convert_lora_to_gguf.py writes and llama.cpp's --lora / Ollama's ADAPTER load).
import { WhetError } from '../errors.ts';
import { bf16ToF32 } from '../backend/bf16.ts';
import { readGguf, readGgufTensor, type GgufTensorInfo } from './gguf.ts';
import { writeGguf, type GgufWriteTensor } from './gguf-write.ts';
import { ggufName, hfName, toGgufTensor, type AttentionHeads } from './llama-names.ts';

/** One LoRA pair in PEFT's layout, by HF module path (`model.layers.0.self_attn.q_proj`). */
export interface GgufLoraModule {
  path: string;
  r: number;
  A: Float32Array; // (r, in)
  B: Float32Array; // (out, r)
}

export interface GgufLoraWriteOptions {
  /** The base's attention heads; heads.arch is written as general.architecture and decides the q/k permutation. */
  heads: AttentionHeads;
  /** adapter.lora.alpha: llama.cpp scales every pair by alpha / (that pair's rank), or by 1 when alpha is 0. */
  alpha: number;
  /** general.name (the converter derives it from the adapter's model card or folder name). */
  name: string;
  modules: GgufLoraModule[];
}

/** The GGUF base tensor a LoRA on this HF module path applies to (`blk.0.attn_q.weight`), or undefined when GGUF has none. */
export function ggufLoraBaseName(modulePath: string): string | undefined {
  return ggufName(`${modulePath}.weight`);
}

/**
 * Writes a GGUF LoRA adapter (atomically) as convert_lora_to_gguf.py does: its metadata keys in its order, F32
 * tensors `<base>.lora_a` (r, in) and `<base>.lora_b` (out, r) — ggml ne [in, r] and [r, out], the layout
 * llama.cpp's loader checks — with lora_b of llama's q/k row-permuted like the base weight (lora_a is not: the
 * permutation acts on output rows only, so permuting B permutes B·A).
 */
export function writeGgufLora(path: string, { heads, alpha, name, modules }: GgufLoraWriteOptions): void {
  const tensors: GgufWriteTensor[] = [];
  for (const { path: module, r, A, B } of modules) {
    const base = ggufLoraBaseName(module);
    if (base === undefined) throw new WhetError(`${path}: LoRA on '${module}' has no GGUF tensor to apply to`);
    const inF = A.length / r;
    const out = B.length / r;
    if (!Number.isInteger(inF) || !Number.isInteger(out)) throw new WhetError(`${path}: '${module}': A and B do not hold rank ${r} matrices`);
    const permuted = toGgufTensor(`${module}.weight`, [out, r], B, heads)!;
    tensors.push({ name: `${base}.lora_a`, shape: [r, inF], type: 'F32', data: A });
    tensors.push({ name: `${base}.lora_b`, shape: [out, r], type: 'F32', data: permuted.data });
  }
  writeGguf(path, {
    metadata: {
      'general.architecture': heads.arch,
      'general.type': 'adapter',
      'adapter.type': 'lora',
      'general.name': name,
      'adapter.lora.alpha': { type: 'f32', value: alpha },
      'general.quantization_version': { type: 'u32', value: 2 }, // gguf-py's GGML_QUANT_VERSION, written by every converter
    },
    tensors,
  });
}

/** One LoRA pair of a GGUF adapter, as stored (lora_b of llama q/k still row-permuted) with the scale llama.cpp applies. */
export interface GgufLoraPair {
  /** The GGUF base tensor (`blk.0.attn_q.weight`). */
  base: string;
  r: number;
  A: Float32Array; // (r, in)
  B: Float32Array; // (out, r)
  inFeatures: number;
  outFeatures: number;
  /** alpha / r, or 1 when the file's alpha is 0 or absent (llama_adapter_lora_weight::get_scale at adapter scale 1). */
  scale: number;
}

export interface GgufLoraFile {
  arch: string;
  alpha: number;
  /** By HF module path. */
  modules: Map<string, GgufLoraPair>;
}

/** Reads a GGUF LoRA adapter: the checks llama.cpp's loader makes on types, names and shapes, then every pair as F32. */
export function readGgufLora(path: string): GgufLoraFile {
  const file = readGguf(path);
  const md = file.metadata;
  const fail = (what: string): never => {
    throw new WhetError(`${path}: ${what}`);
  };
  if (md['general.type'] !== 'adapter') fail(`general.type is ${JSON.stringify(md['general.type'])}, not "adapter" (not a LoRA adapter file)`);
  if (md['adapter.type'] !== 'lora') fail(`adapter.type is ${JSON.stringify(md['adapter.type'])}, not "lora"`);
  const arch = md['general.architecture'];
  if (typeof arch !== 'string') fail('general.architecture is missing');
  // llama.cpp reads the alpha with gguf_get_val_f32, which asserts the stored type.
  if (md['adapter.lora.alpha'] !== undefined && file.types['adapter.lora.alpha'] !== 'f32') fail(`adapter.lora.alpha is stored as ${JSON.stringify(file.types['adapter.lora.alpha'])}, not f32`);
  const alpha = (md['adapter.lora.alpha'] as number | undefined) ?? 0;

  const pairs = new Map<string, { a?: GgufTensorInfo; b?: GgufTensorInfo }>();
  for (const info of file.tensors) {
    const m = /^(.+)\.lora_([ab])$/.exec(info.name);
    if (m === null) fail(`tensor '${info.name}' is not a LoRA tensor (expected <base>.lora_a / .lora_b)`);
    const entry = pairs.get(m![1]!) ?? {};
    entry[m![2] as 'a' | 'b'] = info;
    pairs.set(m![1]!, entry);
  }
  const modules = new Map<string, GgufLoraPair>();
  for (const [base, { a, b }] of pairs) {
    if (a === undefined || b === undefined) fail(`LoRA pair for '${base}' is missing its ${a ? 'lora_b' : 'lora_a'}`);
    const hf = hfName(base);
    if (hf === undefined || !hf.endsWith('.weight')) fail(`LoRA tensor '${base}' names no HF module`);
    const [r, inF] = a!.shape;
    const [outF, rB] = b!.shape;
    if (a!.shape.length !== 2 || b!.shape.length !== 2 || r !== rB || !(r! > 0))
      fail(`'${base}': lora_a [${a!.shape.join(', ')}] and lora_b [${b!.shape.join(', ')}] are not (r, in) and (out, r)`);
    modules.set(hf!.slice(0, -'.weight'.length), {
      base, r: r!, inFeatures: inF!, outFeatures: outF!,
      A: asF32(readGgufTensor(file, a!)), B: asF32(readGgufTensor(file, b!)),
      scale: alpha !== 0 ? alpha / r! : 1,
    });
  }
  return { arch: arch as string, alpha, modules };
}

// readGgufTensor returns BF16 as raw bits; every other readable type is already F32.
function asF32(data: Float32Array | Uint16Array): Float32Array {
  return data instanceof Float32Array ? data : Float32Array.from(data, bf16ToF32);
}
