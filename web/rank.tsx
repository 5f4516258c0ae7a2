// The ranking page: one prompt at a time with its k answers (authors hidden); order them by keys 1..k or by drag,
// Enter saves, S skips, B for "all bad" with a better answer; thumbs mode judges each answer up or down instead.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type Info, type Prompt } from './api.ts';
import { Answer, PromptView } from './text.tsx';

interface Next {
  done: boolean;
  waiting: boolean;
  index: number;
  prompt: Prompt;
  /** Absent when done or waiting. */
  candidates?: string[];
  /** Why there are no candidates to rank (the prompt is too long, …). */
  error?: string;
  progress: { mine: number; complete: number; total: number };
}
interface AgreementInfo { meanTau?: number; pairs: number; prompts: number }
interface Reveal { index: number; order: number[]; sources: string[]; better: boolean }

const NAME_KEY = 'whet-studio-annotator';

/** Shown order: answers picked by key first, then the rest as they came; a drag sets the whole order. */
function orderOf(m: { picked: number[]; dragged?: number[] }, k: number): number[] {
  return m.dragged ?? [...m.picked, ...Array.from({ length: k }, (_, i) => i).filter((i) => !m.picked.includes(i))];
}

export function RankPage({ info }: { info: Info }) {
  const rank = info.rank!;
  const [annotator, setAnnotator] = useState(rank.annotator ?? localStorage.getItem(NAME_KEY) ?? '');
  const [nameDraft, setNameDraft] = useState(annotator);
  const [item, setItem] = useState<Next | undefined>();
  // Keys can arrive faster than the page re-renders: the ranking so far lives in a ref that every key updates at once.
  const marks = useRef<{ picked: number[]; dragged?: number[]; labels: (boolean | null)[] }>({ picked: [], labels: [] });
  const [, rerender] = useState(0);
  const mark = (m: Partial<typeof marks.current>): void => {
    marks.current = { ...marks.current, ...m };
    rerender((n) => n + 1);
  };
  const { picked, dragged, labels } = marks.current;
  const [allBad, setAllBad] = useState(false);
  const [better, setBetter] = useState('');
  const [reveal, setReveal] = useState<Reveal | undefined>();
  const [agreement, setAgreement] = useState<AgreementInfo | undefined>();
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const dragFrom = useRef<number | undefined>();
  const betterBox = useRef<HTMLTextAreaElement>(null);

  const load = useCallback(async (who: string) => {
    setBusy(true);
    try {
      const next = await api<Next>(`/api/rank/next?annotator=${encodeURIComponent(who)}`);
      marks.current = { picked: [], labels: (next.candidates ?? []).map(() => null) };
      setItem(next);
      setAllBad(false);
      setBetter('');
      setError(next.error ?? '');
      setAgreement(await api<AgreementInfo>('/api/rank/agreement'));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }, []);

  useEffect(() => {
    if (annotator !== '') void load(annotator);
  }, [annotator, load]);

  // The prompts left are held by others: ask again until one is free or all are done.
  useEffect(() => {
    if (item?.waiting !== true) return;
    const t = setTimeout(() => void load(annotator), 1000);
    return () => clearTimeout(t);
  }, [item, annotator, load]);

  const k = item?.candidates?.length ?? 0;
  const order = orderOf(marks.current, k);

  const submit = useCallback(async () => {
    if (item === undefined || item.done || item.waiting || busy) return;
    const { picked, dragged, labels } = marks.current;
    const order = orderOf(marks.current, k);
    const complete = dragged !== undefined || picked.length >= k - 1;
    const thumbs = rank.mode === 'thumbs';
    if (!thumbs && !complete && !allBad) return setError(`rank the answers first: press ${Array.from({ length: k }, (_, i) => i + 1).join(', ')} in order, best first`);
    // The box itself, not the state: the last keys typed may not have re-rendered yet.
    const written = betterBox.current?.value ?? better;
    if (allBad && written.trim() === '') return setError('write a better answer, or press S to skip this prompt');
    setBusy(true);
    try {
      const r = thumbs
        ? await api<{ sources: string[] }>('/api/rank/thumbs', { annotator, index: item.index, labels })
        : await api<{ sources: string[] }>('/api/rank/submit', { annotator, index: item.index, order, ...(allBad ? { better: written } : {}) });
      setReveal({ index: item.index, order: thumbs ? [] : order, sources: r.sources, better: allBad });
      setBusy(false);
      await load(annotator);
    } catch (e) {
      setError((e as Error).message);
      setBusy(false);
    }
  }, [item, busy, allBad, better, annotator, k, load, rank.mode]);

  const skip = useCallback(async () => {
    if (item === undefined || item.done || item.waiting || busy) return;
    await api('/api/rank/skip', { annotator, index: item.index }).catch((e: Error) => setError(e.message));
    await load(annotator);
  }, [item, busy, annotator, load]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (e.target instanceof HTMLInputElement) return;
      if (e.target instanceof HTMLTextAreaElement) {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); void submit(); }
        if (e.key === 'Escape') (e.target as HTMLElement).blur();
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const n = Number(e.key);
      if (Number.isInteger(n) && n >= 1 && n <= k) {
        e.preventDefault();
        const m = marks.current;
        if (rank.mode === 'thumbs') mark({ labels: m.labels.map((l, i) => (i === n - 1 ? (l === null ? true : l ? false : null) : l)) });
        else if (!m.picked.includes(n - 1)) mark({ dragged: undefined, picked: [...m.picked, n - 1] });
      } else if (e.key === 'Backspace') mark({ picked: marks.current.picked.slice(0, -1) });
      else if (e.key === 'Enter') { e.preventDefault(); void submit(); }
      else if (e.key === 's' || e.key === 'S') void skip();
      else if (e.key === 'b' || e.key === 'B') {
        e.preventDefault();
        setAllBad(true);
        setTimeout(() => betterBox.current?.focus(), 0);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [k, submit, skip, rank.mode]);

  if (annotator === '')
    return (
      <form class="card name" onSubmit={(e) => { e.preventDefault(); const n = nameDraft.trim(); if (n !== '') { localStorage.setItem(NAME_KEY, n); setAnnotator(n); } }}>
        <label for="annotator">Your name (rankings are saved under it)</label>
        <input id="annotator" value={nameDraft} onInput={(e) => setNameDraft((e.target as HTMLInputElement).value)} autoFocus />
        <button type="submit">Start ranking</button>
      </form>
    );

  const s = rank.settings;
  return (
    <section aria-label="ranking">
      <div class="bar">
        <span>Ranking as <strong id="who">{annotator}</strong>{rank.annotator === null && <button type="button" class="link" onClick={() => { localStorage.removeItem(NAME_KEY); setAnnotator(''); }}>change</button>}</span>
        {item !== undefined && <span id="progress">you ranked {item.progress.mine} · {item.progress.complete} of {item.progress.total} prompts complete</span>}
        <span id="agreement" data-tau={agreement?.meanTau ?? ''} data-pairs={agreement?.pairs ?? 0}>
          {agreement?.meanTau === undefined ? 'agreement: no prompt ranked twice yet' : `agreement (Kendall's τ): ${agreement.meanTau.toFixed(3)} over ${agreement.pairs} pair${agreement.pairs === 1 ? '' : 's'} on ${agreement.prompts} prompt${agreement.prompts === 1 ? '' : 's'}`}
        </span>
      </div>
      <p class="muted settings" id="settings">
        {s.k} answers from {info.models.join(', ')} · temperature {s.temperature} · top-p {s.topP} · up to {s.maxTokens} tokens · seed {s.seed}{s.stop.length > 0 ? ` · stop ${s.stop.map((x) => JSON.stringify(x)).join(' ')}` : ''} · saved to {rank.out}
      </p>
      {reveal !== undefined && (
        <p class="reveal" id="reveal">
          Prompt {reveal.index + 1} saved{reveal.better ? ' with your answer first' : ''}. Written by: {reveal.sources.map((src, i) => `${i + 1} ${src}`).join(' · ')}
          {reveal.order.length > 0 && ` · your order ${reveal.order.map((i) => i + 1).join(' > ')}`}
        </p>
      )}
      {error !== '' && <p class="error" role="alert">{error}</p>}
      {item === undefined ? <p class="muted">Loading…</p> : item.waiting ? (
        <div class="card" id="waiting"><p>The prompts left are being ranked by others right now; the next one appears here when it is free.</p></div>
      ) : item.done ? (
        <div class="card" id="finished"><h2>Nothing left to rank</h2><p>Every prompt has its rankings (or is being ranked by someone else). Thank you.</p></div>
      ) : (
        <div id="item" data-index={item.index}>
          <h2>Prompt {item.index + 1} <span class="muted">of {item.progress.total}</span></h2>
          <PromptView prompt={item.prompt} />
          <p class="help muted">
            {rank.mode === 'thumbs'
              ? <>Press <kbd>1</kbd>–<kbd>{k}</kbd> to cycle an answer through 👍, 👎 and unjudged; <kbd>Enter</kbd> saves, <kbd>S</kbd> skips.</>
              : <>Press <kbd>1</kbd>–<kbd>{k}</kbd> in order, best first (or drag); <kbd>Backspace</kbd> undoes, <kbd>Enter</kbd> saves, <kbd>S</kbd> skips, <kbd>B</kbd>: all bad, write a better one.</>}
          </p>
          <ol class="candidates" aria-label="answers, in your order">
            {order.map((c, pos) => {
              const ranked = dragged !== undefined || picked.includes(c);
              return (
                <li key={c} class={`candidate${ranked ? ' ranked' : ''}`} draggable={rank.mode === 'rank'} data-candidate={c}
                  onDragStart={() => void (dragFrom.current = pos)} onDragOver={(e) => e.preventDefault()}
                  onDrop={(e) => {
                    e.preventDefault();
                    const from = dragFrom.current;
                    if (from === undefined || from === pos) return;
                    const next = [...order];
                    next.splice(pos, 0, next.splice(from, 1)[0]!);
                    mark({ dragged: next });
                  }}>
                  <div class="cand-head">
                    <kbd class="key">{c + 1}</kbd>
                    {rank.mode === 'rank'
                      ? <span class="rank">{ranked ? `#${pos + 1}` : 'unranked'}</span>
                      : <span class="thumbs">
                          <button type="button" aria-pressed={labels[c] === true} onClick={() => mark({ labels: labels.map((l, i) => (i === c ? (l === true ? null : true) : l)) })}>👍</button>
                          <button type="button" aria-pressed={labels[c] === false} onClick={() => mark({ labels: labels.map((l, i) => (i === c ? (l === false ? null : false) : l)) })}>👎</button>
                        </span>}
                  </div>
                  <Answer text={item.candidates![c]!} />
                </li>
              );
            })}
          </ol>
          {rank.mode === 'rank' && (
            <div class="better">
              <label><input type="checkbox" checked={allBad} onChange={(e) => setAllBad((e.target as HTMLInputElement).checked)} /> All bad: I write a better answer (it is saved as the best)</label>
              {allBad && <textarea ref={betterBox} id="better" rows={5} value={better} onInput={(e) => setBetter((e.target as HTMLTextAreaElement).value)} placeholder="A better answer (Ctrl+Enter saves)" />}
            </div>
          )}
          <div class="actions">
            <button type="button" class="primary" onClick={() => void submit()} disabled={busy}>Save <kbd>Enter</kbd></button>
            <button type="button" onClick={() => void skip()} disabled={busy}>Skip <kbd>S</kbd></button>
          </div>
        </div>
      )}
    </section>
  );
}
