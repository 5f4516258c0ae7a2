// `whet convert IN OUT [--dtype TYPE] [--calibration FILE]`: GGUF → HF folder, HF folder → GGUF, or GGUF → GGUF
// (e.g. quantising; Q4_0 by GPTQ over calibration text).
import { existsSync, readFileSync } from 'node:fs';
import { WhetError } from '../errors.ts';
import { ggufName } from '../formats/llama-names.ts';
import { convert, type ConvertDType } from '../model/convert.ts';
import { modelContext } from '../model/context.ts';
import { calibrationGrams } from '../model/calibration.ts';
import { loadModel } from '../model/load.ts';
import { parseCommand } from './options.ts';
import { Progress } from './progress.ts';
import { convertSpec } from './specs.ts';

/** The Gram matrices of the input model's linear-layer inputs over the calibration text, by GGUF tensor name. */
function calibrate(input: string, textPath: string, maxTokens: number, ctxAsked: number | undefined): Map<string, Float32Array> {
  if (!existsSync(textPath)) throw new WhetError(`${textPath}: no such file`);
  const { model, tokenizer, config } = loadModel(input);
  try {
    const ctx = Math.min(ctxAsked ?? 512, modelContext(config));
    const ids = tokenizer.encode(readFileSync(textPath, 'utf8'), { addBos: true }).slice(0, maxTokens);
    if (ids.length < 2) throw new WhetError(`${textPath}: too little text (${ids.length} token) to calibrate on`);
    const bar = new Progress('calibration', ids.length);
    const byModelName = calibrationGrams(model, ids, ctx, (done) => bar.update(done));
    bar.done();
    process.stderr.write(`calibration: ${byModelName.size} matrices over ${ids.length} tokens of ${textPath} (Q4_0 by GPTQ)\n`);
    return new Map([...byModelName].flatMap(([name, v]) => {
      const g = ggufName(name);
      return g === undefined ? [] : [[g, v] as [string, Float32Array]];
    }));
  } finally {
    model.dispose();
  }
}

export async function convertCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(convertSpec, argv);
  if (parsed === null) return 0;
  const [input, output] = parsed.positionals as [string, string];
  const values = parsed.values as { dtype?: ConvertDType; calibration?: string; 'calibration-tokens': number; ctx?: number };
  const dtype = values.dtype;
  if (values.calibration !== undefined && dtype !== 'q4_0') throw new WhetError('--calibration drives GPTQ for q4_0: use it with --dtype q4_0');
  const calibration = values.calibration === undefined ? undefined : calibrate(input, values.calibration, values['calibration-tokens'], values.ctx);
  const r = convert(input, output, { dtype, calibration });
  // Matrices the dtype could not quantise, grouped by reason.
  const byReason = new Map<string, string[]>();
  for (const k of r.keptF32) byReason.set(k.reason, [...(byReason.get(k.reason) ?? []), k.name]);
  for (const [reason, names] of byReason) {
    const shown = names.length > 4 ? `${names.slice(0, 4).join(', ')}, … (${names.length - 4} more)` : names.join(', ');
    process.stderr.write(`kept ${names.length} ${names.length === 1 ? 'matrix' : 'matrices'} in F32: ${reason}: ${shown}\n`);
  }
  if (r.requantized.length > 0) {
    process.stderr.write(`warning: ${r.requantized.length} tensors were already quantised and were quantised again from their dequantised values (quality of the coarser type): ${r.requantized.slice(0, 3).join(', ')}${r.requantized.length > 3 ? ', …' : ''}\n`);
  }
  const types = Object.entries(r.types).map(([t, n]) => `${n} ${t}`).join(', ');
  process.stderr.write(`converted ${r.tensors} tensors (${r.direction}${types !== '' ? `: ${types}` : ''}): ${output}\n`);
  return 0;
}
