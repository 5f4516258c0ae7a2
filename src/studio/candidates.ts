// The k answers shown for a prompt: sampled from the base model and each adapter in turn with the page's generation
// settings, seeded by the prompt's position (the same answers after a restart, and for every annotator, so their
// rankings can be compared), duplicates dropped, shown in a shuffled order that hides which model wrote which.
import { Rng } from '../tensor/random.ts';
import type { ServingEngine } from '../serve/types.ts';

export interface GenerationSettings {
  k: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  stop: string[];
}

export interface Candidate {
  text: string;
  /** The base model's id or the adapter's name. */
  source: string;
}

/** A source's engine name: undefined for the base. */
export interface Source {
  name: string;
  adapter?: string;
}

const ATTEMPTS = 3;

export class CandidatePool {
  private readonly cache = new Map<number, Promise<Candidate[]>>();

  constructor(
    private readonly engine: ServingEngine,
    private readonly promptIds: readonly number[][],
    private readonly sources: readonly Source[],
    readonly settings: GenerationSettings,
  ) {}

  /** Prompt i's candidates (generated once, then kept); fewer than k when the models keep repeating themselves. */
  get(i: number): Promise<Candidate[]> {
    let p = this.cache.get(i);
    if (p === undefined) {
      p = this.generate(i);
      p.catch(() => this.cache.delete(i)); // a failure (queue full, …) is retried on the next request
      this.cache.set(i, p);
    }
    return p;
  }

  /** Candidates already generated for prompt i (what a submission is checked against), or undefined. */
  async known(i: number): Promise<Candidate[] | undefined> {
    return this.cache.has(i) ? this.get(i) : undefined;
  }

  private async generate(i: number): Promise<Candidate[]> {
    const { k, temperature, topP, maxTokens, seed, stop } = this.settings;
    const out: Candidate[] = [];
    const seen = new Set<string>();
    for (let attempt = 0; attempt < ATTEMPTS && out.length < k; attempt++) {
      const want = k - out.length;
      // Round-robin over the sources: base, adapter 1, …, so each gets about k / sources of the answers.
      const counts = this.sources.map((_, s) => Math.floor(want / this.sources.length) + (s < want % this.sources.length ? 1 : 0));
      const results = await Promise.all(this.sources.map((src, s) => counts[s]! === 0 ? undefined : this.engine.generate({
        adapter: src.adapter, prompt: this.promptIds[i]!, n: counts[s]!, maxTokens, temperature, topP, stop,
        seed: (seed + i * 7919 + s * 104729 + attempt * 15485863) >>> 0,
      })));
      results.forEach((r, s) => {
        for (const c of r?.choices ?? []) {
          if (seen.has(c.text) || out.length >= k) continue;
          seen.add(c.text);
          out.push({ text: c.text, source: this.sources[s]!.name });
        }
      });
    }
    const rng = new Rng(seed + i);
    for (let j = out.length - 1; j > 0; j--) {
      const r = rng.int(j + 1);
      [out[j], out[r]] = [out[r]!, out[j]!];
    }
    return out;
  }
}
