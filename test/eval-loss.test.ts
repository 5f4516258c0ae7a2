// Forgetting check (verdicts, and stories260K against itself) and the holdout loss of target tokens, checked against perplexity().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sharedPath, sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';
import { loadModel } from '../src/model/load.ts';
import { forgettingCheck, forgettingVerdict } from '../src/eval/forgetting.ts';
import { perplexity } from '../src/eval/perplexity.ts';
import { targetLoss } from '../src/eval/target-loss.ts';
import { tokenizeExample } from '../src/data/tokenize.ts';
import { IGNORE_INDEX } from '../src/tensor/ops/loss.ts';

const ppl = (nll: number, tokens = 100) => ({ nll, ppl: Math.exp(nll), tokens });

test('forgetting verdict: relative NLL increase against the threshold', () => {
  const same = forgettingVerdict(ppl(2), ppl(2));
  assert.equal(same.nllIncrease, 0);
  assert.equal(same.verdict, 'ok');
  assert.equal(same.threshold, 0.1);
  const better = forgettingVerdict(ppl(2), ppl(1.5));
  assert.equal(better.nllIncrease, -0.25);
  assert.equal(better.verdict, 'ok');
  const edge = forgettingVerdict(ppl(2), ppl(2.2));
  assert.ok(Math.abs(edge.nllIncrease - 0.1) < 1e-12);
  assert.equal(forgettingVerdict(ppl(2), ppl(2.3)).verdict, 'forgot');
  assert.equal(forgettingVerdict(ppl(2), ppl(2.3), 0.2).verdict, 'ok');
  // A diverged model (NaN loss) has forgotten, whatever the threshold.
  assert.equal(forgettingVerdict(ppl(2), ppl(NaN), 10).verdict, 'forgot');
  assert.throws(() => forgettingVerdict(ppl(2, 100), ppl(2, 99)), /same text/);
  assert.throws(() => forgettingVerdict(ppl(2), ppl(2), -1), /threshold/);
});

const TEXT = sharedPath('holdout-text/tinystories_val_slice.txt');

test('stories260K against a second copy of itself: no NLL increase, verdict ok', { skip: sharedSkip }, () => {
  const base = loadModel(STORIES_GGUF);
  const tuned = loadModel(STORIES_GGUF);
  try {
    const tokens = base.tokenizer.encode(readFileSync(TEXT, 'utf8'), { addBos: true }).slice(0, 4096);
    const r = forgettingCheck(base.model, tuned.model, tokens, { ctx: 512 });
    assert.equal(r.verdict, 'ok');
    assert.equal(r.nllIncrease, 0);
    assert.equal(r.base.tokens, 4095);
    // The README's figure for this model on this text: about 1.30 nats/token.
    assert.ok(r.base.nll > 1.1 && r.base.nll < 1.5, `nll ${r.base.nll}`);

    // A damaged copy (one layer's attention output scaled up) forgets.
    const o = (tuned.model as unknown as { model: { layers: { self_attn: { o_proj: { weight: { f: Float32Array } } } }[] } }).model.layers[0]!.self_attn.o_proj.weight.f;
    for (let i = 0; i < o.length; i++) o[i] = o[i]! * 8;
    const hurt = forgettingCheck(base.model, tuned.model, tokens, { ctx: 512 });
    assert.equal(hurt.verdict, 'forgot');
    assert.ok(hurt.nllIncrease > 0.1, `increase ${hurt.nllIncrease}`);
  } finally {
    base.model.dispose();
    tuned.model.dispose();
  }
});

test('target loss of a text example equals perplexity() over the same tokens (text + EOS); prompts carry no loss', { skip: sharedSkip }, () => {
  const { model, tokenizer } = loadModel(STORIES_GGUF);
  try {
    const stories = readFileSync(TEXT, 'utf8').split('\n\n').slice(0, 6);
    const examples = stories.map((s) => ({ kind: 'completion' as const, prompt: '', completion: s }));
    const r = targetLoss(model, tokenizer, examples, { batchTokens: 700 }); // several batches of different lengths
    // perplexity() per example over the whole token list (BOS + text + EOS), one window each, summed.
    let total = 0;
    let count = 0;
    for (const e of examples) {
      const t = tokenizeExample(e, tokenizer);
      assert.equal(t.labels[t.labels.length - 1], tokenizer.eosId, 'EOS ends the target and carries loss');
      const p = perplexity(model, [...t.ids], 4096);
      total += p.nll * p.tokens;
      count += p.tokens;
    }
    assert.equal(r.tokens, count);
    assert.ok(Math.abs(r.nll - total / count) < 1e-4, `${r.nll} vs ${total / count}`);

    // With a prompt, only the completion's tokens (and EOS) are scored.
    const split = stories.map((s) => {
      const cut = s.indexOf('. ') + 1;
      return { kind: 'completion' as const, prompt: s.slice(0, cut), completion: s.slice(cut) };
    });
    const masked = targetLoss(model, tokenizer, split);
    const expected = split.reduce((n, e) => n + tokenizeExample(e, tokenizer).labels.filter((l) => l !== IGNORE_INDEX).length, 0);
    assert.equal(masked.tokens, expected);
    assert.ok(masked.tokens < r.tokens);
  } finally {
    model.dispose();
  }
});
