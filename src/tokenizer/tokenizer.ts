// The Tokenizer interface every tokenizer implements (HF tokenizer.json or a GGUF vocab), and the streaming decoder they share.

export interface EncodeOptions {
  /** Prepend the BOS token. Default: the model's own setting (`add_bos_token`, `tokenizer.ggml.add_bos_token`). */
  addBos?: boolean;
  /**
   * Match special/control token strings in the text (e.g. `<|im_start|>`) as single tokens: llama.cpp's
   * `parse_special`, HF's default. Default true, which text rendered by a chat template needs; pass false for
   * untrusted text so that it cannot smuggle control tokens in (they are then tokenised as plain text).
   */
  addSpecial?: boolean;
}

export interface DecodeOptions {
  /** Drop special/control tokens (BOS, EOS, `<|im_end|>`, ...) from the text instead of rendering them. */
  skipSpecial?: boolean;
}

export interface DecodeStreamOptions extends DecodeOptions {
  /** Tokens already in the sequence (e.g. the prompt): they give context (leading spaces) but are not emitted. */
  prompt?: readonly number[];
}

/** Turns tokens into text one at a time, emitting only text that is complete (never half a UTF-8 character). */
export interface DecodeStream {
  /** Adds one token and returns the text it completed ('' while a character is still being spelled out in bytes). */
  push(id: number): string;
  /** Returns whatever is still held back (an incomplete byte sequence renders as U+FFFD) and resets nothing else. */
  flush(): string;
}

/** Token ids with the UTF-16 [start, end) range of the text each one spells (empty for tokens not in the text, such as an added BOS). */
export interface TokenOffsets {
  ids: number[];
  offsets: [number, number][];
}

export interface Tokenizer {
  /** Number of token ids the tokenizer knows (the model's embedding may have more rows). */
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  /** Every id that ends generation: EOS plus end-of-turn tokens such as `<|eot_id|>` or `<|im_end|>`. */
  readonly eosIds: readonly number[];
  readonly padId?: number;
  /** Whether encode() prepends BOS when not told otherwise. */
  readonly addBos: boolean;
  /** The model's own chat template (Jinja source), when it ships one. */
  readonly chatTemplate?: string;
  encode(text: string, opts?: EncodeOptions): number[];
  /**
   * encode() with each token's character range, derived from the token's exact bytes: consecutive ranges tile
   * the text (a character goes to the token holding its first byte). Throws an Error when the tokens do not
   * spell the text back, rather than return offsets that are wrong.
   */
  encodeWithOffsets(text: string, opts?: EncodeOptions): TokenOffsets;
  /** Concatenated token text. Never applies HF's `clean_up_tokenization_spaces`, so that streaming and decoding agree. */
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  createDecodeStream(opts?: DecodeStreamOptions): DecodeStream;
}

/** Token texts that end generation, as llama.cpp lists them (llama-vocab.cpp, special_eog_ids). */
export const END_OF_GENERATION_TEXTS: readonly string[] = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>',
  '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>',
  '<end_of_utterance>', '<eos>', '<turn|>', '<|tool_response>', '<｜end▁of▁sentence｜>', '[e~[',
];

/** EOS ids in a stable order: the declared EOS first, then the others by id. */
export function collectEosIds(declared: Iterable<number | undefined>, tokenToId: (s: string) => number | undefined): number[] {
  const first: number[] = [];
  for (const id of declared) if (id !== undefined && !first.includes(id)) first.push(id);
  const rest = new Set<number>();
  for (const text of END_OF_GENERATION_TEXTS) {
    const id = tokenToId(text);
    if (id !== undefined && !first.includes(id)) rest.add(id);
  }
  return [...first, ...[...rest].sort((a, b) => a - b)];
}

// How many tokens before the unread ones are re-decoded for context (vLLM uses the same number).
const CONTEXT_TOKENS = 5;

/**
 * The incremental detokenisation of text-generation-inference and vLLM: decode a short window of recent tokens,
 * emit what extends the previous window's text, and hold back text ending in U+FFFD (a character whose bytes
 * have not all arrived). Re-decoding a window, rather than mapping tokens to text one by one, is what makes
 * leading-space rules and byte tokens come out exactly as decode() of the whole sequence.
 */
export function createWindowDecodeStream(
  decode: (ids: readonly number[], opts: DecodeOptions) => string,
  opts: DecodeStreamOptions = {},
): DecodeStream {
  const ids: number[] = [...(opts.prompt ?? [])];
  const decodeOpts: DecodeOptions = { skipSpecial: opts.skipSpecial };
  let readOffset = ids.length;
  let prefixOffset = Math.max(0, readOffset - CONTEXT_TOKENS);

  const advance = (final: boolean): string => {
    if (readOffset === ids.length) return '';
    const prefixText = decode(ids.slice(prefixOffset, readOffset), decodeOpts);
    const newText = decode(ids.slice(prefixOffset), decodeOpts);
    if (!final && (newText.length <= prefixText.length || newText.endsWith('\uFFFD'))) return '';
    prefixOffset = readOffset;
    readOffset = ids.length;
    return newText.slice(prefixText.length);
  };

  return {
    push(id: number): string {
      ids.push(id);
      return advance(false);
    },
    flush(): string {
      return advance(true);
    },
  };
}
