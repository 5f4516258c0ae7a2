// `whet perplexity`: mean next-token NLL (nats/token) and perplexity of a model on a text file.
import { existsSync, readFileSync } from 'node:fs';
import { WhetError } from '../errors.ts';
import { loadAdapter } from '../adapters/peft.ts';
import { loadModel } from '../model/load.ts';
import { modelContext, resolveContext } from '../model/context.ts';
import { perplexity } from '../eval/perplexity.ts';
import { parseCommand } from './options.ts';
import { perplexitySpec } from './specs.ts';
import { Progress } from './progress.ts';

export async function perplexityCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(perplexitySpec, argv);
  if (parsed === null) return 0;
  const values = parsed.values as { model: string; adapter?: string; text: string; ctx?: number; extrapolate: boolean; 'max-tokens'?: number; json: boolean };
  const textPath = values.text;
  if (!existsSync(textPath)) throw new WhetError(`${textPath}: no such file`);
  const maxTokens = values['max-tokens'];
  const { model, tokenizer, config } = loadModel(values.model);
  // Windows never exceed the model's context: 512 tokens by default, or the context when shorter.
  const ctx = values.ctx === undefined ? Math.min(512, modelContext(config)) : resolveContext(config, values.ctx, values.extrapolate);
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
