// Element types: f32 (compute), f64 (reference backend only: gradient checks), bf16 (frozen-weight storage).
export type DType = 'f32' | 'f64' | 'bf16';

export type ArrayFor<D extends DType> = D extends 'f64' ? Float64Array : D extends 'bf16' ? Uint16Array : Float32Array;
export type AnyArray = Float32Array | Float64Array | Uint16Array;

export function bytesPerElement(dtype: DType): number {
  return dtype === 'f64' ? 8 : dtype === 'f32' ? 4 : 2;
}

export function newArray(dtype: DType, n: number): AnyArray {
  return dtype === 'f64' ? new Float64Array(n) : dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n);
}
