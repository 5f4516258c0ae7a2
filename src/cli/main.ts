// `whet <verb>`: dispatches to one module per verb; turns errors into one line and a non-zero exit.
import { UsageError } from './errors.ts';

type Verb = (argv: string[]) => Promise<number>;

const verbs: Record<string, { help: string; load: () => Promise<Verb> }> = {
  generate: { help: 'generate text from a model (GGUF file or HF folder)', load: async () => (await import('./generate.ts')).generateCommand },
  perplexity: { help: 'mean NLL and perplexity of a model on a text file', load: async () => (await import('./perplexity.ts')).perplexityCommand },
  merge: { help: 'merge a PEFT LoRA adapter into its base model, writing a Hugging Face folder', load: async () => (await import('./merge.ts')).mergeCommand },
  eval: { help: 'score a model or its predictions on a dataset (exact, normalized, sql, ppl, scorer)', load: async () => (await import('./eval.ts')).evalCommand },
  train: { help: 'fine-tune a model on prompt/response data (full or LoRA)', load: async () => (await import('./train.ts')).trainCommand },
  convert: { help: 'convert a GGUF file to a Hugging Face folder, or back', load: async () => (await import('./convert.ts')).convertCommand },
  data: { help: 'inspect, validate or split a fine-tuning dataset', load: async () => (await import('./data.ts')).dataCommand },
  bench: { help: 'measure kernel and model speed against the machine\'s limits', load: async () => (await import('./bench.ts')).benchCommand },
};

function usage(): string {
  const lines = Object.entries(verbs).map(([name, v]) => `  ${name.padEnd(12)} ${v.help}`);
  return `usage: whet <verb> [options]\n\nverbs:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    process.stdout.write(usage());
    return verb === undefined ? 1 : 0;
  }
  const entry = verbs[verb];
  if (entry === undefined) {
    process.stderr.write(`whet: unknown verb '${verb}'\n${usage()}`);
    return 2;
  }
  try {
    return await (await entry.load())(rest);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`whet ${verb}: ${(err as Error).message}\n`);
      return 2;
    }
    if (err instanceof Error && err.name === 'WhetError') {
      process.stderr.write(`whet ${verb}: ${err.message}\n`);
      return 1;
    }
    // Anything else is a bug or an environment problem: one line, the stack only on request.
    process.stderr.write(`whet ${verb}: ${err instanceof Error ? err.message : String(err)}\n`);
    if (process.env.WHET_DEBUG !== undefined && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    else process.stderr.write('(set WHET_DEBUG=1 for a stack trace)\n');
    return 1;
  }
}
