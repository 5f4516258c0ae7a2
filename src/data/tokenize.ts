// Tokenises an Example into ids and labels (-100 where no loss), cutting the loss mask by character spans of the rendered text and token offsets.
import { WhetError } from '../errors.ts';
import { chatTemplateOf, renderChat, type ChatMessage } from '../tokenizer/chat-template.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import type { ChatTurn, Example } from './formats.ts';

export interface TokenizeOptions {
  /** Chat template source; default the tokenizer's own, ChatML when it has none. */
  template?: string;
  /** Loss on every token but the first (prompts, system and user turns included). */
  trainOnPrompt?: boolean;
  /** Keep at most this many tokens, from the start. */
  maxLength?: number;
}

/**
 * Labels are aligned with ids, as in Hugging Face: labels[t] is the target *at* position t, so the loss at
 * position t compares the logits of t-1 with labels[t] (see nextTokenTargets in batch.ts). labels[0] is always
 * IGNORE_INDEX (-100): nothing predicts the first token.
 */
export interface TokenizedExample {
  ids: Int32Array;
  labels: Int32Array;
  /** Tokens cut off by maxLength. */
  truncated: number;
}

interface Span {
  start: number;
  end: number;
  /** Whether the span carries loss (false for weight-0 assistant turns). */
  loss: boolean;
}

function eosOf(tokenizer: Tokenizer): number {
  const eos = tokenizer.eosId ?? tokenizer.eosIds[0];
  if (eos === undefined) throw new WhetError('the tokenizer has no EOS token: training targets could not be ended');
  return eos;
}

const tokenText = (tokenizer: Tokenizer, id: number | undefined): string | undefined => (id === undefined ? undefined : tokenizer.idToToken(id));

/**
 * Character spans of the assistant turns in `full`, the rendering of the whole conversation. A turn starts
 * where the rendering of the turns before it plus the generation prompt ends, and is the text that the
 * rendering with the turn adds to that. Templates that render a turn differently once later turns follow are
 * aligned on the longest stretch they agree on: Qwen3 drops the reasoning block from earlier turns (a head the
 * full text lacks), and some Llama 3 templates append a generation prompt whatever they are asked (a tail the
 * full text lacks, which is cut back to the turn's last end-of-turn token).
 */
function assistantSpans(full: string, messages: readonly ChatTurn[], render: (m: ChatMessage[], gen: boolean) => string, eosTexts: readonly string[]): Span[] {
  const spans: Span[] = [];
  const plain = messages.map(({ role, content }) => ({ role, content }));
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const before = render(plain.slice(0, i), true);
    const through = render(plain.slice(0, i + 1), false);
    const fail = (why: string): never => {
      throw new WhetError(`chat template: cannot locate assistant turn ${i} in the rendered conversation (${why}); loss masks would be wrong`);
    };
    if (!through.startsWith(before)) fail('the rendering with this turn does not extend the generation prompt');
    if (!full.startsWith(before)) fail('the generation prompt is not a prefix of the whole conversation');
    const start = before.length;
    const turn = through.slice(start);
    let best = { skip: 0, agree: 0 };
    for (let skip = 0; skip < turn.length && best.skip + best.agree < turn.length; skip++) {
      if (turn[skip] !== full[start]) continue;
      let agree = 0;
      while (skip + agree < turn.length && turn[skip + agree] === full[start + agree]) agree++;
      if (agree > best.agree) best = { skip, agree };
    }
    let end = start + best.agree;
    if (best.skip + best.agree < turn.length) {
      const region = full.slice(start, end);
      const cut = Math.max(...eosTexts.map((t) => { const at = region.lastIndexOf(t); return at < 0 ? -1 : at + t.length; }), -1);
      if (cut < 0) fail('its rendering differs in context and has no end-of-turn token to cut it at');
      end = start + cut;
    }
    if (end === start && m.content !== '') fail('its text is not where the template puts it');
    spans.push({ start, end, loss: m.weight !== 0 });
  });
  return spans;
}

/**
 * The span each token belongs to (-1 for none): the one its characters end in. A token that starts before a
 * span and ends inside it (a template's trailing space merged into the reply's first word) is the reply's
 * first token, so it belongs; one that runs past a span's end holds text after it, so it does not.
 * Empty-range tokens (BOS, the rest of a split character) go with their neighbour.
 */
function inSpans(offsets: readonly [number, number][], spans: readonly Span[]): number[] {
  const span = offsets.map(([s, e]) => (s === e ? -2 : spans.findIndex((p) => e > p.start && e <= p.end)));
  for (let i = 0; i < span.length; i++) if (span[i] === -2) span[i] = i > 0 ? span[i - 1]! : -2;
  for (let i = span.length - 1; i >= 0; i--) if (span[i] === -2) span[i] = i + 1 < span.length ? span[i + 1]! : -1;
  return span;
}

/** Builds ids and labels: tokens of loss spans get loss up to their last end-of-turn token; a span with none gets EOS inserted. */
function assemble(tokenizer: Tokenizer, ids: readonly number[], texts: readonly string[], spanOf: readonly number[], spans: readonly Span[]): { ids: number[]; loss: boolean[] } {
  const eos = eosOf(tokenizer);
  const isEos = new Set(tokenizer.eosIds);
  const outIds: number[] = [];
  const loss: boolean[] = [];
  let i = 0;
  while (i < ids.length) {
    const s = spanOf[i]!;
    if (s < 0 || !spans[s]!.loss) {
      outIds.push(ids[i]!);
      loss.push(false);
      i++;
      continue;
    }
    let j = i;
    while (j < ids.length && spanOf[j] === s) j++;
    // Loss runs through the last end-of-turn token; what follows (the template's newline) is context.
    let last = -1;
    for (let k = j - 1; k >= i && last < 0; k--) if (isEos.has(ids[k]!)) last = k;
    if (last < 0) {
      for (let k = j - 1; k >= i && last < 0; k--) if (texts[k]!.trim() !== '') last = k;
      // Tokens holding the rest of the last character's bytes (empty ranges) belong before the EOS.
      while (last >= 0 && last + 1 < j && texts[last + 1] === '') last++;
    }
    for (let k = i; k < j; k++) {
      outIds.push(ids[k]!);
      loss.push(k <= last);
      if (k === last && !isEos.has(ids[k]!)) {
        outIds.push(eos);
        loss.push(true);
      }
    }
    if (last < 0) {
      outIds.push(eos);
      loss.push(true);
    }
    i = j;
  }
  return { ids: outIds, loss };
}

/** Tokenises one example for training; see TokenizedExample for the label convention. */
export function tokenizeExample(example: Example, tokenizer: Tokenizer, opts: TokenizeOptions = {}): TokenizedExample {
  let text: string;
  let spans: Span[];
  let addBos = tokenizer.addBos;
  if (example.kind === 'completion') {
    text = example.prompt + example.completion;
    spans = [{ start: example.prompt.length, end: text.length, loss: true }];
  } else {
    const template = opts.template ?? chatTemplateOf(tokenizer.chatTemplate).source;
    const bosToken = tokenText(tokenizer, tokenizer.bosId);
    const render = (messages: ChatMessage[], gen: boolean): string =>
      renderChat(template, messages, { addGenerationPrompt: gen, bosToken, eosToken: tokenText(tokenizer, tokenizer.eosId), padToken: tokenText(tokenizer, tokenizer.padId) });
    text = render(example.messages.map(({ role, content }) => ({ role, content })), false);
    const eosTexts = tokenizer.eosIds.map((id) => tokenText(tokenizer, id)).filter((t): t is string => t !== undefined && t !== '');
    spans = assistantSpans(text, example.messages, render, eosTexts);
    // Templates that write the BOS token themselves must not get a second one.
    if (bosToken !== undefined && text.startsWith(bosToken)) addBos = false;
  }
  const enc = tokenizer.encodeWithOffsets(text, { addBos });
  const texts = enc.offsets.map(([s, e]) => text.slice(s, e));
  let ids: number[];
  let loss: boolean[];
  if (example.kind === 'completion') {
    ids = [...enc.ids];
    loss = inSpans(enc.offsets, spans).map((s) => s === 0);
    if (!tokenizer.eosIds.includes(ids[ids.length - 1]!)) {
      ids.push(eosOf(tokenizer));
      loss.push(true);
    }
  } else {
    ({ ids, loss } = assemble(tokenizer, enc.ids, texts, inSpans(enc.offsets, spans), spans));
  }
  if (opts.trainOnPrompt === true) loss = loss.map(() => true);
  loss[0] = false;
  const keep = opts.maxLength === undefined ? ids.length : Math.min(ids.length, opts.maxLength);
  const labels = new Int32Array(keep);
  for (let i = 0; i < keep; i++) labels[i] = loss[i] ? ids[i]! : IGNORE_INDEX;
  return { ids: Int32Array.from(ids.slice(0, keep)), labels, truncated: ids.length - keep };
}
