// How answers and prompts are shown: long text collapsed behind a toggle, code and SQL in monospace.
import { useState } from 'preact/hooks';
import type { Prompt } from './api.ts';

const LONG_CHARS = 700;
const LONG_LINES = 14;
const CODE = /```|^\s*(SELECT|WITH|INSERT|UPDATE|DELETE|CREATE)\b|[;{}]\s*$|^\s*(def|function|class|import)\s/im;

export function Answer({ text }: { text: string }) {
  const long = text.length > LONG_CHARS || text.split('\n').length > LONG_LINES;
  const [open, setOpen] = useState(false);
  const code = CODE.test(text);
  return (
    <div class="answer">
      <div class={`text${code ? ' mono' : ''}${long && !open ? ' collapsed' : ''}`}>{text === '' ? <em class="muted">(empty answer)</em> : text}</div>
      {long && <button type="button" class="link" onClick={(e) => { e.stopPropagation(); setOpen(!open); }} aria-expanded={open}>{open ? 'Show less' : 'Show all'}</button>}
    </div>
  );
}

export function PromptView({ prompt }: { prompt: Prompt }) {
  if (typeof prompt === 'string') return <div class="prompt"><Answer text={prompt} /></div>;
  return (
    <div class="prompt">
      {prompt.map((t, i) => (
        <div key={i} class={`turn ${t.role}`}><span class="role">{t.role}</span><Answer text={t.content} /></div>
      ))}
    </div>
  );
}
