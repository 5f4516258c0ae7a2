// Rehearsal text (self-synthesised replay): documents sampled from the base model itself, mixed into fine-tuning data
// so the adapter also learns to leave the model's plain-text predictions where they were, against forgetting.
import { writeTextAtomic } from '../formats/atomic.ts';
import { generate } from '../generate/generate.ts';
import type { LoadedModel } from '../model/load.ts';
import { WhetError } from '../errors.ts';

/** A document the model wrote, and the tokens it generated for it. */
export interface RehearsalDocument {
  text: string;
  tokens: number;
}

/**
 * `count` documents the model writes from the start of a document (its EOS, which ends every pretraining document;
 * or BOS), sampled at temperature 1 so they follow its own distribution; seeded, so the same seed gives the same texts.
 */
export function rehearsalTexts(loaded: LoadedModel, count: number, opts: { maxTokens: number; seed: number; onProgress?: (done: number) => void }): RehearsalDocument[] {
  const start = loaded.tokenizer.bosId ?? loaded.tokenizer.eosId;
  if (start === undefined) throw new WhetError('rehearsal: the tokenizer has neither a BOS nor an EOS token to start a document with');
  const docs: RehearsalDocument[] = [];
  const chunk = 64; // documents decoded together
  for (let i = 0; i < count; i += chunk) {
    const n = Math.min(chunk, count - i);
    const gens = generate(loaded.model, loaded.tokenizer, Array.from({ length: n }, () => [start]), {
      maxTokens: opts.maxTokens, temperature: 1, seeds: Array.from({ length: n }, (_, j) => opts.seed + i + j),
    });
    for (const g of gens) if (g.text.trim() !== '') docs.push({ text: g.text, tokens: g.tokens.length });
    opts.onProgress?.(i + n);
  }
  return docs;
}

/** Writes the JSONL `dataLines` followed by one `{text}` row per rehearsal document to `outPath` (training shuffles them). */
export function withRehearsal(dataLines: string, docs: readonly RehearsalDocument[], outPath: string): void {
  writeTextAtomic(outPath, dataLines.trimEnd() + '\n' + docs.map((d) => JSON.stringify({ text: d.text }) + '\n').join(''));
}
