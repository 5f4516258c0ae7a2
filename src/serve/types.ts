// The contract between the HTTP layer and the serving engine: a generation request on token ids (the HTTP layer
// renders chat templates and encodes), streamed deltas, results with usage, engine statistics, the adapter
// registry's operations, and ServeError, which carries the HTTP status and OpenAI error type.

/** One generated token, with log-probabilities when the request asked for them. */
export interface TokenInfo {
  id: number;
  /** The token's text alone (may be a partial UTF-8 character, then ''). */
  text: string;
  /** log p(token) under the model's distribution (before temperature and top-p). */
  logprob?: number;
  /** The `logprobs` most likely tokens at this position. */
  top?: { id: number; text: string; logprob: number }[];
}

export interface GenerationRequest {
  /** Adapter name, or undefined for the base model. */
  adapter?: string;
  /** Prompt token ids, BOS included when the model wants one. */
  prompt: number[];
  /** Completions sharing the prompt's prefill. */
  n: number;
  maxTokens: number;
  temperature: number;
  topP: number;
  seed?: number;
  /** Stop strings (never part of the returned text). End-of-sequence tokens always stop. */
  stop: string[];
  /** Top log-probabilities per token to report (0: the chosen token's only); undefined: none. */
  logprobs?: number;
  /** Aborted when the client goes away: its sequences stop and free their KV cache at the next step. */
  signal?: AbortSignal;
  /** The request fails with a 408 ServeError after this long. */
  timeoutMs?: number;
  /** Streaming: text as soon as it is final (never a part of a stop string), with the tokens it came from. */
  onDelta?: (choice: number, text: string, tokens: TokenInfo[]) => void;
}

export interface ChoiceResult {
  index: number;
  text: string;
  finishReason: 'stop' | 'length';
  tokens: TokenInfo[];
}

export interface GenerationResult {
  choices: ChoiceResult[];
  promptTokens: number;
  /** Generated tokens over all choices. */
  completionTokens: number;
}

export interface EngineStats {
  /** Requests waiting for a batch slot. */
  queued: number;
  /** Sequences being prefilled or decoded. */
  running: number;
  /** Generated tokens per second over the last few seconds. */
  tokensPerSecond: number;
  generatedTokens: number;
  /** Requests received, by adapter name ('' for the base). */
  requestsByAdapter: Record<string, number>;
}

export interface ServingEngine {
  /** Prompt plus completion tokens of one sequence at most (the model's context). */
  readonly context: number;
  /** Resolves when every choice has finished; rejects with a ServeError (queue full 429, unknown adapter 404, timeout 408, …). */
  generate(req: GenerationRequest): Promise<GenerationResult>;
  stats(): EngineStats;
}

export interface AdapterInfo {
  name: string;
  path: string;
  rank: number;
}

export interface AdapterRegistry {
  /** The base model's id in /v1/models (adapters list it as their parent). */
  readonly baseId: string;
  list(): AdapterInfo[];
  has(name: string): boolean;
  /** Reads a PEFT adapter and makes it servable under name; a ServeError 400 says why one cannot be. */
  load(name: string, path: string): Promise<void>;
  /** Refuses new requests for name at once; resolves when its running requests have finished and it is freed. */
  unload(name: string): Promise<void>;
}

/** An error the HTTP layer returns as OpenAI's `{error: {message, type, param, code}}` with this status. */
export class ServeError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'ServeError';
  }
}
