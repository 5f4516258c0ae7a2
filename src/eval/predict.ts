// Evaluation prompts and references from dataset examples, greedy generation of predictions, and predictions files (JSONL).
import { existsSync, readFileSync } from 'node:fs';
import { WhetError } from '../errors.ts';
import { writeJsonlAtomic } from '../formats/atomic.ts';
import type { ChatTurn, Example } from '../data/formats.ts';
import type { LlamaModel } from '../model/llama.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { chatTemplateOf, renderChat } from '../tokenizer/chat-template.ts';
import { generate } from '../generate/generate.ts';
import { StopMatcher } from '../generate/stop.ts';

export interface EvalPrompt {
  /** Prompt token ids, as the model sees them at generation time. */
  ids: number[];
  /** The answer the prediction is scored against. */
  reference: string;
}

/**
 * A completion example's prompt is its text as is (with BOS as the tokenizer adds it); a chat example is rendered
 * with the model's own template up to its last user turn plus the assistant header, and the assistant turn after
 * that user turn is the reference.
 */
export function evalPrompt(example: Example, tokenizer: Tokenizer, index: number): EvalPrompt {
  if (example.kind === 'completion') return { ids: tokenizer.encode(example.prompt, { addBos: true }), reference: example.completion };
  const { lastUser, answer } = lastExchange(example.messages, index);
  const text = renderChat(chatTemplateOf(tokenizer.chatTemplate), example.messages.slice(0, lastUser + 1).map((m) => ({ role: m.role, content: m.content })), {
    addGenerationPrompt: true,
    bosToken: tokenText(tokenizer, tokenizer.bosId),
    eosToken: tokenText(tokenizer, tokenizer.eosId),
  });
  // The rendered template spells out BOS itself when the model wants it.
  return { ids: tokenizer.encode(text, { addBos: false }), reference: answer };
}

/** The last user turn's index and the content of the assistant turn that answers it. */
function lastExchange(messages: readonly ChatTurn[], index: number): { lastUser: number; answer: string } {
  let lastUser = messages.length - 1;
  while (lastUser >= 0 && messages[lastUser]!.role !== 'user') lastUser--;
  const answer = messages.slice(lastUser + 1).find((m) => m.role === 'assistant');
  if (lastUser === -1 || answer === undefined) throw new WhetError(`example ${index + 1}: a chat example needs a user turn followed by an assistant turn to evaluate`);
  return { lastUser, answer: answer.content };
}

function tokenText(tokenizer: Tokenizer, id: number | undefined): string {
  return id === undefined ? '' : tokenizer.idToToken(id) ?? '';
}

/** The reference answer of each example (what exact match and SQL accuracy compare against). */
export function referenceOf(example: Example, index: number): string {
  return example.kind === 'completion' ? example.completion : lastExchange(example.messages, index).answer;
}

/**
 * Stop strings for generation: a newline when every example is a one-line completion (a model continuing raw
 * text would otherwise run on into the next question), ChatML's end marker when the template is the ChatML
 * stand-in and the vocabulary has no such token. EOS and end-of-turn tokens stop generation in any case.
 */
export function defaultStopStrings(examples: readonly Example[], tokenizer: Tokenizer): string[] {
  const stops: string[] = [];
  if (examples.every((e) => e.kind === 'completion' && !e.completion.trim().includes('\n'))) stops.push('\n');
  if (examples.some((e) => e.kind === 'chat') && chatTemplateOf(tokenizer.chatTemplate).isDefault && tokenizer.tokenToId('<|im_end|>') === undefined) stops.push('<|im_end|>');
  return stops;
}

export interface PredictOptions {
  maxTokens?: number;
  stopStrings?: string[];
  /** Prompts decoded together. Default 8. */
  batchSize?: number;
  onProgress?: (done: number) => void;
}

/** Greedy predictions for the prompts, in order. */
export function predict(model: LlamaModel, tokenizer: Tokenizer, prompts: readonly EvalPrompt[], opts: PredictOptions = {}): string[] {
  const batch = opts.batchSize ?? 8;
  const stops = new StopMatcher(opts.stopStrings ?? []);
  const out: string[] = [];
  for (let i = 0; i < prompts.length; i += batch) {
    const chunk = prompts.slice(i, i + batch);
    const gens = generate(model, tokenizer, chunk.map((p) => p.ids), { temperature: 0, maxTokens: opts.maxTokens ?? 256, stopStrings: opts.stopStrings });
    gens.forEach((g, j) => out.push(continuation(tokenizer, chunk[j]!.ids, g.tokens, g.text, stops)));
    opts.onProgress?.(out.length);
  }
  return out;
}

/**
 * The generated text as it reads after the prompt: decoded together with the prompt so that a leading space
 * (which SentencePiece drops at the start of a text) survives, then cut at the first stop string.
 */
function continuation(tokenizer: Tokenizer, prompt: readonly number[], tokens: readonly number[], fallback: string, stops: StopMatcher): string {
  const before = tokenizer.decode(prompt, { skipSpecial: true });
  const all = tokenizer.decode([...prompt, ...tokens], { skipSpecial: true });
  if (!all.startsWith(before)) return fallback;
  const text = all.slice(before.length);
  const hit = stops.find(text, 0);
  return hit === -1 ? text : text.slice(0, hit);
}

/** Reads a predictions file: one JSON object `{"prediction": "..."}` per line, in data order. */
export function readPredictions(path: string): string[] {
  if (!existsSync(path)) throw new WhetError(`${path}: no such file`);
  const out: string[] = [];
  readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new WhetError(`${path}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    const p = (rec as { prediction?: unknown } | null)?.prediction;
    if (typeof p !== 'string') throw new WhetError(`${path}:${i + 1}: expected {"prediction": "<text>"}`);
    out.push(p);
  });
  return out;
}

/** Writes predictions in the format readPredictions reads, atomically. */
export function writePredictions(path: string, predictions: readonly string[]): void {
  writeJsonlAtomic(path, predictions.map((p) => ({ prediction: p })));
}
