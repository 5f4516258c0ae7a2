// `whet export-lora`'s conversion: a PEFT LoRA adapter folder → llama.cpp's GGUF LoRA file, with every layer's scale kept exact.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { WhetError } from '../errors.ts';
import { loadConfig } from '../model/load.ts';
import { parseModelRef, resolveModelPath } from '../hub/cache.ts';
import type { ModelConfig } from '../model/config.ts';
import { readSafetensors, type SafetensorsTensor } from '../formats/safetensors.ts';
import { ggufArchitecture } from '../formats/llama-names.ts';
import { ggufLoraBaseName, writeGgufLora, type GgufLoraModule } from '../formats/gguf-lora.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterTaskType, patternValue, toF32 } from './peft.ts';
import { loraScaling } from './lora.ts';

export interface GgufLoraExport {
  /** GGUF general.architecture. */
  arch: string;
  /** Where the base's config was read. */
  base: string;
  layers: number;
  /** adapter.lora.alpha as written. */
  alpha: number;
  /** Layers whose lora_b was scaled so llama.cpp's one alpha gives them their PEFT scale. */
  folded: number;
}

/**
 * Writes the adapter in `adapterDir` as a GGUF LoRA file for llama.cpp and Ollama. The base's config (from
 * `model`, else from base_model_name_or_path when that is a local path) gives the architecture, the head counts
 * for llama's q/k permutation and the shapes every pair must have.
 *
 * Where this goes beyond convert_lora_to_gguf.py, which writes lora_alpha as is: llama.cpp scales each pair by
 * alpha / r (r from the tensor) and knows no rsLoRA, so an rsLoRA adapter is written with alpha·√r; and as a file
 * has one alpha, a layer whose PEFT scale (rank_pattern / alpha_pattern) differs from file_alpha / r_layer gets its
 * lora_b multiplied by the ratio, so that scale·B·A is the PEFT delta exactly. Refused rather than converted: LoRA on
 * embeddings (the converter's token_embd pairs; Whetstone never trains them), modules_to_save, aLoRA.
 */
export function exportGgufLora(adapterDir: string, outPath: string, opts: { model?: string } = {}): GgufLoraExport {
  if (!existsSync(adapterDir) || !statSync(adapterDir).isDirectory()) throw new WhetError(`${adapterDir}: no such adapter folder`);
  const configPath = join(adapterDir, ADAPTER_CONFIG);
  // adapterTaskType validates every field of the config the way loading the adapter does.
  const taskType = adapterTaskType(adapterDir);
  const json = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  if (taskType === 'SEQ_CLS' || json.task_type === 'SEQ_CLS')
    throw new WhetError(`${configPath}: a reward model's adapter (task_type SEQ_CLS, modules_to_save ${JSON.stringify(json.modules_to_save)}) has a score head that llama.cpp's LoRA format cannot carry; export the LoRA of a causal LM`);
  if (Array.isArray(json.modules_to_save) && json.modules_to_save.length > 0)
    throw new WhetError(`${configPath}: modules_to_save ${JSON.stringify(json.modules_to_save)}: whole modules cannot go into a GGUF LoRA`);
  // An activated LoRA (aLoRA) applies only after its invocation tokens; written as a plain LoRA it would apply everywhere.
  if (json.alora_invocation_tokens != null || json.invocation_string != null)
    throw new WhetError(`${configPath}: activated LoRA (alora_invocation_tokens / invocation_string) is not supported`);
  const field = <T>(name: string, fallback: T): T => (json[name] === undefined || json[name] === null ? fallback : (json[name] as T));
  const r = field('r', 8); // PEFT's defaults
  const alpha = field('lora_alpha', 8);
  const rsLora = field('use_rslora', false);
  const rankPattern = field<Record<string, number>>('rank_pattern', {});
  const alphaPattern = field<Record<string, number>>('alpha_pattern', {});

  const basePath = opts.model ?? localBase(json.base_model_name_or_path, adapterDir, configPath);
  if (resolve(outPath) === resolve(basePath)) throw new WhetError(`${outPath} is the base model itself; write the GGUF adapter elsewhere`);
  const config = loadConfig(basePath);
  // loadConfig has refused the model types GGUF export does not map (the same set).
  const arch = ggufArchitecture(config.modelType);

  const weightsPath = join(adapterDir, ADAPTER_WEIGHTS);
  if (!existsSync(weightsPath)) throw new WhetError(`${adapterDir}: no ${ADAPTER_WEIGHTS}`);
  const pairs = new Map<string, { A?: [string, SafetensorsTensor]; B?: [string, SafetensorsTensor] }>();
  for (const [key, t] of readSafetensors(weightsPath).tensors) {
    const m = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/.exec(key);
    if (m === null) throw new WhetError(`${weightsPath}: tensor '${key}' is not a LoRA A/B weight; a GGUF LoRA holds nothing else`);
    const entry = pairs.get(m[1]!) ?? {};
    if (entry[m[2] as 'A' | 'B'] !== undefined) throw new WhetError(`${weightsPath}: two tensors for ${m[1]}.lora_${m[2]}`);
    entry[m[2] as 'A' | 'B'] = [key, t];
    pairs.set(m[1]!, entry);
  }
  if (pairs.size === 0) throw new WhetError(`${weightsPath}: no LoRA weights`);

  // llama.cpp multiplies by fround(alpha) / r_layer (or 1 for alpha 0); each layer's lora_b takes what that misses.
  const fileAlpha = rsLora ? alpha * Math.sqrt(r) : alpha;
  let folded = 0;
  const modules: GgufLoraModule[] = [...pairs].map(([path, { A, B }]) => {
    if (A === undefined || B === undefined) throw new WhetError(`${weightsPath}: module '${path}' has ${A ? 'lora_A' : 'lora_B'} but no ${A ? 'lora_B' : 'lora_A'}`);
    if (ggufLoraBaseName(path) === undefined) throw new WhetError(`${weightsPath}: '${A[0]}': LoRA on '${path}' has no GGUF tensor to apply to (llama.cpp takes LoRA on attention and MLP projections and an untied output head)`);
    const [out, inF] = expectedShape(path, config, basePath);
    const rl = A[1].shape[0]!;
    if (A[1].shape.length !== 2 || A[1].shape[1] !== inF || B[1].shape.length !== 2 || B[1].shape[0] !== out || B[1].shape[1] !== rl)
      throw new WhetError(`${weightsPath}: '${path}' has lora_A [${A[1].shape.join(', ')}] and lora_B [${B[1].shape.join(', ')}]; ${basePath} needs [r, ${inF}] and [${out}, r] (the wrong base model?)`);
    const want = patternValue(rankPattern, path, r, configPath);
    if (rl !== want) throw new WhetError(`${weightsPath}: '${A[0]}' has rank ${rl}, but ${ADAPTER_CONFIG} gives ${path} rank ${want}`);
    const peftScale = loraScaling(rl, patternValue(alphaPattern, path, alpha, configPath), rsLora);
    const llamaScale = fileAlpha !== 0 ? Math.fround(fileAlpha) / rl : 1;
    const fold = peftScale / llamaScale;
    let b = toF32(B, weightsPath);
    if (Math.abs(fold - 1) > 1e-6) {
      b = b.map((v) => v * fold);
      folded++;
    }
    return { path, r: rl, A: toF32(A, weightsPath), B: b };
  });

  writeGgufLora(outPath, {
    heads: { arch, nHead: config.numHeads, nHeadKv: config.numKvHeads },
    alpha: fileAlpha,
    name: basename(resolve(adapterDir)),
    modules,
  });
  return { arch, base: basePath, layers: modules.length, alpha: fileAlpha, folded };
}

/** base_model_name_or_path when it names a local model (as given, or relative to the adapter folder). */
function localBase(base: unknown, adapterDir: string, configPath: string): string {
  if (typeof base === 'string' && base !== '') {
    for (const candidate of isAbsolute(base) ? [base] : [base, join(adapterDir, base)]) if (existsSync(candidate)) return candidate;
    // A hub name, as PEFT writes it: the pulled copy in the cache.
    if (parseModelRef(base) !== undefined) {
      try {
        return resolveModelPath(base);
      } catch (e) {
        throw new WhetError(`${configPath}: base_model_name_or_path: ${(e as Error).message}; or pass --model (the base GGUF file or HF folder)`);
      }
    }
  }
  throw new WhetError(`${configPath}: base_model_name_or_path ${JSON.stringify(base ?? null)} is not a local model; pass --model (the base GGUF file or HF folder) so the architecture and shapes are known`);
}

/** [out, in] of the base's Linear at an HF module path. */
function expectedShape(path: string, c: ModelConfig, where: string): [number, number] {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  if (path === 'lm_head') {
    if (c.tieWordEmbeddings) throw new WhetError(`${where}: the base ties lm_head to the embedding, so llama.cpp has no output tensor for the adapter's LoRA on lm_head`);
    return [c.vocabSize, c.hiddenSize];
  }
  const m = /^model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)$/.exec(path);
  const shapes: Record<string, [number, number]> = {
    q_proj: [q, c.hiddenSize], k_proj: [kv, c.hiddenSize], v_proj: [kv, c.hiddenSize], o_proj: [c.hiddenSize, q],
    gate_proj: [c.intermediateSize, c.hiddenSize], up_proj: [c.intermediateSize, c.hiddenSize], down_proj: [c.hiddenSize, c.intermediateSize],
  };
  const shape = m === null ? undefined : shapes[m[3]!];
  if (shape === undefined || Number(m![1]) >= c.numLayers) throw new WhetError(`${where}: the base model has no Linear layer '${path}' for a LoRA (${c.numLayers} layers)`);
  return shape;
}
