// `whet perplexity`: mean next-token NLL (nats/token) and perplexity of a model on a text file.
import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { WhetError } from '../errors.ts';
import { loadAdapter } from '../adapters/peft.ts';
import { loadModel } from '../model/load.ts';
import { perplexity } from '../eval/perplexity.ts';
import { numberFlag, requireFlag } from './args.ts';
import { Progress } from './progress.ts';

export async function perplexityCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      adapter: { type: 'string' },
      text: { type: 'string' },
      ctx: { type: 'string', default: '512' },
      'max-tokens': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const textPath = requireFlag(values.text, 'text');
  if (!existsSync(textPath)) throw new WhetError(`${textPath}: no such file`);
  const ctx = numberFlag(values.ctx, 'ctx', { integer: true, min: 1 })!;
  const maxTokens = numberFlag(values['max-tokens'], 'max-tokens', { integer: true, min: 2 });
  const { model, tokenizer } = loadModel(requireFlag(values.model, 'model'));
  if (values.adapter !== undefined) loadAdapter(values.adapter, model);
  let ids = tokenizer.encode(readFileSync(textPath, 'utf8'), { addBos: true });
  if (maxTokens !== undefined) ids = ids.slice(0, maxTokens);
  if (ids.length < 2) throw new WhetError(`${textPath}: too little text (${ids.length} token) to measure`);
  const bar = new Progress('perplexity', ids.length - 1);
  const r = perplexity(model, ids, ctx, (done) => bar.update(done));
  bar.done();
  if (values.json) process.stdout.write(JSON.stringify({ nll: r.nll, ppl: r.ppl, tokens: r.tokens }) + '\n');
  else process.stdout.write(`nll ${r.nll.toFixed(4)} nats/token  perplexity ${r.ppl.toFixed(3)}  tokens ${r.tokens}\n`);
  return 0;
}
