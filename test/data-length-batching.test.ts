// Length-aware batching: grouped batches waste little padding, token budgets hold, bucketed lengths repeat, and resume replays the same batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/tensor/random.ts';
import { bucketLength, padBatch } from '../src/data/batch.ts';
import { DataIterator, type DataIteratorOptions } from '../src/data/iterator.ts';

/** Seeded lengths in 10..500; items are their indices, so batches read back as index lists. */
const lengths = (() => {
  const rng = new Rng(7);
  return Array.from({ length: 1000 }, () => 10 + rng.int(491));
})();
const items = lengths.map((_, i) => i);
const lengthOf = (i: number): number => lengths[i]!;
type Opts = Omit<DataIteratorOptions<number, number[]>, 'collate' | 'batchSize' | 'seed'> & { seed?: number; batchSize?: number };
const make = (o: Opts = {}): DataIterator<number, number[]> => new DataIterator(items, { batchSize: 8, seed: 3, collate: (xs: number[]) => xs, ...o });
const epochOf = (it: DataIterator<number, number[]>): number[][] => Array.from({ length: it.batchesPerEpoch }, () => it.next());
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const longestOf = (b: number[]): number => Math.max(...b.map(lengthOf));

/** Padding tokens over all tokens of the padded batches. */
function paddingFraction(batches: number[][]): number {
  let padded = 0;
  let real = 0;
  for (const b of batches) {
    padded += b.length * longestOf(b);
    real += b.reduce((s, i) => s + lengths[i]!, 0);
  }
  return (padded - real) / padded;
}

test('groupByLength: each item once per epoch, far less padding, the longest item first, seeded plans', () => {
  const plainIt = make();
  const plain = epochOf(plainIt);
  assert.equal(plainIt.batchesPerEpoch, 125);
  const it = make({ groupByLength: true, lengthOf });
  const grouped = epochOf(it);
  assert.equal(it.batchesPerEpoch, 125);
  assert.deepEqual(sorted(grouped.flat()), items, 'an epoch yields each item once');
  const [p, g] = [paddingFraction(plain), paddingFraction(grouped)];
  assert.ok(p > 0.3, `plain batches pad a lot (${p.toFixed(3)})`);
  assert.ok(g < p / 10, `grouped padding ${g.toFixed(4)} is far below plain ${p.toFixed(4)}`);
  const max = Math.max(...lengths);
  assert.equal(longestOf(grouped[0]!), max, 'the first batch holds the longest item');
  // Batch order is shuffled: sorted megabatches would make the longest length fall from batch to batch nearly always.
  const rises = grouped.slice(1).filter((b, i) => longestOf(b) > longestOf(grouped[i]!)).length;
  assert.ok(rises > 40, `lengths rise ${rises} times in 124 steps: no trend over the epoch`);

  assert.deepEqual(epochOf(make({ groupByLength: true, lengthOf })), grouped, 'same seed, same plan');
  assert.notDeepEqual(epochOf(make({ groupByLength: true, lengthOf, seed: 4 })), grouped, 'another seed, another plan');
  const next = epochOf(it);
  assert.notDeepEqual(next, grouped, 'epochs differ');
  assert.equal(longestOf(next[0]!), max, 'every epoch starts with the longest item');

  const dropping = make({ groupByLength: true, lengthOf, batchSize: 7, dropLast: true });
  assert.equal(dropping.batchesPerEpoch, Math.floor(1000 / 7));
  assert.ok(epochOf(dropping).every((b) => b.length === 7), 'dropLast leaves only full batches');
});

test('maxBatchTokens: batches stay within the bucketed budget (an oversized item alone), each item once', () => {
  const budget = 2048;
  const bucketMax = 512;
  for (const groupByLength of [false, true]) {
    const it = make({ lengthOf, maxBatchTokens: budget, bucketMax, batchSize: 16, groupByLength });
    for (let epoch = 0; epoch < 2; epoch++) {
      const batches = epochOf(it);
      assert.deepEqual(sorted(batches.flat()), items, `groupByLength ${groupByLength}: an epoch yields each item once`);
      for (const b of batches) {
        assert.ok(b.length <= 16);
        assert.ok(b.length * bucketLength(longestOf(b), bucketMax) <= budget, `batch of ${b.length} × ${longestOf(b)} is within ${budget}`);
      }
      assert.ok(batches.some((b) => b.length > 1), 'short items share batches');
      if (groupByLength) assert.ok(batches.some((b) => b.length === 16), 'grouped short items fill a batch up to batchSize');
    }
  }
  // Items of 600 tokens cannot fit a 512-token budget: each is a batch of its own, and nothing is lost.
  const big = [600, 20, 600, 30, 40];
  const alone = new DataIterator(big, { batchSize: 4, seed: 1, lengthOf: (n) => n, maxBatchTokens: 512, collate: (xs: number[]) => xs });
  const batches = Array.from({ length: alone.batchesPerEpoch }, () => alone.next());
  for (const b of batches) if (b.includes(600)) assert.deepEqual(b, [600], 'an oversized item is a batch by itself');
  assert.deepEqual(sorted(batches.flat()), sorted(big));
});

test('resume: groupByLength + maxBatchTokens replays the same batches, across an epoch boundary too', () => {
  const opts: Opts = { groupByLength: true, lengthOf, maxBatchTokens: 4096, bucketMax: 512, batchSize: 32 };
  const ref = make(opts);
  const perEpoch = ref.batchesPerEpoch;
  const all = Array.from({ length: perEpoch + 12 }, () => ref.next());
  for (const k of [0, 5, perEpoch - 1, perEpoch, perEpoch + 3]) {
    const it = make(opts);
    for (let i = 0; i < k; i++) it.next();
    const state = JSON.parse(JSON.stringify(it.state())); // as a checkpoint stores it
    const resumed = make(opts);
    resumed.next(); // somewhere else first: restore must not depend on where the iterator was
    resumed.restore(state);
    assert.deepEqual(Array.from({ length: 8 }, () => resumed.next()), all.slice(k, k + 8), `resumed after ${k} batches`);
  }
  // A checkpoint taken at an epoch's end before the next was drawn (epoch 0, every item handed out) resumes into epoch 1.
  const start = make(opts).state();
  const atEnd = make(opts);
  atEnd.restore({ ...start, index: items.length });
  assert.equal(atEnd.epoch, 1);
  assert.deepEqual(atEnd.next(), all[perEpoch]);

  const it = make(opts);
  it.next();
  const s = it.state();
  assert.throws(() => make(opts).restore({ ...s, index: s.index + 1 }), /malformed.*whole number of batches/);
  assert.throws(() => make(opts).restore({ ...s, index: 1001 }), /malformed/);
  assert.throws(() => make(opts).restore({ ...s, rngState: [1, 2, 3] }), /malformed/);
});

test('bucketLength: a few repeating lengths, never below n, capped at the maximum; padBatch pads to it without loss', () => {
  assert.equal(bucketLength(1, 2048), 16);
  assert.equal(bucketLength(100, 2048), 112);
  assert.equal(bucketLength(128, 2048), 128);
  assert.equal(bucketLength(129, 2048), 160);
  assert.equal(bucketLength(300, 2048), 320);
  assert.equal(bucketLength(700, 2048), 768);
  assert.equal(bucketLength(700, 720), 720, 'capped at the maximum');
  let prev = 0;
  const seen = new Set<number>();
  for (let n = 1; n <= 1000; n++) {
    const b = bucketLength(n, 1000);
    assert.ok(b >= n && b <= 1000 && b >= prev, `bucketLength(${n}) = ${b}`);
    seen.add(b);
    prev = b;
  }
  assert.ok(seen.size <= 60, `${seen.size} distinct lengths for 1000 inputs`);
  assert.throws(() => bucketLength(-1, 100), /non-negative/);

  const ex = (n: number) => ({ ids: Int32Array.from({ length: n }, (_, i) => 3 + i), labels: Int32Array.from({ length: n }, (_, i) => 3 + i), truncated: 0 });
  const batch = padBatch([ex(100), ex(40)], 0, { bucket: 512 });
  assert.equal(batch.time, 112);
  assert.ok(batch.labels.subarray(100, 112).every((l) => l === -100), 'bucket padding carries no loss');
  assert.ok(batch.labels.subarray(112 + 40, 224).every((l) => l === -100));
  assert.equal(batch.lossTokens, 140);
  assert.equal(padBatch([ex(100)], 0, { bucket: 512, multipleOf: 64 }).time, 128, 'multipleOf applies after bucketing');
  assert.equal(padBatch([ex(100)], 0).time, 100, 'no bucket: the longest');
});

test('clear errors for length options without what they need', () => {
  assert.throws(() => make({ groupByLength: true }), /groupByLength needs lengthOf/);
  assert.throws(() => make({ maxBatchTokens: 100 }), /maxBatchTokens needs lengthOf/);
  assert.throws(() => make({ lengthOf, maxBatchTokens: 0 }), /maxBatchTokens must be a positive integer/);
  assert.throws(() => make({ lengthOf, maxBatchTokens: 100, dropLast: true }), /dropLast/);
  assert.throws(() => make({ lengthOf: () => -1, groupByLength: true }), /lengthOf gave -1/);
});
