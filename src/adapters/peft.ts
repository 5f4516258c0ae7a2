// PEFT LoRA adapters on disk: adapter_config.json + adapter_model.safetensors, written as PEFT writes them and read from PEFT's.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { Tensor } from '../tensor/tensor.ts';
import { Rng } from '../tensor/random.ts';
import type { Module } from '../nn/module.ts';
import { readSafetensors, writeSafetensors, type SafetensorsTensor } from '../formats/safetensors.ts';
import { writeFileAtomic } from '../formats/atomic.ts';
import { writeAll } from '../formats/file-io.ts';
import { decodeF16 } from '../formats/f16.ts';
import { LoraLinear } from './lora.ts';
import { assertNoLora, freezeAll, linearLayers, loraLayers, SCORE_HEAD, validateLoraConfig, type LoraConfig } from './apply.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
/** PEFT names tensors from its PeftModel wrapper: base_model (LoraModel) → model (the HF model). */
const KEY_PREFIX = 'base_model.model.';
/** The score head as PEFT saves modules_to_save (older versions kept the wrapper's name in the key). */
const SCORE_KEY = new RegExp(`^base_model\\.model\\.${SCORE_HEAD}(?:\\.modules_to_save(?:\\.default)?)?\\.weight$`);

type Json = Record<string, unknown>;

/**
 * Writes the model's adapters as a PEFT LoRA adapter folder (weights F32, then config; each file atomic).
 * Layers whose rank or alpha differ from cfg go into rank_pattern / alpha_pattern by full module path. A reward
 * model's adapter is PEFT's SEQ_CLS kind: its whole `score` head is saved beside the LoRA weights (modules_to_save).
 */
export function saveAdapter(dir: string, model: Module, cfg: LoraConfig, baseModelNameOrPath: string | null): void {
  validateLoraConfig(cfg);
  const layers = loraLayers(model);
  if (layers.length === 0) throw new WhetError('the model has no LoRA layers to save');
  const tensors = new Map<string, SafetensorsTensor>();
  const rankPattern: Json = {};
  const alphaPattern: Json = {};
  for (const { path, layer } of layers) {
    for (const [part, w] of [['lora_A', layer.lora_A.weight], ['lora_B', layer.lora_B.weight]] as const)
      tensors.set(`${KEY_PREFIX}${path}.${part}.weight`, { dtype: 'F32', shape: [...w.shape], data: Float32Array.from(w.f) });
    if (layer.r !== cfg.r) rankPattern[path] = layer.r;
    if (layer.alpha !== cfg.alpha) alphaPattern[path] = layer.alpha;
    if (layer.rsLora !== (cfg.rsLora ?? false)) throw new WhetError(`${path}: rsLoRA ${layer.rsLora} differs from the config's; one adapter has one scaling rule`);
  }
  const score = linearLayers(model).get(SCORE_HEAD)?.layer.weight;
  if (score !== undefined) tensors.set(`${KEY_PREFIX}${SCORE_HEAD}.weight`, { dtype: 'F32', shape: [...score.shape], data: Float32Array.from(score.f) });
  const config: Json = {
    alpha_pattern: alphaPattern,
    base_model_name_or_path: baseModelNameOrPath,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: cfg.alpha,
    lora_dropout: cfg.dropout,
    modules_to_save: score === undefined ? null : [SCORE_HEAD],
    peft_type: 'LORA',
    r: cfg.r,
    rank_pattern: rankPattern,
    revision: null,
    target_modules: cfg.targetModules === 'all-linear' ? 'all-linear' : [...cfg.targetModules].sort(),
    task_type: score === undefined ? 'CAUSAL_LM' : 'SEQ_CLS',
    use_dora: false,
    use_rslora: cfg.rsLora ?? false,
  };
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  // PEFT writes its config with sorted keys and a two-space indent; the keys above are in that order.
  writeFileAtomic(join(dir, ADAPTER_CONFIG), (fd) => writeAll(fd, new TextEncoder().encode(JSON.stringify(config, null, 2) + '\n')));
}

export interface LoadedAdapter {
  config: LoraConfig;
  /** CAUSAL_LM, or SEQ_CLS for a reward model's adapter (which carried the score head). */
  taskType: 'CAUSAL_LM' | 'SEQ_CLS';
  baseModelNameOrPath: string | null;
  /** The new LoRA layers, in model order. */
  layers: LoraLinear[];
}

/** One module's adapter as read from a PEFT file: A (r, in), B (out, r) in f32, its rank and alpha. */
export interface AdapterModule {
  path: string;
  r: number;
  alpha: number;
  A: Float32Array;
  B: Float32Array;
}

/** A PEFT LoRA adapter read and checked against a model's layer shapes, not yet put on any model. */
export interface AdapterFile {
  config: LoraConfig;
  rsLora: boolean;
  taskType: 'CAUSAL_LM' | 'SEQ_CLS';
  baseModelNameOrPath: string | null;
  modules: AdapterModule[];
  /** A SEQ_CLS adapter's score head (1, D). */
  score?: Float32Array;
}

/**
 * Reads a PEFT LoRA adapter folder: each lora_A/lora_B key must name a Linear of the model (`shapeOf` gives its
 * [out, in], undefined when there is none) with matching shapes; a SEQ_CLS adapter's score head must fit
 * `scoreShape`. Everything is checked; nothing is changed.
 */
export function readAdapter(dir: string, shapeOf: (path: string) => readonly number[] | undefined, scoreShape?: readonly number[]): AdapterFile {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new WhetError(`${dir}: no such adapter folder`);
  const configPath = join(dir, ADAPTER_CONFIG);
  if (!existsSync(configPath)) throw new WhetError(`${dir}: no ${ADAPTER_CONFIG} (not a PEFT adapter folder)`);
  const json = readJson(configPath);
  const peft = peftLoraSettings(json, configPath);
  const weightsPath = join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(weightsPath)) {
    if (existsSync(join(dir, 'adapter_model.bin')))
      throw new WhetError(`${dir}: only adapter_model.bin (a PyTorch pickle) is present; adapters are read from ${ADAPTER_WEIGHTS} only (re-save with safe_serialization=True)`);
    throw new WhetError(`${dir}: no ${ADAPTER_WEIGHTS}`);
  }
  const { tensors } = readSafetensors(weightsPath);

  // Pair up A and B per module path; the score head (modules_to_save) apart.
  const pairs = new Map<string, { A?: [string, SafetensorsTensor]; B?: [string, SafetensorsTensor] }>();
  let scoreWeight: [string, SafetensorsTensor] | undefined;
  for (const [key, t] of tensors) {
    if (SCORE_KEY.test(key)) {
      if (!peft.modulesToSave.includes(SCORE_HEAD)) throw new WhetError(`${weightsPath}: '${key}' is a score head, but ${ADAPTER_CONFIG} does not list '${SCORE_HEAD}' in modules_to_save`);
      scoreWeight = [key, t];
      continue;
    }
    const m = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/.exec(key);
    if (m === null) throw new WhetError(`${weightsPath}: tensor '${key}' is not a LoRA weight this loader understands (expected ${KEY_PREFIX}<module>.lora_A.weight / .lora_B.weight)`);
    const entry = pairs.get(m[1]!) ?? {};
    if (entry[m[2] as 'A' | 'B'] !== undefined) throw new WhetError(`${weightsPath}: two tensors for ${m[1]}.lora_${m[2]}`);
    entry[m[2] as 'A' | 'B'] = [key, t];
    pairs.set(m[1]!, entry);
  }
  if (pairs.size === 0) throw new WhetError(`${weightsPath}: no LoRA weights`);

  if (peft.modulesToSave.includes(SCORE_HEAD) && scoreWeight === undefined) throw new WhetError(`${weightsPath}: modules_to_save lists '${SCORE_HEAD}' but the file has no ${KEY_PREFIX}${SCORE_HEAD}.weight`);
  if (scoreWeight !== undefined) {
    if (scoreShape === undefined) throw new WhetError(`${dir}: a reward model's adapter (task_type SEQ_CLS, with a score head) needs a model with a score head`);
    if (scoreWeight[1].shape.join() !== scoreShape.join())
      throw new WhetError(`${weightsPath}: '${scoreWeight[0]}' has shape [${scoreWeight[1].shape.join(', ')}], expected [${scoreShape.join(', ')}]`);
  }
  const modules = [...pairs].map(([path, { A, B }]): AdapterModule => {
    if (A === undefined || B === undefined) throw new WhetError(`${weightsPath}: module '${path}' has ${A ? 'lora_A' : 'lora_B'} but no ${A ? 'lora_B' : 'lora_A'}`);
    if (path === 'lm_head') throw new WhetError(`${weightsPath}: LoRA on the output head 'lm_head' is not supported`);
    const shape = shapeOf(path);
    if (shape === undefined) throw new WhetError(`${weightsPath}: key '${A[0]}' names module '${path}', which is not a Linear layer of this model`);
    const [out, inF] = shape as [number, number];
    const r = A[1].shape[0]!;
    if (A[1].shape.length !== 2 || A[1].shape[1] !== inF || r < 1)
      throw new WhetError(`${weightsPath}: '${A[0]}' has shape [${A[1].shape.join(', ')}], expected [r, ${inF}] for ${path} ([${out}, ${inF}])`);
    if (B[1].shape.length !== 2 || B[1].shape[0] !== out || B[1].shape[1] !== r)
      throw new WhetError(`${weightsPath}: '${B[0]}' has shape [${B[1].shape.join(', ')}], expected [${out}, ${r}] for ${path} with rank ${r}`);
    const expectedR = patternValue(peft.rankPattern, path, peft.r, configPath);
    if (r !== expectedR) throw new WhetError(`${weightsPath}: '${A[0]}' has rank ${r}, but ${ADAPTER_CONFIG} gives ${path} rank ${expectedR}`);
    const alpha = patternValue(peft.alphaPattern, path, peft.alpha, configPath);
    return { path, r, alpha, A: toF32(A, weightsPath), B: toF32(B, weightsPath) };
  });
  const targetModules = peft.targetModules ?? [...new Set(modules.map(({ path }) => lastName(path)))].sort();
  return {
    config: { r: peft.r, alpha: peft.alpha, dropout: peft.dropout, targetModules, rsLora: peft.rsLora, seed: 0 },
    rsLora: peft.rsLora,
    taskType: scoreWeight === undefined ? 'CAUSAL_LM' : 'SEQ_CLS',
    baseModelNameOrPath: peft.baseModel,
    modules,
    ...(scoreWeight !== undefined ? { score: toF32(scoreWeight, weightsPath) } : {}),
  };
}

/**
 * Reads a PEFT LoRA adapter folder (readAdapter) and puts it on the model; the base ends frozen and the LoRA
 * weights trainable. A SEQ_CLS adapter's score head is copied into the model's (attach one first: see
 * adapterTaskType). seed seeds the dropout stream.
 */
export function loadAdapter(dir: string, model: Module, opts: { seed?: number } = {}): LoadedAdapter {
  assertNoLora(model);
  const linears = linearLayers(model);
  const scoreHead = linears.get(SCORE_HEAD)?.layer;
  const file = readAdapter(dir, (path) => (path === SCORE_HEAD ? undefined : linears.get(path)?.layer.weight.shape), scoreHead?.weight.shape);
  freezeAll(model);
  if (file.score !== undefined) scoreHead!.weight.f.set(file.score);
  scoreHead?.weight.requireGrad(true);
  const dropoutRng = new Rng(opts.seed ?? 0);
  const layers = file.modules.map(({ path, r, alpha, A, B }) => {
    const target = linears.get(path)!;
    const lora = new LoraLinear(target.layer, Tensor.fromArray(A, [r, A.length / r]), Tensor.fromArray(B, [B.length / r, r]), { alpha, rsLora: file.rsLora, dropout: file.config.dropout, dropoutRng });
    target.replace(lora);
    return lora;
  });
  return { config: { ...file.config, seed: opts.seed ?? 0 }, taskType: file.taskType, baseModelNameOrPath: file.baseModelNameOrPath, layers };
}

/** Whether an adapter folder holds a reward model's adapter (SEQ_CLS with a score head), read from its config alone. */
export function adapterTaskType(dir: string): 'CAUSAL_LM' | 'SEQ_CLS' {
  const configPath = join(dir, ADAPTER_CONFIG);
  if (!existsSync(configPath)) throw new WhetError(`${dir}: no ${ADAPTER_CONFIG} (not a PEFT adapter folder)`);
  return peftLoraSettings(readJson(configPath), configPath).modulesToSave.includes(SCORE_HEAD) ? 'SEQ_CLS' : 'CAUSAL_LM';
}

interface PeftLoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  rsLora: boolean;
  /** A list or 'all-linear'; undefined for a regex string (the weights' keys then tell the modules). */
  targetModules: string[] | 'all-linear' | undefined;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  baseModel: string | null;
  /** Whole modules saved beside the LoRA weights: a sequence classifier's head (score) at most. */
  modulesToSave: string[];
}

/** Reads the fields of a PEFT LoraConfig that change the computation (PEFT's defaults where absent); refuses what this LoRA cannot do. */
function peftLoraSettings(json: Json, where: string): PeftLoraSettings {
  const field = (name: string, fallback: unknown): unknown => (json[name] === undefined || json[name] === null ? fallback : json[name]);
  const bad = (name: string, want: string): never => {
    throw new WhetError(`${where}: '${name}' must be ${want}, got ${JSON.stringify(json[name])}`);
  };
  if (json.peft_type !== 'LORA') throw new WhetError(`${where}: peft_type ${JSON.stringify(json.peft_type)} is not supported (only "LORA")`);
  const r = field('r', 8);
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) bad('r', 'a positive integer');
  const alpha = field('lora_alpha', 8);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) bad('lora_alpha', 'a number');
  const dropout = field('lora_dropout', 0);
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) bad('lora_dropout', 'a number in [0, 1)');
  const rsLora = field('use_rslora', false);
  if (typeof rsLora !== 'boolean') bad('use_rslora', 'true or false');
  if (field('bias', 'none') !== 'none') throw new WhetError(`${where}: bias ${JSON.stringify(json.bias)} is not supported (only "none": LoRA adapters here train no biases)`);
  if (field('use_dora', false) !== false) throw new WhetError(`${where}: DoRA adapters (use_dora) are not supported`);
  if (field('lora_bias', false) !== false) throw new WhetError(`${where}: lora_bias adapters are not supported`);
  if (field('fan_in_fan_out', false) !== false) throw new WhetError(`${where}: fan_in_fan_out adapters (GPT-2 Conv1D layers) are not supported`);
  // PEFT adds a sequence classifier's heads (classifier, score) to modules_to_save; Llama's is score.
  const mts = field('modules_to_save', []);
  if (!Array.isArray(mts) || mts.some((m) => m !== SCORE_HEAD && m !== 'classifier'))
    throw new WhetError(`${where}: modules_to_save ${JSON.stringify(json.modules_to_save)} is not supported (only a reward model's head, ${JSON.stringify(SCORE_HEAD)})`);
  const replication = field('layer_replication', []);
  if (!Array.isArray(replication) || replication.length > 0) throw new WhetError(`${where}: layer_replication is not supported`);
  const tm = field('target_modules', undefined);
  let targetModules: PeftLoraSettings['targetModules'];
  if (tm === 'all-linear') targetModules = 'all-linear';
  else if (Array.isArray(tm) && tm.length > 0 && tm.every((x) => typeof x === 'string')) targetModules = [...(tm as string[])].sort();
  else if (tm !== undefined && typeof tm !== 'string') bad('target_modules', 'a list of module names or a string');
  const base = field('base_model_name_or_path', null);
  return {
    r: r as number,
    alpha: alpha as number,
    dropout: dropout as number,
    rsLora: rsLora as boolean,
    targetModules,
    rankPattern: numberMap(field('rank_pattern', {}), 'rank_pattern', where),
    alphaPattern: numberMap(field('alpha_pattern', {}), 'alpha_pattern', where),
    baseModel: typeof base === 'string' ? base : null,
    modulesToSave: mts as string[],
  };
}

function numberMap(v: unknown, name: string, where: string): Record<string, number> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'number'))
    throw new WhetError(`${where}: '${name}' must map module names to numbers`);
  return v as Record<string, number>;
}

/** PEFT's pattern lookup: the first key k for which the module path matches (.*\.)?(k)$. */
export function patternValue(pattern: Record<string, number>, path: string, fallback: number, where: string): number {
  for (const [k, v] of Object.entries(pattern)) {
    let re: RegExp;
    try {
      re = new RegExp(`^(.*\\.)?(${k})$`);
    } catch {
      throw new WhetError(`${where}: pattern key ${JSON.stringify(k)} is not a valid regular expression`);
    }
    if (re.test(path)) return v;
  }
  return fallback;
}

/** A LoRA weight as f32, from F32, F16 or BF16. */
export function toF32([key, t]: [string, SafetensorsTensor], where: string): Float32Array {
  switch (t.dtype) {
    case 'F32':
      return t.data as Float32Array;
    case 'F16':
      return decodeF16(t.data as Uint16Array);
    case 'BF16':
      return new Float32Array(Uint32Array.from(t.data as Uint16Array, (b) => b << 16).buffer);
    default:
      throw new WhetError(`${where}: '${key}' is ${t.dtype}; LoRA weights must be F32, F16 or BF16`);
  }
}

function readJson(path: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new WhetError(`${path}: invalid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new WhetError(`${path}: not a JSON object`);
  return value as Json;
}

function lastName(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}
