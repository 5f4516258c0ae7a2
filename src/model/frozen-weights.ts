// Frozen base weights: matrices kept in bf16 or in GGUF's quantised blocks, placed back to back on huge pages in the
// order a forward reads them. Decode streams every matrix once per token: one address range keeps the prefetchers
// and the TLB ahead of it (measured: 211 matrix-vector calls 9.0 → 5.5 ms per token).
import { loadAddon } from '../backend/addon.ts';
import { getBackend } from '../backend/registry.ts';
import { quantize, quantTypeForRows, type QuantType } from '../formats/gguf-quant.ts';
import { isQuantDType, type QuantDType } from '../tensor/dtype.ts';
import { keep, Tensor } from '../tensor/tensor.ts';

export type FrozenDType = 'bf16' | QuantDType;

/**
 * A kept, frozen copy of a matrix (rows, cols) given as f32 values or bf16 bits: quantised to `dtype` when its rows
 * split into whole blocks, else to llama.cpp's fallback for such rows (quantTypeForRows), else bf16.
 */
export function freezeMatrix(values: Float32Array | Uint16Array, shape: readonly number[], dtype: FrozenDType): Tensor {
  const backend = getBackend();
  const cols = shape[shape.length - 1]!;
  const type = isQuantDType(dtype) ? quantTypeForRows(dtype.toUpperCase() as QuantType, cols) : undefined;
  if (type !== undefined) {
    let f32 = values;
    if (f32 instanceof Uint16Array) {
      f32 = new Float32Array(values.length);
      backend.castFromBf16(values as Uint16Array, f32, values.length);
    }
    return keep(Tensor.fromQuantized(quantize(type, f32, cols), shape, type.toLowerCase() as QuantDType));
  }
  if (values instanceof Uint16Array) return keep(Tensor.fromArray(values, shape));
  const t = Tensor.empty(shape, 'bf16');
  backend.castToBf16(values, t.data as Uint16Array, t.size);
  return keep(t);
}

const ALIGN = 64; // each matrix starts on a cache line
const CHUNK = 64 << 20; // bytes of each buffer; a larger matrix gets one of its own

/**
 * Buffers that frozen matrices move into as they are made, each after the one before: chunks advised for 2 MiB
 * pages before they are written, so the weights are never held twice and siblings (q/k/v) end up adjacent.
 */
export class FrozenArena {
  private chunk: ArrayBuffer | null = null;
  private used = 0;

  /** Moves t into the arena when it is a frozen matrix (bf16 or quantised); returns it. */
  place(t: Tensor): Tensor {
    if (t.requiresGrad || t.rank !== 2 || t.dtype === 'f32' || t.dtype === 'f64') return t;
    const data = t.data;
    const need = Math.ceil(data.byteLength / ALIGN) * ALIGN;
    if (this.chunk === null || this.used + need > this.chunk.byteLength) {
      this.chunk = new ArrayBuffer(Math.max(CHUNK, need));
      loadAddon()?.adviseHugePages(new Uint8Array(this.chunk));
      this.used = 0;
    }
    t.relocate(data instanceof Uint16Array ? new Uint16Array(this.chunk, this.used, data.length) : new Uint8Array(this.chunk, this.used, data.length));
    this.used += need;
    return t;
  }
}
