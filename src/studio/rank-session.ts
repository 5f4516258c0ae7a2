// Ranking state of one studio: the prompts, their candidates, who ranks what (resumed from the rankings file), and
// turning a submitted order, a written better answer or thumbs into rows of the file.
import type { Prompt } from '../data/preference.ts';
import { ServeError } from '../serve/types.ts';
import { Assigner } from './assigner.ts';
import type { Candidate, CandidatePool } from './candidates.ts';
import { agreement, type Agreement, type RankedBy } from './kendall.ts';
import { appendDurable, HUMAN, promptField, promptKey, readStoredRows, storedPromptKey, type StoredRow } from './rankings-file.ts';

export type RankMode = 'rank' | 'thumbs';

export interface RankSessionOptions {
  prompts: readonly Prompt[];
  pool: CandidatePool;
  out: string;
  mode: RankMode;
  perPrompt: number;
  leaseMs: number;
  warn: (line: string) => void;
}

const conflict = (msg: string): ServeError => new ServeError(409, 'invalid_request_error', msg, 'conflict');
const bad = (msg: string, param: string): ServeError => new ServeError(400, 'invalid_request_error', msg, null, param);

export class RankSession {
  readonly assigner: Assigner;
  private readonly ranked: RankedBy[] = [];
  private readonly keys: string[];

  constructor(private readonly o: RankSessionOptions) {
    this.keys = o.prompts.map(promptKey);
    this.assigner = new Assigner(o.prompts.length, o.perPrompt, o.leaseMs);
    const index = new Map(this.keys.map((k, i) => [k, i]));
    for (const row of readStoredRows(o.out, o.warn)) {
      const key = storedPromptKey(row);
      const i = key === undefined ? undefined : index.get(key);
      if (i === undefined || typeof row.annotator !== 'string') continue;
      this.assigner.record(i, row.annotator);
      this.noteRanking(key!, row);
    }
  }

  get mode(): RankMode {
    return this.o.mode;
  }

  prompt(i: number): Prompt {
    return this.o.prompts[i]!;
  }

  agreement(): Agreement {
    return agreement(this.ranked);
  }

  /**
   * The annotator's next prompt with its candidates (sources hidden), or undefined when none is left for them. A
   * prompt the models cannot answer (longer than the context, …) comes with the reason and no candidates: skip it.
   */
  async next(annotator: string): Promise<{ index: number; candidates: string[]; error?: string } | undefined> {
    const i = this.assigner.next(annotator);
    if (i === undefined) return undefined;
    try {
      return { index: i, candidates: (await this.o.pool.get(i)).map((c) => c.text) };
    } catch (e) {
      if (!(e instanceof ServeError) || e.status >= 500) throw e;
      return { index: i, candidates: [], error: `the models cannot answer this prompt: ${e.message}` };
    }
  }

  /** Appends the ranking (best first, as candidate positions) and returns who wrote each candidate. */
  async submit(annotator: string, i: number, order: number[], better?: string): Promise<Candidate[]> {
    const candidates = await this.candidatesFor(annotator, i);
    const k = candidates.length;
    if (order.length !== k || new Set(order).size !== k || !order.every((v) => Number.isInteger(v) && v >= 0 && v < k))
      throw bad(`order: expected the ${k} candidate positions 0..${k - 1}, best first, each once`, 'order');
    let responses = candidates.map((c) => c.text);
    let sources = candidates.map((c) => c.source);
    let ranking = order;
    const written = better?.trim() ?? '';
    if (written !== '') {
      const same = responses.indexOf(written);
      // A written answer equal to a candidate is that candidate ranked first (a ranking cannot hold one answer twice).
      if (same >= 0) ranking = [same, ...order.filter((v) => v !== same)];
      else {
        responses = [written, ...responses];
        sources = [HUMAN, ...sources];
        ranking = [0, ...order.map((v) => v + 1)];
      }
    }
    if (responses.length < 2) throw conflict('this prompt has fewer than two distinct answers to rank: skip it');
    const row = { ...promptField(this.prompt(i)), responses, ranking, annotator, model_of_response: sources, time: new Date().toISOString() };
    appendDurable(this.o.out, [row]);
    this.assigner.record(i, annotator);
    this.noteRanking(this.keys[i]!, row);
    return candidates;
  }

  /** Appends one KTO row per judged candidate (true: thumbs up). */
  async thumbs(annotator: string, i: number, labels: (boolean | null)[]): Promise<Candidate[]> {
    const candidates = await this.candidatesFor(annotator, i);
    if (labels.length !== candidates.length) throw bad(`labels: expected ${candidates.length} entries (true, false or null)`, 'labels');
    const time = new Date().toISOString();
    const rows = candidates.flatMap((c, j) => labels[j] === null ? [] : [{ ...promptField(this.prompt(i)), completion: c.text, label: labels[j], annotator, model_of_response: c.source, time }]);
    if (rows.length === 0) throw bad('labels: judge at least one answer, or skip the prompt', 'labels');
    appendDurable(this.o.out, rows);
    this.assigner.record(i, annotator);
    return candidates;
  }

  skip(annotator: string, i: number): void {
    this.checkIndex(i);
    this.assigner.skip(i, annotator);
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.o.prompts.length) throw bad(`index: expected a prompt number 0..${this.o.prompts.length - 1}`, 'index');
  }

  private async candidatesFor(annotator: string, i: number): Promise<Candidate[]> {
    this.checkIndex(i);
    if (this.assigner.heldByOther(i, annotator)) throw conflict(`prompt ${i} is being ranked by someone else`);
    const candidates = await this.o.pool.known(i);
    if (candidates === undefined) throw conflict(`prompt ${i} has not been shown yet: ask for the next prompt first`);
    return candidates;
  }

  private noteRanking(key: string, row: StoredRow): void {
    if (!Array.isArray(row.responses) || !Array.isArray(row.ranking) || typeof row.annotator !== 'string') return;
    const sources = Array.isArray(row.model_of_response) ? row.model_of_response : [];
    const order = row.ranking.filter((j) => sources[j] !== HUMAN).map((j) => row.responses![j]!);
    this.ranked.push({ prompt: key, annotator: row.annotator, order });
  }
}
