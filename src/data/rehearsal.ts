// Rehearsal text (self-synthesised replay): documents sampled from the base model itself, mixed into fine-tuning data
// so the adapter also learns to leave the model's plain-text predictions where they were, against forgetting.
import { writeTextAtomic } from '../formats/atomic.ts';
import { generate } from '../generate/generate.ts';
import type { LoadedModel } from '../model/load.ts';
import { WhetError } from '../errors.ts';

/**
 * `count` documents the model writes from the start of a document (its EOS, which ends every pretraining document;
 * or BOS), sampled at temperature 1 so they follow its own distribution; seeded, so the same seed gives the same texts.
 */
export function rehearsalTexts(loaded: LoadedModel, count: number, opts: { maxTokens: number; seed: number; onProgress?: (done: number) => void }): string[] {
  const start = loaded.tokenizer.bosId ?? loaded.tokenizer.eosId;
  if (start === undefined) throw new WhetError('rehearsal: the tokenizer has neither a BOS nor an EOS token to start a document with');
  const texts: string[] = [];
  const chunk = 64; // documents decoded together
  for (let i = 0; i < count; i += chunk) {
    const n = Math.min(chunk, count - i);
    const gens = generate(loaded.model, loaded.tokenizer, Array.from({ length: n }, () => [start]), {
      maxTokens: opts.maxTokens, temperature: 1, seeds: Array.from({ length: n }, (_, j) => opts.seed + i + j),
    });
    texts.push(...gens.map((g) => g.text).filter((t) => t.trim() !== ''));
    opts.onProgress?.(i + n);
  }
  return texts;
}

/** Writes the JSONL `dataLines` followed by one `{text}` row per rehearsal text to `outPath` (training shuffles them). */
export function withRehearsal(dataLines: string, texts: readonly string[], outPath: string): void {
  writeTextAtomic(outPath, dataLines.trimEnd() + '\n' + texts.map((t) => JSON.stringify({ text: t }) + '\n').join(''));
}
