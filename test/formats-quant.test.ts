// GGUF quantised blocks (Q8_0, Q4_0, Q4_K, Q6_K): an independent decoder written from ggml-common.h's structs checks
// gguf-quant.ts and the GGUF reader/writer on hand-built blocks; quantize matches ggml's reference bytes and stays
// within stated error bounds; bad lengths are refused; `whet convert --dtype` quantises real and synthetic models.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Rng } from '../src/tensor/random.ts';
import { readGguf, readGgufTensor, readGgufTensorBytes, TENSOR_TYPE_IDS, type GgufFile } from '../src/formats/gguf.ts';
import { writeGguf, type GgufWriteTensor } from '../src/formats/gguf-write.ts';
import { dequantize, dequantizeF16, dequantizeQ8_0, isQuantType, QUANT_TYPES, quantize, quantRowBytes, type QuantType } from '../src/formats/gguf-quant.ts';
import { convert } from '../src/model/convert.ts';
import { readSafetensorsFolder } from '../src/formats/safetensors-sharded.ts';
import { f32ToBf16 } from '../src/backend/bf16.ts';
import { sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';
import { throwsWhet } from './helpers/errors.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'whet-quant-formats-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const fresh = (ext = '.gguf'): string => path.join(dir, `case${fileNo++}${ext}`);
const TYPES: QuantType[] = ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'];


// ---------------------------------------------------------------- an independent decoder, from ggml-common.h

/** IEEE half → number, by the definition (sign, 5-bit exponent, 10-bit fraction). */
function half(lo: number, hi: number): number {
  const h = lo | (hi << 8);
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const frac = h & 1023;
  if (e === 31) return frac ? NaN : sign * Infinity;
  return e === 0 ? sign * frac * 2 ** -24 : sign * (1 + frac / 1024) * 2 ** (e - 15);
}
const int8 = (b: number): number => (b > 127 ? b - 256 : b);

/**
 * One value of one block, element by element as the structs describe it:
 *  block_q8_0 { f16 d; int8 qs[32] }                                  x[j] = d·qs[j]
 *  block_q4_0 { f16 d; u8 qs[16] }                                    x[j] = ((qs[j]&15) − 8)·d, x[j+16] = ((qs[j]>>4) − 8)·d
 *  block_q4_K { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }          8 sub-blocks of 32, 6-bit scale sc and min m each:
 *     sub-block s < 4: sc = scales[s]&63, m = scales[s+4]&63; s ≥ 4: sc = (scales[s+4]&15) | (scales[s−4]>>6)<<4,
 *     m = (scales[s+4]>>4) | (scales[s]>>6)<<4; quants of sub-blocks 2k and 2k+1 are the low and high nibbles of
 *     qs[32k .. 32k+32); x = d·sc·q − dmin·m
 *  block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }         halves of 128; in a half, 4 groups of 32: group g
 *     takes the low (g < 2) or high nibble of ql[64h + 32(g&1) + l] and bits 2g..2g+1 of qh[32h + l] as its top bits;
 *     q = that 6-bit value − 32, scale = scales[8h + 2g + l/16]; x = d·scale·q
 */
function refValue(type: QuantType, b: Uint8Array, i: number): number {
  const { block, bytes } = QUANT_TYPES[type];
  const o = Math.floor(i / block) * bytes;
  const j = i % block;
  switch (type) {
    case 'Q8_0':
      return half(b[o], b[o + 1]) * int8(b[o + 2 + j]);
    case 'Q4_0': {
      const q = j < 16 ? b[o + 2 + j] & 15 : b[o + 2 + j - 16] >> 4;
      return (q - 8) * half(b[o], b[o + 1]);
    }
    case 'Q4_K': {
      const s = Math.floor(j / 32);
      const l = j % 32;
      const sb = (k: number): number => b[o + 4 + k];
      const sc = s < 4 ? sb(s) & 63 : (sb(s + 4) & 15) | ((sb(s - 4) >> 6) << 4);
      const m = s < 4 ? sb(s + 4) & 63 : (sb(s + 4) >> 4) | ((sb(s) >> 6) << 4);
      const byte = b[o + 16 + 32 * Math.floor(s / 2) + l];
      const q = s % 2 === 0 ? byte & 15 : byte >> 4;
      return Math.fround(half(b[o], b[o + 1]) * sc * q - half(b[o + 2], b[o + 3]) * m);
    }
    case 'Q6_K': {
      const h = Math.floor(j / 128);
      const g = Math.floor((j % 128) / 32);
      const l = j % 32;
      const lowByte = b[o + 64 * h + 32 * (g & 1) + l];
      const low = g < 2 ? lowByte & 15 : lowByte >> 4;
      const top = (b[o + 128 + 32 * h + l] >> (2 * g)) & 3;
      const scale = int8(b[o + 192 + 8 * h + 2 * g + Math.floor(l / 16)]);
      return Math.fround(half(b[o + 208], b[o + 209]) * scale * ((low | (top << 4)) - 32));
    }
  }
}

function refDecode(type: QuantType, b: Uint8Array, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => refValue(type, b, i));
}

/** A finite f16 bit pattern: mostly normal numbers of moderate size, sometimes ±0 or a subnormal. */
function randomHalf(r: Rng): number {
  const sign = r.int(2) << 15;
  const pick = r.int(10);
  if (pick === 0) return sign;
  if (pick === 1) return sign | (1 + r.int(1023));
  return sign | ((5 + r.int(20)) << 10) | r.int(1024);
}

/** Random but valid blocks: every quant and scale byte random, the f16 fields finite. */
function randomBlocks(type: QuantType, nBlocks: number, r: Rng): Uint8Array {
  const { bytes } = QUANT_TYPES[type];
  const out = Uint8Array.from({ length: nBlocks * bytes }, () => r.int(256));
  const halves = type === 'Q4_K' ? [0, 2] : type === 'Q6_K' ? [208] : [0];
  for (let b = 0; b < nBlocks; b++) {
    for (const at of halves) {
      const h = randomHalf(r);
      out[b * bytes + at] = h & 255;
      out[b * bytes + at + 1] = h >> 8;
    }
  }
  return out;
}

function assertSameValues(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i] && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) {
      assert.fail(`${what}: value ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

test('the independent decoder itself, on hand-computed values of one Q4_K and one Q6_K block', () => {
  // Q4_K: d = 1 (0x3c00), dmin = 0.5 (0x3800). Sub-block 5 takes its scale from the low nibble of scales[9] and
  // the top bits of scales[1], its min from the high nibble of scales[9] and the top bits of scales[5].
  const k = new Uint8Array(144);
  k.set([0x00, 0x3c, 0x00, 0x38], 0);
  k[4 + 9] = 0x73; // scale low nibble 3, min low nibble 7
  k[4 + 1] = 0b10_000000; // scale top bits 2 → scale 0b100011 = 35
  k[4 + 5] = 0b01_000000; // min top bits 1 → min 0b010111 = 23
  k[16 + 32 * 2 + 3] = 0x90; // sub-block 5 (odd: high nibble) element 3: q = 9
  assert.equal(refValue('Q4_K', k, 5 * 32 + 3), 35 * 9 - 0.5 * 23);
  assert.equal(refValue('Q4_K', k, 4 * 32 + 3), 0); // sub-block 4: scale (low nibble of scales[8] = 0) and min 0
  // Q6_K: d = 0.25 (0x3400); element 200 is half 1, group 2, l = 8: high nibble of ql[64 + 8], bits 4–5 of
  // qh[32 + 8], scale scales[8 + 4 + 0].
  const s = new Uint8Array(210);
  s.set([0x00, 0x34], 208);
  s[64 + 8] = 0xa0; // high nibble 10
  s[128 + 32 + 8] = 0b00_10_0000; // top bits 2 → q = 0b101010 − 32 = 10
  s[192 + 12] = 0xfd; // scale −3
  assert.equal(refValue('Q6_K', s, 200), 0.25 * -3 * 10);
  assert.equal(refValue('Q6_K', s, 0), 0.25 * int8(s[192]) * -32);
});

test('hand-built blocks in llama.cpp layout: written by writeGguf, read back by readGguf, decoded exactly as ggml-common.h says', () => {
  const r = new Rng(7);
  const shapes: Record<QuantType, number[]> = { Q8_0: [3, 64], Q4_0: [4, 96], Q4_K: [3, 512], Q6_K: [2, 768] };
  const blocks = new Map<QuantType, Uint8Array>();
  const tensors: GgufWriteTensor[] = [{ name: 'norm', shape: [5], type: 'F32', data: Float32Array.from([1, 2, 3, 4, 5]) }];
  for (const type of TYPES) {
    const shape = shapes[type];
    const n = shape[0] * shape[1];
    const data = randomBlocks(type, n / QUANT_TYPES[type].block, r);
    blocks.set(type, data);
    tensors.push({ name: `w.${type}`, shape, type, data });
  }
  const file = fresh();
  writeGguf(file, { metadata: { 'general.architecture': 'llama' }, tensors });
  const g = readGguf(file);
  assert.equal(readGgufTensor(g, g.tensors[0]).length, 5);
  for (const type of TYPES) {
    const info = g.tensors.find((t) => t.name === `w.${type}`)!;
    const bytes = blocks.get(type)!;
    const n = shapes[type][0] * shapes[type][1];
    assert.equal(info.type, type);
    assert.deepEqual(info.shape, shapes[type]);
    assert.equal(info.byteLength, bytes.length);
    assert.equal(info.byteLength, shapes[type][0] * quantRowBytes(type, shapes[type][1]));
    assert.deepEqual(readGgufTensorBytes(g, info), bytes);
    const expected = refDecode(type, bytes, n);
    assertSameValues(dequantize(type, bytes, n), expected, `dequantize ${type}`);
    assertSameValues(readGgufTensor(g, info) as Float32Array, expected, `readGgufTensor ${type}`);
  }
  // The older Q8_0 entry point agrees.
  assertSameValues(dequantizeQ8_0(blocks.get('Q8_0')!), refDecode('Q8_0', blocks.get('Q8_0')!, 192), 'dequantizeQ8_0');
});

test("QUANT_TYPES agrees with the reader's ggml type table; isQuantType knows exactly the four", () => {
  for (const type of TYPES) {
    assert.equal(TENSOR_TYPE_IDS.get(type), QUANT_TYPES[type].id, type);
    assert.ok(isQuantType(type));
  }
  assert.deepEqual(Object.fromEntries(TYPES.map((t) => [t, QUANT_TYPES[t].id])), { Q8_0: 8, Q4_0: 2, Q4_K: 12, Q6_K: 14 });
  for (const t of ['Q5_K', 'F32', 'q4_k', 'toString', '']) assert.ok(!isQuantType(t), t);
  assert.equal(quantRowBytes('Q8_0', 64), 68);
  assert.equal(quantRowBytes('Q4_0', 96), 54);
  assert.equal(quantRowBytes('Q4_K', 512), 288);
  assert.equal(quantRowBytes('Q6_K', 768), 630);
});

// ---------------------------------------------------------------- quantisation

/** A fixed input without transcendental functions (so it is the same everywhere): normal-ish values in eight kinds
 * of 256-value stretch (plain, offset and tiny, all positive, all negative, on a grid, outliers, denormal-small, zero). */
function goldenInput(n: number): Float32Array {
  let s = 0x12345678;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const g = (next() + next() + next() + next() - 2) * 1.7320508;
    switch ((i >> 8) % 8) {
      case 0: x[i] = g; break;
      case 1: x[i] = g * 2 ** -10 + 0.25; break;
      case 2: x[i] = Math.abs(g); break;
      case 3: x[i] = -Math.abs(g) * 2 ** -4; break;
      case 4: x[i] = Math.round(g * 4) / 4; break;
      case 5: x[i] = next() < 0.05 ? g * 16 : g * 2 ** -7; break;
      case 6: x[i] = g * 2 ** -20; break;
      default: x[i] = 0;
    }
  }
  return x;
}

test("quantize gives ggml's reference bytes (quantize_row_*_ref, float32 without fused multiply-add), pinned by SHA-256", () => {
  // Digests of the output of ggml-quants.c's reference quantisers (compiled with -ffp-contract=off) on goldenInput(8192).
  const expected: Record<QuantType, string> = {
    Q8_0: '60f87fd57177dc158e1bc057744d1f795dc2779bf50099158736eacc469ab312',
    Q4_0: '65940b832d045efe515f879764086103374bcf46fcd973c501b66a9093b4e74d',
    Q4_K: '0fde81c6fce1931380cd51a88a5857fed027044cce2d126404a79999caa32ba3',
    Q6_K: 'ae398209c725f99bda7027d8f2023f7f38bb7164f7c552cdf2f568be111f1c1d',
  };
  const x = goldenInput(8192);
  for (const type of TYPES) {
    const bytes = quantize(type, x, 1024);
    assert.equal(bytes.length, 8 * quantRowBytes(type, 1024));
    assert.equal(createHash('sha256').update(bytes).digest('hex'), expected[type], type);
    // Rows are independent: quantising row by row gives the same bytes.
    const rowBytes = quantRowBytes(type, 1024);
    assert.deepEqual(quantize(type, x.subarray(3072, 4096), 1024), bytes.subarray(3 * rowBytes, 4 * rowBytes));
  }
});

test('round trip on normal data: Q8_0 error ≤ d/2 (+ the f16 rounding of d), Q4_0 ≤ |d|; RMS Q8_0 < 0.6% < Q6_K < 2% < Q4_K < 7.5% < Q4_0 < 9%', () => {
  const r = new Rng(3);
  const n = 256 * 512;
  const x = Float32Array.from({ length: n }, () => r.normal());
  const rms: Record<string, number> = {};
  for (const type of TYPES) {
    const bytes = quantize(type, x, 1024);
    const y = dequantize(type, bytes, n);
    let se = 0, sx = 0;
    for (let i = 0; i < n; i++) {
      se += (y[i] - x[i]) ** 2;
      sx += x[i] ** 2;
    }
    rms[type] = Math.sqrt(se / sx);
    if (type === 'Q8_0' || type === 'Q4_0') {
      const blockBytes = QUANT_TYPES[type].bytes;
      for (let b = 0; b < n / 32; b++) {
        const d16 = half(bytes[b * blockBytes], bytes[b * blockBytes + 1]);
        let amax = 0, maxErr = 0;
        for (let j = 0; j < 32; j++) {
          amax = Math.max(amax, Math.abs(x[b * 32 + j]));
          maxErr = Math.max(maxErr, Math.abs(y[b * 32 + j] - x[b * 32 + j]));
        }
        if (type === 'Q8_0') {
          // Rounding to the nearest step of d = amax/127 costs ≤ d/2; storing d as f16 moves each of the ≤ 127 steps.
          const d32 = Math.fround(amax / 127);
          assert.ok(maxErr <= 0.5 * d32 + 127 * Math.abs(d16 - d32) + 1e-6 * d32, `Q8_0 block ${b}: error ${maxErr}, d ${d32}`);
        } else {
          // d = max/−8: the far end (+8) is clamped to level 15, one full step short.
          assert.ok(maxErr <= 1.01 * Math.abs(d16), `Q4_0 block ${b}: error ${maxErr}, d ${d16}`);
        }
      }
    }
  }
  assert.ok(rms.Q8_0 < 0.006, `Q8_0 ${rms.Q8_0}`);
  assert.ok(rms.Q6_K < 0.02, `Q6_K ${rms.Q6_K}`);
  assert.ok(rms.Q4_K < 0.075, `Q4_K ${rms.Q4_K}`);
  assert.ok(rms.Q4_0 < 0.09, `Q4_0 ${rms.Q4_0}`);
  assert.ok(rms.Q8_0 < rms.Q6_K && rms.Q6_K < rms.Q4_K && rms.Q4_K < rms.Q4_0, JSON.stringify(rms));
  // All-zero rows stay exactly zero in every type.
  for (const type of TYPES) assert.ok(dequantize(type, quantize(type, new Float32Array(512), 256), 512).every((v) => v === 0), type);
});

test('errors: byte counts that do not match, rows that do not split into blocks, wrong data types for the writer', () => {
  throwsWhet(() => dequantize('Q4_K', new Uint8Array(143), 256), /Q4_K: 256 values take 144 bytes, got 143/);
  throwsWhet(() => dequantize('Q6_K', new Uint8Array(420), 256), /Q6_K: 256 values take 210 bytes, got 420/);
  throwsWhet(() => dequantize('Q8_0', new Uint8Array(34), 33), /33 values are not a whole number of 32-value blocks/);
  throwsWhet(() => quantize('Q4_K', new Float32Array(300), 300), /Q4_K: row length 300 is not a multiple of the block size 256/);
  throwsWhet(() => quantize('Q4_0', new Float32Array(0), 0), /row length 0 is not a multiple/);
  throwsWhet(() => quantize('Q8_0', new Float32Array(100), 64), /Q8_0: 100 values are not a whole number of rows of 64/);
  throwsWhet(() => quantRowBytes('Q6_K', 128), /Q6_K: row length 128 is not a multiple of the block size 256/);
  const bad = new Float32Array(512);
  bad[300] = NaN;
  throwsWhet(() => quantize('Q4_K', bad, 256), /Q4_K: value 300 \(row 1\) is NaN, which cannot be quantised/);

  const t = (o: Partial<GgufWriteTensor>): GgufWriteTensor[] => [{ name: 'w', shape: [2, 256], type: 'Q4_K', data: new Uint8Array(288), ...o }];
  writeGguf(fresh(), { metadata: {}, tensors: t({}) });
  throwsWhet(() => writeGguf(fresh(), { metadata: {}, tensors: t({ data: new Uint8Array(287) }) }), /'w': shape \[2,256\] in Q4_K takes 288 bytes but data has 287/);
  throwsWhet(() => writeGguf(fresh(), { metadata: {}, tensors: t({ shape: [4, 128] }) }), /'w': Q4_K: row length 128 is not a multiple of the block size 256/);
  throwsWhet(() => writeGguf(fresh(), { metadata: {}, tensors: t({ type: 'Q8_0', data: new Float32Array(512) }) }), /'w': Q8_0 data must be a Uint8Array/);
});

// ---------------------------------------------------------------- whet convert --dtype

/** Values of every tensor of a GGUF, decoded to f32. */
function allValues(g: GgufFile): Map<string, Float32Array> {
  return new Map(g.tensors.map((t) => [t.name, readGgufTensor(g, t) as Float32Array]));
}

function relRms(a: Float32Array, b: Float32Array): number {
  let se = 0, sx = 0;
  for (let i = 0; i < a.length; i++) {
    se += (a[i] - b[i]) ** 2;
    sx += a[i] ** 2;
  }
  return Math.sqrt(se / sx);
}

test('whet convert --dtype q4_k_m picks Q6_K for output (or the tied embedding), attn_v and ffn_down; f16/bf16 keep 1-D tensors f32', () => {
  const r = new Rng(11);
  const mat = (name: string, rows: number, cols: number): GgufWriteTensor => ({ name, shape: [rows, cols], type: 'F32', data: Float32Array.from({ length: rows * cols }, () => r.normal() * 0.1) });
  const layer = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up'].map((n) => mat(`blk.0.${n}.weight`, 4, 256));
  const base = [mat('token_embd.weight', 8, 256), ...layer, mat('blk.0.ffn_down.weight', 4, 512), mat('blk.0.odd.weight', 4, 100),
    { name: 'blk.0.attn_norm.weight', shape: [256], type: 'F32' as const, data: new Float32Array(256).fill(1) }];
  const metadata = { 'general.architecture': 'llama', 'general.name': 'tiny' };

  const tied = fresh();
  writeGguf(tied, { metadata, tensors: base });
  const out = fresh();
  const res = convert(tied, out, { dtype: 'q4_k_m' });
  assert.equal(res.direction, 'gguf→gguf');
  assert.deepEqual(res.keptF32, [{ name: 'blk.0.odd.weight', reason: 'row length 100 is not a multiple of the Q4_K block (256)' }]);
  const g = readGguf(out);
  const types = Object.fromEntries(g.tensors.map((t) => [t.name, t.type]));
  assert.deepEqual(types, {
    'token_embd.weight': 'Q6_K', 'blk.0.attn_q.weight': 'Q4_K', 'blk.0.attn_k.weight': 'Q4_K', 'blk.0.attn_v.weight': 'Q6_K',
    'blk.0.attn_output.weight': 'Q4_K', 'blk.0.ffn_gate.weight': 'Q4_K', 'blk.0.ffn_up.weight': 'Q4_K', 'blk.0.ffn_down.weight': 'Q6_K',
    'blk.0.odd.weight': 'F32', 'blk.0.attn_norm.weight': 'F32',
  });
  assert.deepEqual(res.types, { Q6_K: 3, Q4_K: 5, F32: 2 });
  assert.equal(g.metadata['general.file_type'], 15);
  assert.equal(g.types['general.file_type'], 'u32');
  assert.equal(g.metadata['general.quantization_version'], 2);
  assert.equal(g.metadata['general.name'], 'tiny');
  // Each quantised tensor holds exactly quantize() of its f32 values.
  for (const t of g.tensors) {
    const src = base.find((b) => b.name === t.name)!;
    if (isQuantType(t.type)) assert.deepEqual(readGgufTensorBytes(g, t), quantize(t.type, src.data as Float32Array, src.shape[1]), t.name);
    else assert.deepEqual(readGgufTensor(g, t), src.data, t.name);
  }

  // With an output.weight, it takes Q6_K and the embedding Q4_K.
  const untied = fresh();
  writeGguf(untied, { metadata, tensors: [...base, mat('output.weight', 8, 256)] });
  const out2 = fresh();
  convert(untied, out2, { dtype: 'q4_k_m' });
  const g2 = readGguf(out2);
  assert.equal(g2.tensors.find((t) => t.name === 'output.weight')!.type, 'Q6_K');
  assert.equal(g2.tensors.find((t) => t.name === 'token_embd.weight')!.type, 'Q4_K');

  for (const [dtype, type, fileType] of [['f16', 'F16', 1], ['bf16', 'BF16', 32], ['q6_k', 'Q6_K', 18], ['q4_k', 'Q4_K', 14]] as const) {
    const o = fresh();
    convert(tied, o, { dtype });
    const h = readGguf(o);
    assert.equal(h.metadata['general.file_type'], fileType, dtype);
    assert.equal(h.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!.type, type, dtype);
    assert.equal(h.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')!.type, 'F32', dtype);
    assert.equal(h.metadata['general.quantization_version'], isQuantType(type) ? 2 : undefined, dtype);
  }
});

test('whet convert stories260K --dtype q8_0 / q4_0: matrices quantised (ffn_down rows of 172 kept F32), close to the original', { skip: sharedSkip }, () => {
  const src = readGguf(STORIES_GGUF);
  const original = allValues(src);
  const limits = { q8_0: 0.007, q4_0: 0.1 } as const;
  const outs: Record<string, string> = {};
  for (const dtype of ['q8_0', 'q4_0'] as const) {
    const type = dtype.toUpperCase() as QuantType;
    const out = (outs[dtype] = fresh());
    const res = convert(STORIES_GGUF, out, { dtype });
    assert.equal(res.keptF32.length, 5);
    for (const k of res.keptF32) {
      assert.match(k.name, /^blk\.\d\.ffn_down\.weight$/);
      assert.equal(k.reason, `row length 172 is not a multiple of the ${type} block (32)`);
    }
    const g = readGguf(out);
    assert.equal(g.metadata['general.file_type'], dtype === 'q8_0' ? 7 : 2);
    assert.equal(g.metadata['general.quantization_version'], 2);
    assert.deepEqual(g.metadata['tokenizer.ggml.tokens'], src.metadata['tokenizer.ggml.tokens']);
    assert.equal(g.metadata['llama.embedding_length'], src.metadata['llama.embedding_length']);
    assert.deepEqual(g.tensors.map((t) => t.name), src.tensors.map((t) => t.name));
    for (const t of g.tensors) {
      const x = original.get(t.name)!;
      // under Q4_0 the output head takes Q6_K as in llama.cpp's quantize, which for rows of 64 falls back to Q8_0
      const head = t.name === 'output.weight' && dtype === 'q4_0' ? 'Q8_0' : type;
      const expectedType = t.shape.length === 1 || t.name.includes('ffn_down') ? 'F32' : head;
      assert.equal(t.type, expectedType, t.name);
      const y = readGgufTensor(g, t) as Float32Array;
      if (expectedType === 'F32') {
        assert.deepEqual(y, x, t.name);
      } else {
        assert.deepEqual(readGgufTensorBytes(g, t), quantize(expectedType as QuantType, x, t.shape[1]), `${t.name}: quantize() of the f32 values`);
        assert.ok(relRms(x, y) < limits[dtype], `${t.name}: relative RMS error ${relRms(x, y)}`);
      }
    }
  }

  // GGUF → GGUF again: the same type keeps the bytes; another type re-quantises the dequantised values and says so.
  const again = fresh();
  const same = convert(outs.q8_0, again, { dtype: 'q8_0' });
  assert.deepEqual(same.requantized, []);
  const a = readGguf(outs.q8_0), b = readGguf(again);
  for (const t of b.tensors) assert.deepEqual(readGgufTensorBytes(b, t), readGgufTensorBytes(a, a.tensors.find((u) => u.name === t.name)!), t.name);
  const q4 = fresh();
  const twice = convert(outs.q8_0, q4, { dtype: 'q4_0' });
  assert.equal(twice.requantized.length, 31); // all but the output head, Q8_0 in both
  assert.match(twice.requantized[0], /\(Q8_0 → Q4_0\)$/);

  // HF → GGUF with a dtype: the q/k rows are permuted back before quantising, so the bytes equal GGUF → GGUF's.
  const hf = path.join(dir, 'stories-hf');
  convert(STORIES_GGUF, hf);
  throwsWhet(() => convert(STORIES_GGUF, path.join(dir, 'hf-q8'), { dtype: 'q8_0' }), /Hugging Face folder holds f32, f16 or bf16 weights, not q8_0/);
  const fromHf = fresh();
  assert.equal(convert(hf, fromHf, { dtype: 'q8_0' }).direction, 'hf→gguf');
  const h = readGguf(fromHf);
  assert.equal(h.metadata['general.file_type'], 7);
  for (const t of h.tensors) assert.deepEqual(readGgufTensorBytes(h, t), readGgufTensorBytes(a, a.tensors.find((u) => u.name === t.name)!), t.name);

  // A quantised GGUF → HF folder in bf16: dequantised, then rounded to bf16; config.json says so.
  const hfBf16 = path.join(dir, 'stories-q8-hf');
  const toHf = convert(outs.q8_0, hfBf16, { dtype: 'bf16' });
  assert.deepEqual(toHf.types, { BF16: 48 });
  assert.equal((JSON.parse(readFileSync(path.join(hfBf16, 'config.json'), 'utf8')) as { torch_dtype: string }).torch_dtype, 'bfloat16');
  const q8Embedding = readGgufTensor(a, a.tensors.find((t) => t.name === 'token_embd.weight')!) as Float32Array;
  const hfEmbedding = readSafetensorsFolder(hfBf16).tensors.get('model.embed_tokens.weight')!;
  assert.equal(hfEmbedding.dtype, 'BF16');
  assert.deepEqual(hfEmbedding.data, Uint16Array.from(q8Embedding, (v) => f32ToBf16(v)));

  // K-quants need rows of 256: none of this model's do, so as llama.cpp does they fall back to 32-value blocks
  // (Q4_K → Q4_0, Q6_K → Q8_0), and only the rows of 172 (ffn_down), which fit no block, stay F32.
  const k = fresh();
  const rk = convert(STORIES_GGUF, k, { dtype: 'q4_k_m' });
  assert.deepEqual(rk.keptF32.map((t) => t.name).sort(), Array.from({ length: 5 }, (_, i) => `blk.${i}.ffn_down.weight`).sort());
  const kTypes = new Map(readGguf(k).tensors.map((t) => [t.name, t.type]));
  assert.equal(kTypes.get('blk.0.attn_q.weight'), 'Q4_0');
  assert.equal(kTypes.get('blk.0.attn_v.weight'), 'Q8_0');
  assert.ok(![...kTypes.values()].some((t) => t === 'Q4_K' || t === 'Q6_K'));
});

test('whet convert --dtype on the command line reports the matrices kept in F32', { skip: sharedSkip }, () => {
  const out = fresh();
  const r = spawnSync(process.execPath, ['bin/whet.js', 'convert', STORIES_GGUF, out, '--dtype', 'q4_0'], { encoding: 'utf8', env: { ...process.env, WHET_NO_PROGRESS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /kept 5 matrices in F32: row length 172 is not a multiple of the Q4_0 block \(32\): blk\.0\.ffn_down\.weight/);
  assert.match(r.stderr, /converted 48 tensors \(gguf→gguf: 31 Q4_0, 16 F32, 1 Q8_0\)/);
  assert.equal(readGguf(out).tensors.filter((t) => t.type === 'Q4_0').length, 31);
  const bad = spawnSync(process.execPath, ['bin/whet.js', 'convert', STORIES_GGUF, fresh(), '--dtype', 'q5_k'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--dtype must be one of f32, f16, bf16, q8_0, q4_0, q4_k, q6_k, q4_k_m/);
  // --calibration: GPTQ over activations of that text, which changes the Q4_0 bytes (and only applies to q4_0).
  const calibration = fresh('.txt');
  writeFileSync(calibration, 'Once upon a time there was a little girl named Lily. She liked to play in the park with her dog.\n'.repeat(40));
  const weighted = fresh();
  const c = spawnSync(process.execPath, ['bin/whet.js', 'convert', STORIES_GGUF, weighted, '--dtype', 'q4_0', '--calibration', calibration], { encoding: 'utf8', env: { ...process.env, WHET_NO_PROGRESS: '1' } });
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stderr, /calibration: 35 matrices over \d+ tokens of .* \(Q4_0 by GPTQ\)/);
  const q = (file: string) => readGgufTensorBytes(readGguf(file), readGguf(file).tensors.find((t) => t.name === 'blk.0.attn_q.weight')!);
  assert.notDeepEqual(q(weighted), q(out));
  const wrong = spawnSync(process.execPath, ['bin/whet.js', 'convert', STORIES_GGUF, fresh(), '--dtype', 'q8_0', '--calibration', calibration], { encoding: 'utf8' });
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /--calibration drives GPTQ for q4_0: use it with --dtype q4_0/);
});
