// Checks f16 ↔ f32 conversion (special values, subnormals, ties to even) and Q8_0 dequantisation of hand-built blocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeF16, encodeF16, f16ToF32, f32ToF16 } from '../src/formats/f16.ts';
import { dequantizeF16, dequantizeQ8_0 } from '../src/formats/gguf-quant.ts';

test('f16 special values decode exactly', () => {
  const cases: [number, number][] = [
    [0x0000, 0], [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x7bff, 65504],
    [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x0400, 2 ** -14], [0x8001, -(2 ** -24)],
    [0x7c00, Infinity], [0xfc00, -Infinity],
  ];
  for (const [bits, value] of cases) assert.equal(f16ToF32(bits), value, `0x${bits.toString(16)}`);
  assert.ok(Object.is(f16ToF32(0x8000), -0));
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  assert.ok(Number.isNaN(f16ToF32(0xfc01)));
});

test('every non-NaN f16 survives f16 → f32 → f16, and decodeF16 agrees with f16ToF32', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const decoded = decodeF16(all);
  const back = encodeF16(decoded);
  for (let h = 0; h < 65536; h++) {
    const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (isNaN) {
      assert.ok(Number.isNaN(decoded[h]));
      assert.equal(back[h] & 0x7e00, 0x7e00, `NaN 0x${h.toString(16)} stays a (quiet) NaN`);
      continue;
    }
    assert.equal(back[h], h, `0x${h.toString(16)}`);
    assert.ok(Object.is(decoded[h], f16ToF32(h)));
  }
});

test('f32 → f16 rounds to nearest, ties to even, overflows to Inf and underflows through subnormals', () => {
  const cases: [number, number][] = [
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1+2^-10: even is 1
    [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1+2^-10 and 1+2^-9: even is the larger
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above halfway
    [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-1e6, 0xfc00],
    [2 ** -25, 0x0000], // half the smallest subnormal: ties to even zero
    [3 * 2 ** -26, 0x0001], // above half rounds up
    [1.5 * 2 ** -24, 0x0002], // subnormal tie: 1 and 2 units, even is 2
    [2.5 * 2 ** -24, 0x0002],
    [2 ** -14 - 2 ** -25, 0x0400], // rounds up from the largest subnormal into the smallest normal
    [1e-10, 0x0000], [-1e-10, 0x8000], [0.1, 0x2e66], [-0.1, 0xae66],
    [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ];
  for (const [x, bits] of cases) assert.equal(f32ToF16(x), bits, `${x}`);
  assert.equal(f32ToF16(-0), 0x8000);
  assert.equal(f32ToF16(NaN) & 0x7e00, 0x7e00);
});

test('dequantizeF16 reads little-endian bytes', () => {
  assert.deepEqual([...dequantizeF16(Uint8Array.from([0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b]))], [1, -2, 65504]);
});

test('Q8_0: value = f16 scale × int8, block by block', () => {
  // Block 0: d = 0.5 (0x3800), q = -128..-97; block 1: d = -0.25 (0xb400), q = 0..31 with q[5] = 127.
  const bytes = new Uint8Array(68);
  bytes.set([0x00, 0x38], 0);
  for (let j = 0; j < 32; j++) bytes[2 + j] = (-128 + j) & 0xff;
  bytes.set([0x00, 0xb4], 34);
  for (let j = 0; j < 32; j++) bytes[36 + j] = j;
  bytes[36 + 5] = 127;
  const out = dequantizeQ8_0(bytes);
  assert.equal(out.length, 64);
  for (let j = 0; j < 32; j++) assert.equal(out[j], 0.5 * (-128 + j));
  for (let j = 0; j < 32; j++) assert.equal(out[32 + j], -0.25 * (j === 5 ? 127 : j));
  // A subnormal scale is applied exactly too.
  const tiny = new Uint8Array(34);
  tiny.set([0x01, 0x00, 3], 0);
  assert.equal(dequantizeQ8_0(tiny)[0], 3 * 2 ** -24);
});
