// One sequence's text as tokens arrive: incremental decoding, end-of-sequence tokens, stop strings (held back
// while they may still be forming), a token budget, and streaming of text as soon as it is final. Batch
// generation and the server share it, so both give the same text for the same tokens.
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import type { StopMatcher } from './stop.ts';

export type FinishReason = 'stop' | 'length';

export class SequenceText {
  /** Prompt and generated ids (the repetition penalty's context). */
  readonly context: number[];
  readonly tokens: number[] = [];
  text = '';
  private emitted = 0;
  done?: FinishReason;
  /** The end-of-sequence token that ended it, if one did (it is not in `tokens`). */
  stopToken?: number;
  private readonly stream: ReturnType<Tokenizer['createDecodeStream']>;

  constructor(
    tokenizer: Tokenizer,
    prompt: readonly number[],
    private readonly stopTokens: ReadonlySet<number>,
    private readonly stops: StopMatcher,
    /** Tokens this sequence may generate. */
    readonly budget: number,
    private readonly onText?: (text: string) => void,
  ) {
    this.context = [...prompt];
    this.stream = tokenizer.createDecodeStream();
  }

  /**
   * Takes the next sampled token: it ends the sequence (a stop token or string, or the budget) or extends its text.
   * Returns the text the token added (before any stop string is cut off), for per-token reports.
   */
  accept(id: number): string {
    if (this.stopTokens.has(id)) {
      this.stopToken = id;
      this.finish('stop', this.text.length);
      return '';
    }
    this.tokens.push(id);
    this.context.push(id);
    const before = this.text.length;
    const piece = this.stream.push(id);
    this.onPiece?.(piece);
    this.text += piece;
    const hit = this.stops.find(this.text, before);
    if (hit !== -1) this.finish('stop', hit);
    else if (this.tokens.length >= this.budget) this.finish('length', this.text.length);
    else this.emit(this.stops.safeLength(this.text));
    return piece;
  }

  /** Called with each token's text as it is decoded, before any of it is streamed. */
  onPiece?: (piece: string) => void;

  /** Ends the sequence (e.g. the context is full) keeping the text so far. */
  finish(reason: FinishReason, end: number = this.text.length): void {
    this.text = this.text.slice(0, end);
    this.emit(end);
    this.done = reason;
  }

  private emit(upTo: number): void {
    if (upTo > this.emitted) this.onText?.(this.text.slice(this.emitted, upTo));
    this.emitted = Math.max(this.emitted, upTo);
  }
}
