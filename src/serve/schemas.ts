// JSON schemas of the request bodies (Fastify validates them before a handler runs) and their TypeScript types.
// Optional fields also accept null, which many OpenAI clients send for "unset".

/** Completions per request at most (each holds a sequence in the batch). */
const MAX_N = 16;
/** Top log-probabilities per token at most (vLLM's default max_logprobs). */
const MAX_LOGPROBS = 20;

const orNull = (schema: { type: string | string[] } & Record<string, unknown>) => ({
  ...schema,
  type: [...(Array.isArray(schema.type) ? schema.type : [schema.type]), 'null'],
});

/** Fields /v1/completions and /v1/chat/completions share. */
const sampling = {
  model: orNull({ type: 'string' }),
  n: orNull({ type: 'integer', minimum: 1, maximum: MAX_N }),
  max_tokens: orNull({ type: 'integer', minimum: 1 }),
  temperature: orNull({ type: 'number', minimum: 0, maximum: 2 }),
  top_p: orNull({ type: 'number', exclusiveMinimum: 0, maximum: 1 }),
  seed: orNull({ type: 'integer' }),
  stop: orNull({ type: ['string', 'array'], items: { type: 'string', minLength: 1 }, maxItems: 16, minLength: 1 }),
  stream: orNull({ type: 'boolean' }),
  stream_options: orNull({ type: 'object', properties: { include_usage: orNull({ type: 'boolean' }) } }),
  user: orNull({ type: 'string' }),
} as const;

export interface SamplingBody {
  model?: string | null;
  n?: number | null;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  [field: string]: unknown;
}

export const completionSchema = {
  type: 'object',
  required: ['prompt'],
  properties: {
    ...sampling,
    prompt: { type: ['string', 'array'], items: { type: 'string' }, minItems: 1, maxItems: 1 },
    logprobs: orNull({ type: 'integer', minimum: 0, maximum: MAX_LOGPROBS }),
  },
} as const;

export interface CompletionBody extends SamplingBody {
  prompt: string | [string];
  logprobs?: number | null;
}

const contentPart = { type: 'object', required: ['type'], properties: { type: { type: 'string' }, text: { type: 'string' } } };

export const chatSchema = {
  type: 'object',
  required: ['messages'],
  properties: {
    ...sampling,
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role'],
        properties: { role: { type: 'string' }, content: { type: ['string', 'array', 'null'], items: contentPart } },
      },
    },
    max_completion_tokens: orNull({ type: 'integer', minimum: 1 }),
    logprobs: orNull({ type: 'boolean' }),
    top_logprobs: orNull({ type: 'integer', minimum: 0, maximum: MAX_LOGPROBS }),
    add_generation_prompt: orNull({ type: 'boolean' }),
    chat_template_kwargs: orNull({ type: 'object' }),
  },
} as const;

export interface ChatBody extends SamplingBody {
  messages: { role: string; content?: string | { type: string; text?: string }[] | null; [field: string]: unknown }[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  add_generation_prompt?: boolean | null;
  chat_template_kwargs?: Record<string, unknown> | null;
}

export const loadLoraSchema = {
  type: 'object',
  required: ['lora_name', 'lora_path'],
  properties: { lora_name: { type: 'string', minLength: 1 }, lora_path: { type: 'string', minLength: 1 } },
} as const;

export const unloadLoraSchema = {
  type: 'object',
  required: ['lora_name'],
  properties: { lora_name: { type: 'string', minLength: 1 } },
} as const;
