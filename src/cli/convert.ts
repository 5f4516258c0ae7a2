// `whet convert IN OUT`: a GGUF file to a Hugging Face folder, or a folder to a GGUF file.
import { parseArgs } from 'node:util';
import { convert } from '../model/convert.ts';
import { UsageError } from './errors.ts';

export async function convertCommand(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const [input, output] = positionals;
  if (input === undefined || output === undefined || positionals.length > 2) throw new UsageError('usage: whet convert IN OUT  (IN.gguf → OUT folder, or IN folder → OUT.gguf)');
  const r = convert(input, output);
  process.stderr.write(`converted ${r.tensors} tensors (${r.direction}): ${output}\n`);
  return 0;
}
