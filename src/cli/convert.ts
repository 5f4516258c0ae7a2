// `whet convert IN OUT`: a GGUF file to a Hugging Face folder, or a folder to a GGUF file.
import { convert } from '../model/convert.ts';
import { parseCommand } from './options.ts';
import { convertSpec } from './specs.ts';

export async function convertCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(convertSpec, argv);
  if (parsed === null) return 0;
  const [input, output] = parsed.positionals as [string, string];
  const r = convert(input, output);
  process.stderr.write(`converted ${r.tensors} tensors (${r.direction}): ${output}\n`);
  return 0;
}
