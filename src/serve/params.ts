// What both generation endpoints share: the model field to an adapter, the completion budget within the context,
// the sampling fields to a GenerationRequest, and OpenAI parameters Whetstone cannot honour refused by name.
import { badRequest } from './errors.ts';
import type { SamplingBody } from './schemas.ts';
import { ServeError, type AdapterRegistry, type GenerationRequest } from './types.ts';

/** The base model (no or its own `model`) or a loaded adapter; anything else is OpenAI's 404 model_not_found. */
export function resolveModel(registry: AdapterRegistry, model: string | null | undefined): { name: string; adapter?: string } {
  if (model === undefined || model === null || model === registry.baseId) return { name: registry.baseId };
  if (registry.has(model)) return { name: model, adapter: model };
  throw new ServeError(404, 'invalid_request_error', `The model '${model}' does not exist.`, 'model_not_found', 'model');
}

/** Completion tokens allowed: what was asked for if prompt + it fits the context (else a 400 naming both), or what the context leaves. */
export function completionBudget(context: number, promptTokens: number, requested: number | null | undefined, param: 'prompt' | 'messages'): number {
  if (promptTokens === 0) throw badRequest('the prompt is empty, and this tokenizer has no BOS token to start from', param);
  const asked = requested ?? context - promptTokens;
  if (asked >= 1 && promptTokens + asked <= context) return asked;
  const why = requested === undefined || requested === null
    ? `${promptTokens} tokens in the ${param} leave no room for a completion`
    : `you requested ${promptTokens + requested} tokens (${promptTokens} in the ${param}, ${requested} in the completion)`;
  throw badRequest(`This model's maximum context length is ${context} tokens, but ${why}. Please reduce the length of the ${param} or completion.`, param, 'context_length_exceeded');
}

// Fields whose silent neglect would change what the client gets back: refused rather than ignored.
const UNSUPPORTED: [field: string, unsupported: (value: unknown, body: SamplingBody) => boolean][] = [
  ['echo', (v) => v === true],
  ['suffix', (v) => typeof v === 'string' && v !== ''],
  ['best_of', (v, body) => typeof v === 'number' && v !== (body.n ?? 1)],
  ['logit_bias', (v) => typeof v === 'object' && v !== null && Object.keys(v).length > 0],
  // vLLM's extensions that GenerationRequest cannot carry yet; their neutral values pass.
  ['top_k', (v) => typeof v === 'number' && v !== 0 && v !== -1],
  ['min_p', (v) => typeof v === 'number' && v !== 0],
  ['repetition_penalty', (v) => typeof v === 'number' && v !== 1],
  ['presence_penalty', (v) => typeof v === 'number' && v !== 0],
  ['frequency_penalty', (v) => typeof v === 'number' && v !== 0],
  ['tools', (v) => Array.isArray(v) && v.length > 0],
  ['functions', (v) => Array.isArray(v) && v.length > 0],
  ['response_format', (v) => typeof v === 'object' && v !== null && (v as { type?: unknown }).type !== 'text'],
];

export function refuseUnsupported(body: SamplingBody): void {
  for (const [field, unsupported] of UNSUPPORTED)
    if (body[field] !== undefined && body[field] !== null && unsupported(body[field], body)) throw badRequest(`${field} is not supported by whet serve`, field);
  if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true)
    throw badRequest('stream_options can only be given when stream is true', 'stream_options');
}

/** The engine request for a prompt, less the signal and streaming callback the route adds. */
export function generationRequest(body: SamplingBody, adapter: string | undefined, prompt: number[], maxTokens: number, logprobs: number | undefined): GenerationRequest {
  const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  return {
    adapter,
    prompt,
    n: body.n ?? 1,
    maxTokens,
    // OpenAI's defaults: sample at temperature 1 over the whole distribution.
    temperature: body.temperature ?? 1,
    topP: body.top_p ?? 1,
    seed: body.seed ?? undefined,
    stop,
    logprobs,
  };
}
