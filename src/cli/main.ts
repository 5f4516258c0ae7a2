// `whet <verb>`: dispatches to one module per verb (loaded on demand); help, version and completion come from
// the verb specs; errors become one line and a non-zero exit.
import { createRequire } from 'node:module';
import { UsageError } from './errors.ts';
import { helpText, nearest } from './options.ts';
import { COMMANDS } from './specs.ts';

type Verb = (argv: string[]) => Promise<number>;

const verbs: Record<string, () => Promise<Verb>> = {
  generate: async () => (await import('./generate.ts')).generateCommand,
  serve: async () => (await import('./serve.ts')).serveCommand,
  studio: async () => (await import('./studio.ts')).studioCommand,
  perplexity: async () => (await import('./perplexity.ts')).perplexityCommand,
  merge: async () => (await import('./merge.ts')).mergeCommand,
  'export-lora': async () => (await import('./export-lora.ts')).exportLoraCommand,
  eval: async () => (await import('./eval.ts')).evalCommand,
  score: async () => (await import('./score.ts')).scoreCommand,
  train: async () => (await import('./train.ts')).trainCommand,
  convert: async () => (await import('./convert.ts')).convertCommand,
  pull: async () => (await import('./pull.ts')).pullCommand,
  data: async () => (await import('./data.ts')).dataCommand,
  bench: async () => (await import('./bench.ts')).benchCommand,
  completion: async () => (await import('./completion.ts')).completionCommand,
  demo: async () => (await import('./demo.ts')).demoCommand,
};

function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary.split('; ')[0]!.replace(/\.$/, '')}`);
  return `usage: whet <verb> [options]\n\nverbs:\n${lines.join('\n')}\n\nrun whet <verb> --help (or whet help <verb>) for a verb's options; whet --version prints the version\n`;
}

function version(): string {
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  // A reader that stops early (`whet score … | head`) closes the pipe: that ends the output, it is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h') {
    process.stdout.write(usage());
    return verb === undefined ? 2 : 0;
  }
  if (verb === '--version' || verb === '-V') {
    process.stdout.write(`whet ${version()}\n`);
    return 0;
  }
  if (verb === 'help') {
    const spec = COMMANDS.find((c) => c.name === rest[0]);
    if (rest[0] !== undefined && spec === undefined) return unknownVerb(rest[0]);
    process.stdout.write(spec === undefined ? usage() : helpText(spec));
    return 0;
  }
  const load = verbs[verb];
  if (load === undefined) return unknownVerb(verb);
  try {
    return await (await load())(rest);
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

function unknownVerb(verb: string): number {
  const guess = nearest(verb, Object.keys(verbs));
  process.stderr.write(`whet: unknown verb '${verb}'${guess !== undefined ? `; did you mean '${guess}'?` : ''}\n\n${usage()}`);
  return 2;
}
