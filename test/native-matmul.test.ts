// Checks the native GEMM against the reference matmul on every ISA the CPU has, at 1 and 2 threads (and, for bf16 B
// on AVX-512, with the AVX512_BF16 path on and off), plus its bounds checks and the bench's output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { loadAddon } from '../src/backend/addon.ts';
import { nativeMatmul } from '../src/backend/native-matmul.ts';
import { referenceBackend as R } from '../src/backend/reference.ts';
import { bf16ToF32, f32ToBf16 } from '../src/backend/bf16.ts';
import type { MatmulArgs } from '../src/backend/backend.ts';
import { rng } from './helpers/random.ts';

const addon = loadAddon();
const skip = addon === null ? 'the native addon is not built' : false;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const rand = rng(7);
function uniform(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rand() * 2 - 1);
}

interface Case {
  m: number; k: number; n: number;
  transA?: boolean; transB?: boolean; bf16?: boolean; accumulate?: boolean;
  batch?: number; sharedB?: boolean; sharedC?: boolean; offsets?: boolean;
}

/** Arguments with random data; with offsets, every operand starts past some junk and strides leave gaps. */
function makeArgs(c: Case): MatmulArgs {
  const batch = c.batch ?? 1;
  const gap = c.offsets ? 3 : 0;
  const aOffset = c.offsets ? 5 : 0, bOffset = c.offsets ? 2 : 0, cOffset = c.offsets ? 7 : 0;
  const strideA = batch > 1 ? c.m * c.k + gap : 0;
  const strideB = batch > 1 && !c.sharedB ? c.k * c.n + gap : 0;
  const strideC = batch > 1 && !c.sharedC ? c.m * c.n + gap : 0;
  const span = (offset: number, stride: number, size: number) => offset + (batch - 1) * stride + size + gap;
  const bFloats = uniform(span(bOffset, strideB, c.k * c.n));
  return {
    a: uniform(span(aOffset, strideA, c.m * c.k)), aOffset, strideA, transA: c.transA ?? false,
    b: c.bf16 ? Uint16Array.from(bFloats, f32ToBf16) : bFloats, bOffset, strideB, transB: c.transB ?? false,
    c: uniform(span(cOffset, strideC, c.m * c.n)), cOffset, strideC,
    batch, m: c.m, n: c.n, k: c.k, accumulate: c.accumulate ?? false,
  };
}

function describe(c: Case): string {
  const flags = [c.transA && 'transA', c.transB && 'transB', c.bf16 && 'bf16', c.accumulate && 'accumulate',
    c.batch && `batch=${c.batch}`, c.sharedB && 'sharedB', c.sharedC && 'sharedC', c.offsets && 'offsets'].filter(Boolean);
  return `${c.m}x${c.k}x${c.n} ${flags.join(' ')}`;
}

/** fp32 sums of k products of values in [-1, 1]: error grows like √k; a wrong element is off by O(1). */
function assertClose(actual: Float32Array, expected: Float32Array, k: number, what: string): void {
  const tol = 2e-6 * Math.sqrt(k + 1);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    if (!(Math.abs(actual[i] - e) <= tol * (Math.abs(e) + Math.sqrt(k + 1)))) {
      assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${e}`);
    }
  }
}

const TRANS = [[false, false], [false, true], [true, false], [true, true]] as const;
const CASES: Case[] = [];
// Odd sizes, sizes below one vector, the small-m paths (decode; m either side of their limits), skinny n
// (LoRA x·Aᵀ) and skinny k, and products large enough for several k blocks, B blocks and threads; all four
// transpose combinations.
for (const [m, k, n] of [[1, 1, 1], [3, 5, 7], [7, 13, 29], [33, 65, 17], [1, 300, 77], [129, 5, 257], [4, 33, 70],
  [2, 600, 40], [1, 1001, 333], [5, 40, 33], [13, 70, 45], [16, 40, 50], [17, 40, 50], [30, 64, 100], [41, 50, 70], [200, 576, 16], [70, 100, 8], [100, 16, 300], [50, 400, 800], [300, 700, 530]] as const) {
  for (const [transA, transB] of TRANS) CASES.push({ m, k, n, transA, transB, accumulate: (m + n) % 2 === 0 });
}
// [1, 1001, 333]: decode's matrix-vector path split across threads, with odd k (unaligned bf16 rows, vector tails).
// With AVX512_BF16: m either side of where the bf16 kernels change (with B stored n × k: one streamed row of B
// for up to 4 rows of A, then groups of 8 rows of A against slices of B up to 16; otherwise the packed kernel from 12),
// k odd (half a pair at the end), under one step of 32 and over several k blocks, k = 1, n under one vector (the
// narrow tile), ragged edge tiles.
for (const [m, k, n] of [[7, 13, 29], [1, 576, 200], [1, 1001, 333], [2, 97, 35], [2, 31, 19], [3, 70, 45], [5, 129, 23], [11, 33, 40], [12, 33, 40], [13, 50, 37],
  [17, 33, 40], [29, 31, 47], [40, 64, 64], [41, 65, 33], [64, 1, 50], [100, 9, 16], [45, 1601, 70],
  [300, 700, 530], [4, 1001, 70], [8, 577, 97], [9, 31, 5], [16, 1536, 67]] as const) {
  for (const [transA, transB] of TRANS) CASES.push({ m, k, n, transA, transB, bf16: true, accumulate: (m + k) % 2 === 1 });
}
CASES.push(
  { m: 17, k: 33, n: 65, batch: 3, offsets: true, accumulate: true },
  { m: 40, k: 50, n: 60, batch: 4, sharedB: true, transB: true, offsets: true },
  { m: 1, k: 64, n: 90, batch: 5, sharedB: true, bf16: true, transB: true },
  { m: 64, k: 48, n: 20, batch: 3, sharedB: true, transA: true, accumulate: true },
  { m: 9, k: 21, n: 35, batch: 3, sharedC: true, accumulate: true }, // stride 0 output: sums the batch in order
  { m: 2, k: 30, n: 50, batch: 3, sharedC: true, transB: true },     // stride 0, overwrite: the last one wins
  { m: 130, k: 90, n: 150, batch: 2, offsets: true, transA: true, transB: true, bf16: true },
  { m: 50, k: 77, n: 90, batch: 3, sharedB: true, transB: true, bf16: true, offsets: true, accumulate: true },
  { m: 60, k: 45, n: 35, batch: 3, sharedC: true, bf16: true, accumulate: true },       // bf16 kernel, batch summed in order
  { m: 20, k: 64, n: 40, batch: 4, transB: true, bf16: true, offsets: true },
  { m: 5, k: 0, n: 9 },                                               // empty sum: C = 0
  { m: 5, k: 0, n: 9, accumulate: true },                             // empty sum: C unchanged
);

/** The reference product with A rounded to bf16 first: what the AVX512_BF16 path computes (gemm.h's contract). */
function referenceRoundingA(args: MatmulArgs): Float32Array {
  const c = Float32Array.from(args.c);
  R.matmul({ ...args, a: args.a.map((x) => bf16ToF32(f32ToBf16(x))), c });
  return c;
}

test('native matmul matches the reference on every ISA and thread count', { skip }, () => {
  const { matmul } = nativeMatmul(addon!);
  const isas = ['avx512', 'avx2', 'scalar'].filter((isa) => addon!.setIsa(isa));
  const startIsa = addon!.detectedIsa();
  const startThreads = addon!.numThreads();
  const startBf16 = addon!.bf16Dot();
  const bf16Modes = startBf16 ? [true, false] : [false];
  assert.ok(isas.includes('scalar'));
  let rounded = 0;
  try {
    for (const c of CASES) {
      const args = makeArgs(c);
      const expected = Float32Array.from(args.c);
      R.matmul({ ...args, c: expected });
      let expectedRounded: Float32Array | undefined;
      for (const isa of isas) {
        addon!.setIsa(isa);
        for (const bf16Dot of c.bf16 && isa === 'avx512' ? bf16Modes : [startBf16]) {
          addon!.setBf16Dot(bf16Dot);
          const roundsA = c.bf16 === true && addon!.gemmRoundsA(c.m, c.k, c.transB ?? false);
          assert.ok(!roundsA || (isa === 'avx512' && bf16Dot), 'only the AVX512_BF16 path rounds A');
          if (roundsA) rounded++;
          const want = roundsA ? (expectedRounded ??= referenceRoundingA(args)) : expected;
          for (const threads of [1, 2]) {
            addon!.setThreads(threads);
            const out = Float32Array.from(args.c);
            matmul({ ...args, c: out });
            assertClose(out, want, c.k, `${describe(c)} on ${isa}${roundsA ? ' (A rounded to bf16)' : ''} with ${threads} threads`);
          }
        }
      }
    }
  } finally {
    addon!.setIsa(startIsa);
    addon!.setThreads(startThreads);
    addon!.setBf16Dot(startBf16);
  }
  if (startBf16) assert.ok(rounded > 20, `the AVX512_BF16 path ran on ${rounded} cases`);
});

test('bf16 B with the AVX512_BF16 path stays within bf16 rounding of the exact product', { skip: skip || (!addon!.gemmRoundsA(64, 576, true) && 'the AVX512_BF16 path is off (CPU, WHET_ISA or WHET_BF16=0)') }, () => {
  // Rounding A to bf16 moves each product by at most 2^-9 relative: the sum by at most 2^-9 · Σ|a·b|.
  const { matmul } = nativeMatmul(addon!);
  for (const c of [{ m: 64, k: 576, n: 96, transB: true }, { m: 64, k: 300, n: 50 }, { m: 12, k: 77, n: 40, transA: true }] as Case[]) {
    const args = makeArgs({ ...c, bf16: true });
    assert.ok(addon!.gemmRoundsA(c.m, c.k, c.transB ?? false));
    const out = Float32Array.from(args.c);
    matmul({ ...args, c: out });
    const exact = Float32Array.from(args.c);
    R.matmul({ ...args, c: exact });
    const absSum = Float32Array.from(args.c, () => 0);
    R.matmul({ ...args, a: args.a.map(Math.abs), b: Uint16Array.from(args.b as Uint16Array, (h) => h & 0x7fff), c: absSum });
    let changed = 0;
    for (let i = 0; i < out.length; i++) {
      assert.ok(Math.abs(out[i]! - exact[i]!) <= 2 ** -9 * absSum[i]! + 1e-5, `${describe(c)}: element ${i}`);
      if (out[i] !== exact[i]) changed++;
    }
    assert.ok(changed > 0, 'A is rounded');
  }
});

test('native matmul rejects arrays too short for the product instead of reading past them', { skip }, () => {
  const { matmul } = nativeMatmul(addon!);
  const base = makeArgs({ m: 6, k: 5, n: 4, batch: 2, offsets: true });
  // Exactly long enough: fine. One element short anywhere, or a bigger offset or stride: a TypeError.
  const exact: MatmulArgs = {
    ...base,
    a: base.a.subarray(0, base.aOffset + base.strideA + 30),
    b: base.b.subarray(0, base.bOffset + base.strideB + 20),
    c: base.c.subarray(0, base.cOffset + base.strideC + 24),
  };
  matmul(exact);
  const tooShort: Partial<MatmulArgs>[] = [
    { a: exact.a.subarray(0, exact.a.length - 1) },
    { b: exact.b.subarray(0, exact.b.length - 1) },
    { b: Uint16Array.from(exact.b.subarray(0, exact.b.length - 1)) },
    { c: exact.c.subarray(0, exact.c.length - 1) },
    { aOffset: exact.aOffset + 1 },
    { strideB: exact.strideB + 1 },
    { cOffset: exact.cOffset + 1 },
    { batch: 3 },
    { k: 6 },
    { transA: true, m: 7 },
  ];
  for (const change of tooShort) {
    assert.throws(() => matmul({ ...exact, ...change }), TypeError, JSON.stringify(Object.keys(change)));
  }
  const badTypes: Partial<MatmulArgs>[] = [
    { a: new Float64Array(exact.a.length) },
    { c: new Float64Array(exact.c.length) },
    { b: new Int32Array(exact.b.length) as unknown as Float32Array },
    { m: -1 },
    { k: 2.5 },
    { aOffset: Number.NaN },
  ];
  for (const change of badTypes) {
    assert.throws(() => matmul({ ...exact, ...change }), TypeError, JSON.stringify(change));
  }
  // Nothing is read when the product is empty, so empty arrays are fine.
  matmul({ ...exact, a: new Float32Array(0), b: new Float32Array(0), c: new Float32Array(0), m: 0 });
});

test('whet bench gemm --quick --json prints one well-formed result per line', { skip }, () => {
  const run = spawnSync(process.execPath, [path.join(root, 'bin/whet.js'), 'bench', 'gemm', '--quick', '--json'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n');
  assert.ok(lines.length >= 6, `expected a line per shape, got:\n${run.stdout}`);
  let decodeLines = 0;
  for (const line of lines) {
    const r = JSON.parse(line) as Record<string, unknown>;
    assert.equal(r.op, 'gemm');
    for (const key of ['m', 'k', 'n', 'threads', 'gflops', 'peak_gflops', 'ratio']) {
      assert.ok(typeof r[key] === 'number' && (r[key] as number) > 0, `${key} in ${line}`);
    }
    if ('bound_gflops' in r) {
      decodeLines++;
      for (const key of ['bound_gflops', 'bound_ratio', 'mem_gbps']) {
        assert.ok(typeof r[key] === 'number' && (r[key] as number) > 0, `${key} in ${line}`);
      }
    }
  }
  assert.ok(decodeLines > 0, 'the decode shape reports its memory bound');
});
