// `whet generate`: text from a model; stdout carries only the generated text, diagnostics go to stderr.
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { loadAdapter } from '../adapters/peft.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { generate, type GenerateOptions } from '../generate/generate.ts';
import { chatTemplateOf, renderChat, type ChatMessage } from '../tokenizer/chat-template.ts';
import { choiceFlag, numberFlag, requireFlag } from './args.ts';

export async function generateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      adapter: { type: 'string' },
      prompt: { type: 'string' },
      chat: { type: 'boolean', default: false },
      system: { type: 'string' },
      'max-tokens': { type: 'string', default: '256' },
      temperature: { type: 'string', default: '0.8' },
      'top-k': { type: 'string', default: '0' },
      'top-p': { type: 'string', default: '0.95' },
      'min-p': { type: 'string', default: '0' },
      'repetition-penalty': { type: 'string', default: '1' },
      seed: { type: 'string', default: '0' },
      stop: { type: 'string', multiple: true },
      dtype: { type: 'string', default: 'f32' },
    },
  });
  const opts: GenerateOptions = {
    maxTokens: numberFlag(values['max-tokens'], 'max-tokens', { integer: true, min: 1 })!,
    temperature: numberFlag(values.temperature, 'temperature', { min: 0 })!,
    topK: numberFlag(values['top-k'], 'top-k', { integer: true, min: 0 })!,
    topP: numberFlag(values['top-p'], 'top-p', { min: 0, max: 1 })!,
    minP: numberFlag(values['min-p'], 'min-p', { min: 0, max: 1 })!,
    repetitionPenalty: numberFlag(values['repetition-penalty'], 'repetition-penalty', { min: 0 })!,
    seed: numberFlag(values.seed, 'seed', { integer: true })!,
    stopStrings: values.stop ?? [],
    onText: (text) => process.stdout.write(text),
  };
  const dtype = choiceFlag(values.dtype, 'dtype', ['f32', 'bf16'] as const)!;
  const loaded = loadModel(requireFlag(values.model, 'model'), { dtype });
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
