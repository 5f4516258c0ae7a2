// `whet generate`: text from a model; stdout carries only the generated text, diagnostics go to stderr.
import type { FrozenDType } from '../model/frozen-weights.ts';
import { createInterface } from 'node:readline';
import { loadAdapter } from '../adapters/peft.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { fitPrompt, generate, type GenerateOptions } from '../generate/generate.ts';
import { resolveContext } from '../model/context.ts';
import { chatTemplateOf, type ChatMessage } from '../tokenizer/chat-template.ts';
import { chatPromptIds, textPromptIds } from '../tokenizer/prompt.ts';
import { parseCommand } from './options.ts';
import { generateSpec } from './specs.ts';

export async function generateCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(generateSpec, argv);
  if (parsed === null) return 0;
  const values = parsed.values as {
    model: string; adapter?: string; prompt?: string; chat: boolean; system?: string; 'max-tokens': number; temperature: number;
    'top-k': number; 'top-p': number; 'min-p': number; 'repetition-penalty': number; seed: number; stop?: string[]; dtype: 'f32' | FrozenDType;
    ctx?: number; extrapolate: boolean; truncate: 'error' | 'left';
  };
  const opts: GenerateOptions = {
    maxTokens: values['max-tokens'],
    temperature: values.temperature,
    topK: values['top-k'],
    topP: values['top-p'],
    minP: values['min-p'],
    repetitionPenalty: values['repetition-penalty'],
    seed: values.seed,
    stopStrings: values.stop ?? [],
    onText: (text) => process.stdout.write(text),
    truncate: values.truncate,
  };
  const loaded = loadModel(values.model, { dtype: values.dtype });
  const ctx = resolveContext(loaded.config, values.ctx, values.extrapolate);
  if (values.adapter !== undefined) loadAdapter(values.adapter, loaded.model);
  if (!values.chat) {
    const ids = textPromptIds(loaded.tokenizer, values.prompt ?? '');
    run(loaded, ids, { ...opts, ctx });
    if (process.stdout.isTTY) process.stdout.write('\n');
    return 0;
  }
  const template = chatTemplateOf(loaded.tokenizer.chatTemplate);
  const history: ChatMessage[] = values.system !== undefined ? [{ role: 'system', content: values.system }] : [];
  const turn = (user: string): void => {
    history.push({ role: 'user', content: user });
    const reply = run(loaded, chatPromptIds(loaded.tokenizer, template, history), { ...opts, ctx });
    process.stdout.write('\n');
    history.push({ role: 'assistant', content: reply });
  };
  if (values.prompt !== undefined) {
    turn(values.prompt);
    return 0;
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, prompt: '> ' });
  rl.prompt();
  for await (const line of rl) {
    if (line.trim() !== '') turn(line);
    rl.prompt();
  }
  return 0;
}

function run(loaded: LoadedModel, prompt: number[], opts: GenerateOptions & { ctx: number }): string {
  const ids = fitPrompt(prompt, opts.ctx, opts.maxTokens!, opts.truncate ?? 'error', loaded.tokenizer.bosId);
  if (ids.length < prompt.length)
    process.stderr.write(`warning: the prompt was cut from the left: ${prompt.length - ids.length} of its ${prompt.length} tokens dropped to fit the context of ${opts.ctx}\n`);
  const start = Date.now();
  const [g] = generate(loaded.model, loaded.tokenizer, [ids], opts);
  const secs = (Date.now() - start) / 1000;
  process.stderr.write(`\n[${g!.tokens.length} tokens in ${secs.toFixed(2)} s, ${(g!.tokens.length / secs).toFixed(1)} tok/s, finish: ${g!.finishReason}]\n`);
  if (g!.contextFull) process.stderr.write(`stopped at the model's context of ${opts.ctx} tokens (prompt ${g!.promptTokens} + ${g!.tokens.length} generated); --ctx with --extrapolate goes further\n`);
  return g!.text;
}
