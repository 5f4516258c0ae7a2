// `whet train --method pretrain`: documents read and cut for packing, a tiny Llama pretrained from random
// initialisation learns a toy language (holdout loss far below ln(vocab)), an interrupted run resumes to the same
// weights, and the config rules (full training only, --model or --init) hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readDocuments, tokenizeDocuments } from '../src/data/documents.ts';
import { readSafetensorsFolder } from '../src/formats/safetensors-sharded.ts';
import { loadModel } from '../src/model/load.ts';
import { runPretrain } from '../src/recipes/pretrain.ts';
import { resolveTrainConfig } from '../src/recipes/train-config.ts';
import { IGNORE_INDEX } from '../src/tensor/ops/loss.ts';
import { Rng } from '../src/tensor/random.ts';
import { chatmlTokenizerFiles, CHATML_SPECIAL_TOKENS, countWords, trainBpe } from '../src/tokenizer/bpe-train.ts';
import { writeHfTokenizerFolder } from '../src/tokenizer/convert.ts';
import { tokenizerFromJson } from '../src/tokenizer/hf.ts';

const SUBJECTS = ['the cat', 'a dog', 'the old man', 'my sister', 'the bird'];
const VERBS = ['sat on', 'looked at', 'ran to', 'found'];
const OBJECTS = ['the mat', 'a tree', 'the house', 'the river', 'a red ball'];

/** Documents of a toy language: a few sentences of subject, verb, object each. */
function toyDocuments(n: number, seed: number): string[] {
  const rng = new Rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  return Array.from({ length: n }, () => Array.from({ length: 3 + rng.int(4) }, () => {
    const s = `${pick(SUBJECTS)} ${pick(VERBS)} ${pick(OBJECTS)}.`;
    return s[0]!.toUpperCase() + s.slice(1);
  }).join(' '));
}

const VOCAB = 320;

/** A folder with a tiny Llama's config.json and a BPE tokenizer trained on docs. */
function initFolder(dir: string, docs: string[]): string {
  const init = path.join(dir, 'init');
  mkdirSync(init);
  writeHfTokenizerFolder(init, chatmlTokenizerFiles(trainBpe(countWords(docs), { vocabSize: VOCAB, specialTokens: CHATML_SPECIAL_TOKENS }), 64));
  const config = { model_type: 'llama', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: VOCAB, max_position_embeddings: 64, rms_norm_eps: 1e-5, tie_word_embeddings: true, eos_token_id: 0 };
  writeFileSync(path.join(init, 'config.json'), JSON.stringify(config));
  return init;
}

function withDir(f: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'whet-pretrain-'));
    try {
      await f(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('.txt documents are separated by blank lines; {text} rows are documents; chat rows are refused', withDir((dir) => {
  const txt = path.join(dir, 'a.txt');
  writeFileSync(txt, 'First doc,\nits second line.\n\n \nSecond doc.\n\n\n\nThird.\n');
  assert.deepEqual(readDocuments(txt), ['First doc,\nits second line.', 'Second doc.', 'Third.']);
  const jsonl = path.join(dir, 'a.jsonl');
  writeFileSync(jsonl, '{"text": "one\\n\\ntwo"}\n{"text": "three"}\n');
  assert.deepEqual(readDocuments(jsonl), ['one\n\ntwo', 'three']);
  const chat = path.join(dir, 'chat.jsonl');
  writeFileSync(chat, '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n');
  assert.throws(() => readDocuments(chat), /plain text.*messages/);
}));

test('each document ends with EOS and is cut into pieces of at most max_length, loss on all but a piece\'s first token', withDir((dir) => {
  const docs = toyDocuments(4, 1);
  const tok = tokenizerFromJson(initFolder(dir, docs));
  const pieces = tokenizeDocuments(docs, tok, 16);
  const whole = docs.map((d) => [...tok.encode(d), 0]);
  // Cut every 16 tokens; a last piece of one token, which nothing would predict, is dropped.
  const expected = whole.flatMap((ids) => Array.from({ length: Math.ceil(ids.length / 16) }, (_, i) => ids.slice(i * 16, i * 16 + 16)).filter((c) => c.length >= 2));
  assert.deepEqual(pieces.map((p) => [...p.ids]), expected);
  assert.ok(whole.some((ids) => ids.length > 16), 'some document is cut');
  for (const p of pieces) {
    assert.equal(p.labels[0], IGNORE_INDEX);
    assert.deepEqual([...p.labels.slice(1)], [...p.ids.slice(1)]);
  }
}));

/** Training and holdout documents of the toy language as .txt files, and an init folder with its tokenizer. */
function toyRun(dir: string, trainDocs: number, holdoutDocs: number): { init: string; data: string; holdout: string } {
  const docs = toyDocuments(trainDocs, 2);
  const data = path.join(dir, 'train.txt');
  writeFileSync(data, docs.join('\n\n'));
  const holdout = path.join(dir, 'holdout.txt');
  writeFileSync(holdout, toyDocuments(holdoutDocs, 99).join('\n\n'));
  return { init: initFolder(dir, docs), data, holdout };
}

function config(dir: string, files: { init: string; data: string; holdout: string }, out: string, extra: Record<string, unknown> = {}) {
  return resolveTrainConfig(undefined, {
    method: 'pretrain', ...files, out: path.join(dir, out), steps: '60', lr: '1e-2', warmup_steps: '5', batch_size: '4', max_length: '64',
    eval_every: '0', save_every: '10', seed: '7', ...extra,
  });
}

test('a tiny Llama pretrained from random initialisation learns the toy language; the saved folder loads', { timeout: 300_000 }, withDir(async (dir) => {
  const run = await runPretrain(config(dir, toyRun(dir, 200, 20), 'run'));
  const before = run.holdoutBefore!.loss;
  const after = run.holdoutAfter!.loss;
  assert.ok(Math.abs(before - Math.log(VOCAB)) < 0.5, `random initialisation predicts about uniformly: ${before} vs ln ${VOCAB}`);
  assert.ok(after < Math.log(VOCAB) / 3, `holdout loss ${after} after training, ln(vocab) ${Math.log(VOCAB)}`);
  const loaded = loadModel(run.output);
  assert.equal(loaded.config.numLayers, 2);
  assert.equal(loaded.tokenizer.vocabSize, VOCAB);
  assert.equal(loaded.tokenizer.chatTemplate?.includes('<|im_start|>'), true);
  loaded.model.dispose();
}));

test('an interrupted pretraining run resumes to the weights of an uninterrupted one', { timeout: 300_000 }, withDir(async (dir) => {
  const files = toyRun(dir, 60, 5);
  const straight = await runPretrain(config(dir, files, 'straight', { steps: '24' }));
  const signal = { interrupted: false };
  const first = await runPretrain(config(dir, files, 'killed', { steps: '24' }), { signal, onStep: (m) => { if (m.step === 13) signal.interrupted = true; } });
  assert.equal(first.result.stoppedBy, 'interrupted');
  const resumed = await runPretrain(config(dir, files, 'killed', { steps: '24', resume: 'true' }));
  assert.equal(resumed.result.steps, 24);
  const a = readSafetensorsFolder(straight.output).tensors;
  const b = readSafetensorsFolder(resumed.output).tensors;
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [name, t] of a) assert.deepEqual(b.get(name)!.data, t.data, name);
}));

test('pretrain trains every weight from --model or --init, and --init is for pretrain only', () => {
  const base = { data: 'd.txt', out: 'o' };
  assert.equal(resolveTrainConfig(undefined, { ...base, method: 'pretrain', init: 'c.json' }).finetuning, 'full');
  assert.throws(() => resolveTrainConfig(undefined, { ...base, method: 'pretrain', init: 'c.json', finetuning: 'lora' }), /every weight/);
  assert.throws(() => resolveTrainConfig(undefined, { ...base, method: 'pretrain' }), /one of 'model'.*'init'/);
  assert.throws(() => resolveTrainConfig(undefined, { ...base, method: 'pretrain', model: 'm', init: 'c.json' }), /one of 'model'.*'init'/);
  assert.throws(() => resolveTrainConfig(undefined, { ...base, method: 'sft', model: 'm', init: 'c.json' }), /pretrain only/);
  assert.throws(() => resolveTrainConfig(undefined, { ...base, method: 'sft' }), /'model' is required/);
});
