// `whet convert IN OUT [--dtype TYPE]`: GGUF → HF folder, HF folder → GGUF, or GGUF → GGUF (e.g. quantising).
import { convert, type ConvertDType } from '../model/convert.ts';
import { parseCommand } from './options.ts';
import { convertSpec } from './specs.ts';

export async function convertCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(convertSpec, argv);
  if (parsed === null) return 0;
  const [input, output] = parsed.positionals as [string, string];
  const dtype = parsed.values.dtype as ConvertDType | undefined;
  const r = convert(input, output, { dtype });
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
