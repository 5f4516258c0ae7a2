// `whet generate`: text from a model; stdout carries only the generated text, diagnostics go to stderr.
import { createInterface } from 'node:readline';
import { loadAdapter } from '../adapters/peft.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { generate, type GenerateOptions } from '../generate/generate.ts';
import { chatTemplateOf, renderChat, type ChatMessage } from '../tokenizer/chat-template.ts';
import { parseCommand } from './options.ts';
import { generateSpec } from './specs.ts';

export async function generateCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(generateSpec, argv);
  if (parsed === null) return 0;
  const values = parsed.values as {
    model: string; adapter?: string; prompt?: string; chat: boolean; system?: string; 'max-tokens': number; temperature: number;
    'top-k': number; 'top-p': number; 'min-p': number; 'repetition-penalty': number; seed: number; stop?: string[]; dtype: 'f32' | 'bf16';
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
  };
  const loaded = loadModel(values.model, { dtype: values.dtype });
  if (values.adapter !== undefined) loadAdapter(values.adapter, loaded.model);
  if (!values.chat) {
    const ids = loaded.tokenizer.encode(values.prompt ?? '', { addBos: true });
    run(loaded, ids, opts);
    if (process.stdout.isTTY) process.stdout.write('\n');
    return 0;
  }
  const history: ChatMessage[] = values.system !== undefined ? [{ role: 'system', content: values.system }] : [];
  const turn = (user: string): void => {
    history.push({ role: 'user', content: user });
    const text = render(loaded, history);
    const reply = run(loaded, loaded.tokenizer.encode(text, { addBos: false }), opts);
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

function render(loaded: LoadedModel, messages: ChatMessage[]): string {
  const tok = loaded.tokenizer;
  const template = chatTemplateOf(tok.chatTemplate);
  return renderChat(template, messages, {
    addGenerationPrompt: true,
    bosToken: tok.bosId === undefined ? '' : tok.idToToken(tok.bosId) ?? '',
    eosToken: tok.eosId === undefined ? '' : tok.idToToken(tok.eosId) ?? '',
  });
}

function run(loaded: LoadedModel, ids: number[], opts: GenerateOptions): string {
  const start = Date.now();
  const [g] = generate(loaded.model, loaded.tokenizer, [ids], opts);
  const secs = (Date.now() - start) / 1000;
  process.stderr.write(`\n[${g!.tokens.length} tokens in ${secs.toFixed(2)} s, ${(g!.tokens.length / secs).toFixed(1)} tok/s, finish: ${g!.finishReason}]\n`);
  return g!.text;
}
