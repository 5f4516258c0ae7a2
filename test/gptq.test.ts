// GPTQ into Q4_0 blocks: valid Q4_0 bytes, and a smaller error on the layer's output than round-to-nearest when
// the calibration inputs are correlated (the case GPTQ exists for).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/tensor/random.ts';
import { dequantize, quantize } from '../src/formats/gguf-quant.ts';
import { gptqQ4_0 } from '../src/model/gptq.ts';
import { throwsWhet } from './helpers/errors.ts';

const rows = 24;
const cols = 96;
const samples = 3000;

/** Inputs (samples, cols) driven by 6 shared factors plus a little noise: strongly correlated columns. */
function correlatedInputs(rng: Rng): Float64Array {
  const mix = Float64Array.from({ length: 6 * cols }, () => rng.normal());
  const x = new Float64Array(samples * cols);
  for (let s = 0; s < samples; s++) {
    const z = Array.from({ length: 6 }, () => rng.normal());
    for (let j = 0; j < cols; j++) {
      let v = 0.1 * rng.normal();
      for (let f = 0; f < 6; f++) v += z[f]! * mix[f * cols + j]!;
      x[s * cols + j] = v;
    }
  }
  return x;
}

function gramOf(x: Float64Array): Float32Array {
  const g = new Float32Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let n = 0; n < samples; n++) s += x[n * cols + i]! * x[n * cols + j]!;
      g[i * cols + j] = s / samples;
    }
  }
  return g;
}

/** Σ over samples and rows of ((W − Q)·x)²: how far the layer's output moves. */
function outputError(w: Float32Array, q: Float32Array, x: Float64Array): number {
  let e = 0;
  for (let n = 0; n < samples; n++) {
    for (let r = 0; r < rows; r++) {
      let d = 0;
      for (let j = 0; j < cols; j++) d += (w[r * cols + j]! - q[r * cols + j]!) * x[n * cols + j]!;
      e += d * d;
    }
  }
  return e;
}

test('GPTQ Q4_0: valid blocks, and less output error than round-to-nearest on correlated inputs', () => {
  const rng = new Rng(5);
  const w = Float32Array.from({ length: rows * cols }, () => rng.normal() * 0.1);
  const x = correlatedInputs(rng);
  const gram = gramOf(x);
  const bytes = gptqQ4_0(w, rows, cols, gram);
  assert.equal(bytes.length, quantize('Q4_0', w, cols).length, 'the same Q4_0 layout as the reference quantiser');
  const gptq = dequantize('Q4_0', bytes, w.length);
  const rtn = dequantize('Q4_0', quantize('Q4_0', w, cols), w.length);
  const searched = dequantize('Q4_0', gptqQ4_0(w, rows, cols), w.length);
  const [eGptq, eRtn, eSearched] = [outputError(w, gptq, x), outputError(w, rtn, x), outputError(w, searched, x)];
  assert.ok(eGptq < 0.6 * eRtn, `GPTQ output error ${eGptq.toFixed(3)} vs round-to-nearest ${eRtn.toFixed(3)}`);
  assert.ok(eGptq < 0.6 * eSearched, `GPTQ output error ${eGptq.toFixed(3)} vs the scale search alone ${eSearched.toFixed(3)}`);
  // Without calibration, only the block scales are searched: the weights' own error is no worse than ggml's.
  const sq = (y: Float32Array) => y.reduce((s, v, i) => s + (v - w[i]!) ** 2, 0);
  assert.ok(sq(searched) <= sq(rtn), `scale search ${sq(searched)} vs round-to-nearest ${sq(rtn)}`);
  // GPTQ trades weight error for output error: the weights themselves move more than with round-to-nearest.
  assert.ok(sq(gptq) > sq(searched), 'GPTQ moved errors across columns');
});

test('GPTQ Q4_0 with uncorrelated inputs (H diagonal) pushes no error: the same bytes as without calibration', () => {
  const rng = new Rng(8);
  const w = Float32Array.from({ length: rows * cols }, () => rng.normal());
  const diagonal = new Float32Array(cols * cols);
  for (let j = 0; j < cols; j++) diagonal[j * cols + j] = 0.5 + rng.uniform();
  assert.deepEqual(gptqQ4_0(w, rows, cols, diagonal), gptqQ4_0(w, rows, cols));
});

test('GPTQ Q4_0 rejects rows that are not whole blocks and a calibration matrix of the wrong size', () => {
  throwsWhet(() => gptqQ4_0(new Float32Array(2 * 40), 2, 40), /not 2 rows of a multiple of 32/);
  throwsWhet(() => gptqQ4_0(new Float32Array(2 * 64), 2, 64, new Float32Array(63 * 63)), /calibration matrix of 3969 entries for rows of 64/);
  const singular = new Float32Array(64 * 64).fill(NaN);
  throwsWhet(() => gptqQ4_0(new Float32Array(2 * 64), 2, 64, singular), /not positive definite/);
});
