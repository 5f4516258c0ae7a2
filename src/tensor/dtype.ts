// Element types: f32 (compute), f64 (reference backend only: gradient checks), bf16 (frozen-weight storage), and
// GGUF's quantised blocks (frozen weights kept as the file stores them: bytes of whole blocks, row by row).
export type QuantDType = 'q8_0' | 'q4_0' | 'q4_k' | 'q6_k';
export type DType = 'f32' | 'f64' | 'bf16' | QuantDType;

export type ArrayFor<D extends DType> = D extends 'f64' ? Float64Array : D extends 'bf16' ? Uint16Array : D extends QuantDType ? Uint8Array : Float32Array;
export type AnyArray = Float32Array | Float64Array | Uint16Array | Uint8Array;

/** Elements per block and bytes per block of each quantised type (ggml-common.h). */
export const QUANT_BLOCKS: Record<QuantDType, { block: number; bytes: number }> = {
  q8_0: { block: 32, bytes: 34 },
  q4_0: { block: 32, bytes: 18 },
  q4_k: { block: 256, bytes: 144 },
  q6_k: { block: 256, bytes: 210 },
};

export function isQuantDType(d: string): d is QuantDType {
  return Object.hasOwn(QUANT_BLOCKS, d);
}

/** Bytes per element; a fraction for quantised types (Q8_0: 34/32). */
export function bytesPerElement(dtype: DType): number {
  if (dtype === 'f32') return 4; // the allocator asks on every acquire and release: the common types first
  if (dtype === 'bf16') return 2;
  if (dtype === 'f64') return 8;
  return QUANT_BLOCKS[dtype].bytes / QUANT_BLOCKS[dtype].block;
}

export function newArray(dtype: DType, n: number): AnyArray {
  if (isQuantDType(dtype)) throw new Error(`${dtype} storage is made by quantising, not allocated empty`);
  return dtype === 'f64' ? new Float64Array(n) : dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n);
}
