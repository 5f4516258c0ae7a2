// The compare page: each model's answer per holdout prompt side by side with its task metric (and reward), a filter to the rows
// where the models disagree, and a pick of the better answer (saved to the rankings file).
import { useEffect, useState } from 'preact/hooks';
import { api, type Prompt } from './api.ts';
import { Answer, PromptView } from './text.tsx';

interface Table {
  metric: string;
  sources: { name: string; score: number; reward?: number }[];
  rows: { prompt: Prompt; reference: string; answers: { source: string; text: string; score: number | null; reward?: number }[] }[];
}
type State = { status: 'computing'; done: number; total: number } | { status: 'ready'; table: Table } | { status: 'failed'; error: string };

const NAME_KEY = 'whet-studio-annotator';
const disagree = (r: Table['rows'][number]): boolean => new Set(r.answers.map((a) => a.score)).size > 1;

export function ComparePage({ annotator }: { annotator: string | null }) {
  const [state, setState] = useState<State | undefined>();
  const [onlyDisagree, setOnlyDisagree] = useState(false);
  const [picked, setPicked] = useState<Record<number, number>>({});
  const [error, setError] = useState('');
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = (): void => void api<State>('/api/compare').then((s) => {
      setState(s);
      if (s.status === 'computing') timer = setTimeout(load, 1000);
    }, (e: Error) => setError(e.message));
    load();
    return () => clearTimeout(timer);
  }, []);
  const who = annotator ?? localStorage.getItem(NAME_KEY) ?? 'anonymous';
  const pick = async (row: number, answer: number): Promise<void> => {
    try {
      await api('/api/compare/pick', { annotator: who, row, answer });
      setPicked({ ...picked, [row]: answer });
    } catch (e) {
      setError((e as Error).message);
    }
  };
  if (error !== '') return <p class="error" role="alert">{error}</p>;
  if (state === undefined) return <p class="muted">Loading…</p>;
  if (state.status === 'failed') return <p class="error" role="alert">{state.error}</p>;
  if (state.status === 'computing') return <p id="computing" aria-live="polite">Answering the holdout prompts: {state.done} of {state.total}…</p>;
  const t = state.table;
  const rows = t.rows.map((r, i) => ({ r, i })).filter(({ r }) => !onlyDisagree || disagree(r));
  return (
    <section aria-label="compare">
      <p id="scores">{t.metric}: {t.sources.map((s) => `${s.name} ${s.score.toFixed(3)}`).join(' · ')}</p>
      {t.sources[0]?.reward !== undefined && <p id="rewards">mean reward: {t.sources.map((s) => `${s.name} ${s.reward!.toFixed(3)}`).join(' · ')}</p>}
      <label><input type="checkbox" id="disagree" checked={onlyDisagree} onChange={(e) => setOnlyDisagree((e.target as HTMLInputElement).checked)} /> only the {t.rows.filter(disagree).length} rows where the models' scores differ</label>
      {rows.map(({ r, i }) => (
        <article key={i} class="card compare-row" data-row={i}>
          <h3>Prompt {i + 1}</h3>
          <PromptView prompt={r.prompt} />
          <details><summary>reference</summary><Answer text={r.reference} /></details>
          <div class="side-by-side" style={{ gridTemplateColumns: `repeat(${r.answers.length}, minmax(0, 1fr))` }}>
            {r.answers.map((a, j) => (
              <div key={j} class={`cand${picked[i] === j ? ' picked' : ''}`}>
                <div class="cand-head"><strong>{a.source}</strong><span class={`score${a.score === 1 ? ' good' : a.score === 0 ? ' bad' : ''}`}>{a.score === null ? 'n/a' : a.score.toFixed(3)}</span>{a.reward !== undefined && <span class="reward" title="reward model score">reward {a.reward.toFixed(3)}</span>}</div>
                <Answer text={a.text} />
                <button type="button" onClick={() => void pick(i, j)} aria-pressed={picked[i] === j}>{picked[i] === j ? 'Picked' : 'This one is better'}</button>
              </div>
            ))}
          </div>
        </article>
      ))}
    </section>
  );
}
