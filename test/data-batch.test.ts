// Padding, packing and the resumable iterator: padding never learns, packed examples never see each other (checked through a real forward pass), resume repeats the order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../src/tensor/index.ts';
import { configFromHf } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { nextTokenTargets, packExamples, padBatch } from '../src/data/batch.ts';
import { DataIterator } from '../src/data/iterator.ts';
import type { TokenizedExample } from '../src/data/tokenize.ts';

const EOS = 2;

/** An example of n tokens ending in EOS, loss on its second half. */
function example(n: number, seed: number): TokenizedExample {
  const rng = new T.Rng(seed);
  const ids = Int32Array.from({ length: n }, (_, i) => (i === n - 1 ? EOS : 3 + rng.int(40)));
  const labels = ids.map((id, i) => (i >= n / 2 ? id : -100));
  return { ids, labels, truncated: 0 };
}

test('padBatch: right padding never carries loss, even when the pad id is the EOS id', () => {
  const a = example(5, 1);
  const b = example(9, 2);
  const batch = padBatch([a, b], EOS);
  assert.equal(batch.batch, 2);
  assert.equal(batch.time, 9);
  assert.deepEqual([...batch.ids.subarray(0, 5)], [...a.ids]);
  assert.deepEqual([...batch.ids.subarray(5, 9)], [EOS, EOS, EOS, EOS]);
  assert.deepEqual([...batch.labels.subarray(5, 9)], [-100, -100, -100, -100], 'pads are EOS tokens with no loss');
  assert.equal(batch.labels[4], EOS, "the example's own EOS keeps its loss");
  assert.deepEqual([...batch.positions.subarray(0, 9)], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(batch.lossTokens, [a, b].reduce((n, e) => n + e.labels.filter((l) => l !== -100).length, 0));
  assert.equal(padBatch([a, b], 0, { multipleOf: 8 }).time, 16);

  const targets = nextTokenTargets(batch);
  assert.deepEqual([...targets.subarray(0, 9)], [...batch.labels.subarray(1, 9), -100]);
  assert.equal(targets[17], -100, 'no target past the end of a row');
});

test('packExamples: full rows, positions restart, one segment per example, nothing lost', () => {
  const lengths = [7, 3, 12, 5, 9, 2, 16, 4, 20];
  const examples = lengths.map((n, i) => example(n, 10 + i));
  const packed = packExamples(examples, 16, 0);
  assert.equal(packed.time, 16);
  assert.equal(packed.ids.length, packed.batch * 16);
  assert.equal(packed.truncated, 4, 'the 20-token example is cut to 16');
  assert.deepEqual(packed.rows.flat().sort((a, b) => a - b), lengths.map((_, i) => i), 'every example is in exactly one row');
  const totalKept = lengths.reduce((a, n) => a + Math.min(n, 16), 0);
  assert.equal(packed.batch, Math.ceil(totalKept / 16), 'first-fit decreasing needs no more rows than the tokens require here');

  packed.rows.forEach((members, r) => {
    let at = r * 16;
    const seen = new Set<number>();
    for (const i of members) {
      const e = examples[i]!;
      const n = Math.min(e.ids.length, 16);
      assert.deepEqual([...packed.ids.subarray(at, at + n)], [...e.ids.subarray(0, n)]);
      assert.deepEqual([...packed.positions.subarray(at, at + n)], Array.from({ length: n }, (_, t) => t), 'positions restart at 0');
      const seg = packed.segments[at]!;
      assert.ok(packed.segments.subarray(at, at + n).every((s) => s === seg));
      assert.ok(!seen.has(seg), 'segments differ between examples of a row');
      seen.add(seg);
      assert.equal(packed.labels[at], -100, "an example's first token is never a target");
      assert.deepEqual([...packed.labels.subarray(at + 1, at + n)], [...e.labels.subarray(1, n)]);
      at += n;
    }
    for (; at < (r + 1) * 16; at++) {
      assert.equal(packed.labels[at], -100, 'padding has no loss');
      assert.ok(!seen.has(packed.segments[at]!), 'padding has its own segment');
    }
  });
});

test('a packed row gives every example the same logits as running it alone (no attention across examples)', () => {
  const cfg = configFromHf({ model_type: 'llama', hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 48, max_position_embeddings: 64 });
  const model = LlamaModel.random(cfg, new T.Rng(3), { std: 0.2 });
  const examples = [6, 4, 9, 3, 5].map((n, i) => example(n, 30 + i));
  const packed = packExamples(examples, 16);
  assert.ok(packed.rows.some((m) => m.length >= 2), 'some row holds several examples');
  T.noGrad(() =>
    T.tidy(() => {
      const all = model.logits(model.forward(packed.ids, packed.batch, { positions: packed.positions, segments: packed.segments })).toArray();
      packed.rows.forEach((members, r) => {
        let at = r * 16;
        for (const i of members) {
          const e = examples[i]!;
          const alone = model.logits(model.forward(e.ids, 1)).toArray();
          let maxDiff = 0;
          for (let j = 0; j < alone.length; j++) maxDiff = Math.max(maxDiff, Math.abs(alone[j]! - all[at * cfg.vocabSize + j]!));
          assert.ok(maxDiff < 1e-4, `example ${i} in row ${r}: max logit difference ${maxDiff}`);
          at += e.ids.length;
        }
      });
      // Without segments the later examples would see the earlier ones: the check above can fail.
      const leaky = model.logits(model.forward(packed.ids, packed.batch)).toArray();
      const row = packed.rows.findIndex((m) => m.length >= 2);
      const second = examples[packed.rows[row]![1]!]!;
      const at = row * 16 + examples[packed.rows[row]![0]!]!.ids.length;
      const alone = model.logits(model.forward(second.ids, 1)).toArray();
      assert.ok(alone.some((v, j) => Math.abs(v - leaky[at * cfg.vocabSize + j]!) > 1e-3));
    }),
  );
  model.dispose();
});

test('DataIterator: seeded shuffles, whole epochs, and a restored state resumes the same order', () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  const make = () => new DataIterator(items, { batchSize: 3, seed: 42, collate: (xs: number[]) => xs });
  const it = make();
  const epoch0 = [it.next(), it.next(), it.next(), it.next()];
  assert.deepEqual(epoch0.map((b) => b.length), [3, 3, 3, 1], 'the last batch of an epoch is smaller');
  assert.deepEqual(epoch0.flat().sort((a, b) => a - b), items, 'an epoch yields each item once');
  assert.notDeepEqual(epoch0.flat(), items, 'shuffled');
  assert.deepEqual([make().next(), make().next()], [epoch0[0], epoch0[0]], 'same seed, same order');

  const first = it.next();
  const state = JSON.parse(JSON.stringify(it.state())); // as a checkpoint stores it
  assert.equal(state.epoch, 1);
  const expected = Array.from({ length: 9 }, () => it.next());
  const epoch1 = [first, ...expected.slice(0, 3)].flat();
  assert.deepEqual([...epoch1].sort((a, b) => a - b), items);
  assert.notDeepEqual(epoch1, epoch0.flat(), 'epochs are shuffled differently');

  const resumed = make();
  resumed.restore(state);
  assert.deepEqual(Array.from({ length: 9 }, () => resumed.next()), expected);
  assert.throws(() => resumed.restore({ epoch: 1 }), /malformed/);

  const dropping = new DataIterator(items, { batchSize: 4, seed: 1, dropLast: true, collate: (xs: number[]) => xs });
  assert.deepEqual([dropping.next(), dropping.next(), dropping.next()].map((b) => b.length), [4, 4, 4]);
  assert.equal(dropping.epoch, 1);
});
