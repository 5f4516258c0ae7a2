// `whet export-lora ADAPTER --gguf OUT.gguf [--model BASE]`: a PEFT LoRA adapter as llama.cpp's GGUF LoRA file.
import { exportGgufLora } from '../adapters/gguf-lora.ts';
import { parseCommand } from './options.ts';
import { exportLoraSpec } from './specs.ts';

export async function exportLoraCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(exportLoraSpec, argv);
  if (parsed === null) return 0;
  const [adapterDir] = parsed.positionals as [string];
  const { gguf, model } = parsed.values as { gguf: string; model?: string };
  const r = exportGgufLora(adapterDir, gguf, model === undefined ? {} : { model });
  const folded = r.folded > 0 ? `; lora_b of ${r.folded} layers scaled to keep their own alpha/r under the file's one alpha` : '';
  process.stderr.write(`exported ${r.layers} LoRA layers for ${r.arch} (base ${r.base}, adapter.lora.alpha ${r.alpha}${folded}): ${gguf}\n`);
  return 0;
}
