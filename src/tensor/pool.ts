// Recycles typed arrays by (dtype, length) so a training step's memory stays flat: disposed tensors
// return their buffers here and the next step reuses them, with no wait on the garbage collector.
import { bytesPerElement, newArray, type AnyArray, type DType } from './dtype.ts';

const free = new Map<string, AnyArray[]>();
let pooledBytes = 0;
let liveBytes = 0;
/** Buffers beyond this many idle bytes are dropped (left to the GC) instead of kept. */
let maxPooledBytes = 4 * 1024 ** 3;

function keyOf(dtype: DType, n: number): string {
  return `${dtype}:${n}`;
}

function dtypeOf(a: AnyArray): DType {
  return a instanceof Float64Array ? 'f64' : a instanceof Float32Array ? 'f32' : 'bf16';
}

/** A buffer of n elements; its contents are arbitrary unless zero is set. */
export function acquire(dtype: DType, n: number, zero: boolean): AnyArray {
  const list = free.get(keyOf(dtype, n));
  const bytes = n * bytesPerElement(dtype);
  liveBytes += bytes;
  const reused = list?.pop();
  if (reused === undefined) return newArray(dtype, n);
  pooledBytes -= bytes;
  if (zero) reused.fill(0);
  return reused;
}

export function release(a: AnyArray): void {
  const bytes = a.byteLength;
  liveBytes -= bytes;
  if (pooledBytes + bytes > maxPooledBytes || a.length !== a.buffer.byteLength / a.BYTES_PER_ELEMENT) return;
  const key = keyOf(dtypeOf(a), a.length);
  const list = free.get(key);
  if (list === undefined) free.set(key, [a]);
  else list.push(a);
  pooledBytes += bytes;
}

export function poolStats(): { liveBytes: number; pooledBytes: number } {
  return { liveBytes, pooledBytes };
}

/** Drops every idle buffer (and sets the cap on idle bytes, if given). */
export function trimPool(maxBytes?: number): void {
  free.clear();
  pooledBytes = 0;
  if (maxBytes !== undefined) maxPooledBytes = maxBytes;
}
