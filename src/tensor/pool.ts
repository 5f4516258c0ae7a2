// The tensor allocator: recycles typed arrays through size classes so a training step's memory stays flat
// even when shapes change from step to step (variable sequence lengths), with idle memory bounded by the
// working set and live/pooled/peak figures for each phase.
import { bytesPerElement, newArray, type AnyArray, type DType, type QuantDType } from './dtype.ts';

/** The dtypes the pool holds: quantised storage is made by quantising, never pooled. */
type PoolDType = Exclude<DType, QuantDType>;

// Sixteen classes per doubling: a fresh buffer is at most 1/16 larger than asked (≈3% on average). A request
// takes the smallest idle buffer up to a doubling larger (best fit). When a fresh buffer would push the pool past
// its bound, it takes one up to three doublings larger instead, so a step of shorter sequences runs in the
// buffers a longer step left behind instead of evicting and faulting in fresh pages (≈2 s per GB here); below
// the bound a fresh exact buffer is better, since a long-lived tensor in an oversized buffer wastes the rest.
const CLASSES_PER_DOUBLING = 16;
const SMALL = 1024; // up to this many elements, classes are sizes rounded up to a multiple of 64
const FIT_SPAN = CLASSES_PER_DOUBLING;
const REUSE_SPAN = 3 * CLASSES_PER_DOUBLING;

/** The smallest class size ≥ n elements, and its index. */
export function sizeClass(n: number): { index: number; size: number } {
  if (n <= SMALL) {
    const size = Math.max(64, Math.ceil(n / 64) * 64);
    return { index: size / 64 - 1, size };
  }
  const exp = Math.floor(Math.log2(n - 1));
  const step = 2 ** exp / CLASSES_PER_DOUBLING;
  const sub = Math.ceil((n - 2 ** exp) / step);
  const base = SMALL / 64 - 1 + (exp - Math.log2(SMALL)) * CLASSES_PER_DOUBLING;
  return { index: base + sub, size: 2 ** exp + sub * step };
}

interface Stats {
  /** Bytes of the buffers in use (their class sizes). */
  liveBytes: number;
  /** Bytes the tensors in use asked for. */
  requestedBytes: number;
  pooledBytes: number;
  peakLiveBytes: number;
  /** Peak of live + pooled: what the allocator held at most (its share of the resident memory). */
  peakHeldBytes: number;
  /** Bytes of fresh arrays made (each one page-faults and zero-fills). */
  allocatedBytes: number;
  /** Idle bytes dropped to keep the pool within its bound. */
  evictedBytes: number;
}

// Idle buffers per dtype and class index.
const free: Record<PoolDType, AnyArray[][]> = { f32: [], f64: [], bf16: [] };
// Idle buffers in the order they were released: eviction drops the one idle longest first.
const idle = new Set<AnyArray>();
const sizes = new WeakMap<AnyArray, number>(); // requested elements of each live buffer
const stats: Stats = { liveBytes: 0, requestedBytes: 0, pooledBytes: 0, peakLiveBytes: 0, peakHeldBytes: 0, allocatedBytes: 0, evictedBytes: 0 };
// The working set the bound is tied to: the most bytes tensors asked for at once since the last trimPool().
let workingSet = 0;
/** Idle bytes allowed beyond the working set (small shapes come and go without churn). */
let slackBytes = 64 * 1024 ** 2;

function dtypeOf(a: AnyArray): PoolDType {
  return a instanceof Float64Array ? 'f64' : a instanceof Float32Array ? 'f32' : 'bf16';
}

function take(dtype: PoolDType, index: number): AnyArray | undefined {
  const a = free[dtype][index]?.pop();
  if (a !== undefined) {
    idle.delete(a);
    stats.pooledBytes -= a.byteLength;
  }
  return a;
}

/** What the pool may hold with a fresh buffer of `bytes`: the working set (with the class round-up) plus the slack. */
function bound(bytes: number): number {
  return Math.max(workingSet * (1 + 1 / CLASSES_PER_DOUBLING), stats.liveBytes + bytes) + slackBytes;
}

/** Drops idle buffers, longest idle first, so that a fresh buffer of `bytes` keeps the pool within its bound. */
function evictFor(bytes: number): void {
  const limit = bound(bytes);
  for (const a of idle) {
    if (stats.liveBytes + stats.pooledBytes + bytes <= limit) break;
    idle.delete(a);
    const list = free[dtypeOf(a)][sizeClass(a.length).index]!;
    list.splice(list.indexOf(a), 1);
    stats.pooledBytes -= a.byteLength;
    stats.evictedBytes += a.byteLength;
  }
}

/** The smallest idle buffer in classes [from, to]. */
function takeBetween(dtype: PoolDType, from: number, to: number): AnyArray | undefined {
  let a: AnyArray | undefined;
  for (let i = from; i <= to && a === undefined; i++) a = take(dtype, i);
  return a;
}

/**
 * A buffer of at least n elements (its first n are the tensor's); contents arbitrary unless zero is set.
 * An idle buffer up to a doubling larger is reused; else, when a fresh one would exceed the bound, an idle one
 * up to three doublings larger; else a fresh one is made.
 */
export function acquire(dtype: PoolDType, n: number, zero: boolean): AnyArray {
  const { index, size } = sizeClass(n);
  const bytes = size * bytesPerElement(dtype);
  let a = takeBetween(dtype, index, index + FIT_SPAN);
  if (a === undefined && stats.liveBytes + stats.pooledBytes + bytes > bound(bytes)) a = takeBetween(dtype, index + FIT_SPAN + 1, index + REUSE_SPAN);
  if (a === undefined) {
    evictFor(bytes);
    a = newArray(dtype, size);
    stats.allocatedBytes += bytes;
  } else if (zero) a.fill(0, 0, n);
  stats.liveBytes += a.byteLength;
  stats.requestedBytes += n * bytesPerElement(dtype);
  sizes.set(a, n);
  workingSet = Math.max(workingSet, stats.requestedBytes);
  stats.peakLiveBytes = Math.max(stats.peakLiveBytes, stats.liveBytes);
  stats.peakHeldBytes = Math.max(stats.peakHeldBytes, stats.liveBytes + stats.pooledBytes);
  return a;
}

/** Returns a buffer from acquire() to the pool. */
export function release(a: AnyArray): void {
  const dtype = dtypeOf(a);
  stats.liveBytes -= a.byteLength;
  stats.requestedBytes -= sizes.get(a)! * bytesPerElement(dtype);
  const lists = free[dtype];
  const index = sizeClass(a.length).index;
  (lists[index] ??= []).push(a);
  idle.add(a);
  stats.pooledBytes += a.byteLength;
}

/** Takes a buffer from acquire() out of the pool's books for good: its owner keeps it elsewhere or lets it be collected. */
export function discard(a: AnyArray): void {
  stats.liveBytes -= a.byteLength;
  stats.requestedBytes -= sizes.get(a)! * bytesPerElement(dtypeOf(a));
  sizes.delete(a);
}

export function poolStats(): Stats {
  return { ...stats };
}

/** Starts a new phase: peaks restart from the current figures. */
export function resetPoolPeaks(): void {
  stats.peakLiveBytes = stats.liveBytes;
  stats.peakHeldBytes = stats.liveBytes + stats.pooledBytes;
}

/** Drops every idle buffer and forgets the working set (and sets the idle slack, if given). */
export function trimPool(slack?: number): void {
  for (const a of idle) stats.evictedBytes += a.byteLength;
  for (const lists of Object.values(free)) lists.length = 0;
  idle.clear();
  stats.pooledBytes = 0;
  workingSet = stats.requestedBytes;
  if (slack !== undefined) slackBytes = slack;
}
