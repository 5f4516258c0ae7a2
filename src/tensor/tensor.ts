// Tensor: a shape over a pooled typed array, with autograd links and deterministic disposal (scopes).
import type { Backend, FloatArray } from '../backend/backend.ts';
import { getBackend, referenceBackend } from '../backend/registry.ts';
import { isQuantDType, QUANT_BLOCKS, type AnyArray, type DType, type QuantDType } from './dtype.ts';
import { acquire, discard, release } from './pool.ts';
import { isGradEnabled } from './grad-mode.ts';

/** How an op's output was made: its inputs and the rule that maps the output's gradient to theirs. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for each input (null where an input needs none). Must not dispose gout. */
  backward(gout: Tensor): (Tensor | null)[];
}

interface Storage {
  /** null while dropped for recomputation. */
  data: AnyArray | null;
  refs: number;
  /** Whether the array goes back to the pool when the last view is disposed. */
  pooled: boolean;
  /** Rebuilds the contents of a dropped array (set by ops whose output is cheap to recompute). */
  recompute?: { fill: (out: AnyArray) => void; length: number; dtype: 'f32' | 'bf16' | 'f64'; dropped: boolean };
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

// ---- scopes: every tensor made inside tidy() is disposed at its end unless returned or kept ----
const scopes: Set<Tensor>[] = [];

function track(t: Tensor): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Runs fn and disposes every tensor it created, except those in its result and those kept. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  for (const t of scope) {
    if (survivors.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

function collectTensors(value: unknown, out: Set<Tensor>): void {
  if (value instanceof Tensor) out.add(value);
  else if (Array.isArray(value)) for (const v of value) collectTensors(v, out);
  else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) collectTensors(v, out);
}

/** Takes t out of every scope: it lives until disposed explicitly (parameters, gradients, state). */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

// ---- selective recomputation: cheap activations leave memory after their block and return when backward reads them ----
const recomputeSinks: Tensor[][] = [];
let savedDtype: 'f32' | 'bf16' = 'f32';

/** The storage chosen for activations that ops may keep in bf16 for backward (storeAsBf16), inside withSavedActivations. */
export function savedActivationDtype(): 'f32' | 'bf16' {
  return savedDtype;
}

/**
 * Runs fn (a forward) with activations that allow it kept in bf16 for backward (SwiGLU's gate and up): half their
 * memory, at bf16 precision in the gradient they feed, as mixed-precision training stores them. f32 keeps them exact.
 */
export function withSavedActivations<T>(dtype: 'f32' | 'bf16', fn: () => T): T {
  const prev = savedDtype;
  savedDtype = dtype;
  try {
    return fn();
  } finally {
    savedDtype = prev;
  }
}

/**
 * Runs fn (one block of a forward), then drops the contents of every recomputable tensor it made (norm outputs,
 * SwiGLU products): reading one again, in backward, recomputes it from the op's inputs, and backward drops it
 * again once its producer's gradient is done. Correct whatever reads them; cheap when only backward does.
 */
export function dropRecomputable<T>(fn: () => T): T {
  const sink: Tensor[] = [];
  recomputeSinks.push(sink);
  try {
    return fn();
  } finally {
    recomputeSinks.pop();
    for (const t of sink) t.dropForRecompute();
  }
}

let liveTensors = 0;
/** Number of tensors created and not yet disposed (for leak tests). */
export function liveTensorCount(): number {
  return liveTensors;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** Element offset into the storage array (views along the first axis). */
  readonly offset: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  node: GradNode | null = null;
  private storage: Storage | null;

  private constructor(storage: Storage, shape: readonly number[], dtype: DType, offset: number) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this.offset = offset;
    liveTensors++;
    track(this);
  }

  /** A new tensor with fresh (pooled) storage; contents arbitrary unless zero. */
  static empty(shape: readonly number[], dtype: DType = 'f32', zero = false): Tensor {
    for (const d of shape) if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape [${shape.join(', ')}]`);
    if (dtype !== 'f32' && dtype !== 'bf16' && dtype !== 'f64') throw new Error(`Tensor.empty: ${dtype} tensors are made from quantised bytes (Tensor.fromQuantized)`);
    return new Tensor({ data: acquire(dtype, sizeOf(shape), zero), refs: 1, pooled: true }, shape, dtype, 0);
  }

  /** Wraps the blocks of a quantised matrix (rows, cols): each row is cols / block whole blocks, as GGUF stores it. Frozen. */
  static fromQuantized(bytes: Uint8Array, shape: readonly number[], dtype: QuantDType): Tensor {
    const cols = shape[shape.length - 1] ?? 0;
    const { block, bytes: blockBytes } = QUANT_BLOCKS[dtype];
    if (shape.length < 1 || cols % block !== 0) throw new Error(`a ${dtype} tensor needs rows whose length is a multiple of ${block}, got shape [${shape.join(', ')}]`);
    const want = (sizeOf(shape) / block) * blockBytes;
    if (bytes.length !== want) throw new Error(`${bytes.length} bytes do not hold a ${dtype} tensor of shape [${shape.join(', ')}] (${want} bytes)`);
    return new Tensor({ data: bytes, refs: 1, pooled: false }, shape, dtype, 0);
  }

  /** Whether the storage is quantised blocks (a frozen weight that only matmul and embedding read). */
  get quantized(): boolean {
    return isQuantDType(this.dtype);
  }

  /**
   * Moves the contents into `into` (same type and length as the storage) and lets the old array go: frozen weights
   * gathered into one contiguous buffer. Only for a whole, unviewed tensor.
   */
  relocate(into: AnyArray): void {
    const st = this.live();
    if (st.refs !== 1 || this.offset !== 0) throw new Error('relocate: the tensor has views');
    const own = this.data; // its elements (a pooled array may be longer), or its blocks
    if (into.constructor !== own.constructor || into.length !== own.length) throw new Error('relocate: the new array differs in type or length');
    into.set(own as never);
    if (st.pooled) discard(st.data); // not back to the pool: nothing else of this size and lifetime will ask for it
    st.data = into;
    st.pooled = false;
  }

  /** Wraps an existing array (not pooled: it is never handed to another tensor). */
  static fromArray(data: AnyArray, shape: readonly number[]): Tensor {
    if (data instanceof Uint8Array) throw new Error('Tensor.fromArray: bytes of quantised blocks go through Tensor.fromQuantized');
    const dtype: DType = data instanceof Float64Array ? 'f64' : data instanceof Float32Array ? 'f32' : 'bf16';
    if (sizeOf(shape) !== data.length) throw new Error(`array of ${data.length} elements does not fit shape [${shape.join(', ')}]`);
    return new Tensor({ data, refs: 1, pooled: false }, shape, dtype, 0);
  }

  /** A view sharing storage (reshape, or a slice of the first axis). */
  view(shape: readonly number[], offset = this.offset): Tensor {
    const st = this.live();
    st.refs++;
    return new Tensor(st, shape, this.dtype, offset);
  }

  /** A view whose contents the caller overwrites (in-place ops): the storage stops being recomputable from its op. */
  overwriteView(): Tensor {
    this.live().recompute = undefined;
    return this.view(this.shape);
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  /** The storage, its contents recomputed first if they were dropped. */
  private live(): Storage & { data: AnyArray } {
    const st = this.storage;
    if (st === null) throw new Error('tensor used after dispose');
    if (st.data === null) {
      const r = st.recompute!;
      st.data = acquire(r.dtype, r.length, false);
      r.fill(st.data);
    }
    return st as Storage & { data: AnyArray };
  }

  /**
   * Marks an op's output as cheap to recompute by fill (which writes the whole storage from the op's inputs, still
   * held for its backward); inside dropRecomputable it is then dropped after the block. Only for outputs on the
   * autograd tape: others are freed by their scope anyway.
   */
  recomputable(fill: (out: AnyArray) => void): this {
    const st = this.live();
    if (this.node !== null && st.pooled) {
      st.recompute = { fill, length: this.offset + this.size, dtype: this.dtype as 'f32' | 'bf16' | 'f64', dropped: false };
      recomputeSinks[recomputeSinks.length - 1]?.push(this);
    }
    return this;
  }

  /**
   * Keeps a bf16 copy of this activation for backward: inside dropRecomputable the f32 contents leave memory after
   * the block and come back, widened from the copy, when backward reads them. Only for f32 outputs on the tape.
   */
  storeAsBf16(): void {
    const st = this.live();
    if (this.node === null || !st.pooled || this.dtype !== 'f32' || recomputeSinks.length === 0) return;
    const copy = Tensor.empty(this.shape, 'bf16'); // lives in the step's scope, like the activation itself
    const bits = copy.data as Uint16Array;
    this.backend.castToBf16(this.f, bits, this.size);
    this.recomputable((out) => this.backend.castFromBf16(bits, out as FloatArray, this.size));
  }

  /** Frees a recomputable tensor's contents (they come back on the next read). */
  dropForRecompute(): void {
    const st = this.storage;
    if (st === null || st.data === null || st.recompute === undefined) return;
    release(st.data);
    st.data = null;
    st.recompute.dropped = true;
  }

  /** After backward has passed this tensor's node: drops it again if it had been dropped in forward and re-read since. */
  redropAfterBackward(): void {
    if (this.storage?.recompute?.dropped === true) this.dropForRecompute();
  }

  /** The whole storage array (elements from `offset`, `size` of them, are this tensor's). */
  get buffer(): AnyArray {
    return this.live().data;
  }

  /** This tensor's elements as a typed array view (no copy). */
  get data(): AnyArray {
    const d = this.live().data;
    if ((this.offset === 0 && d.length === this.size) || this.quantized) return d; // quantised: offset 0, blocks not elements
    return d.subarray(this.offset, this.offset + this.size);
  }

  /** The elements as a float array (f32/f64 only). */
  get f(): FloatArray {
    if (this.dtype !== 'f32' && this.dtype !== 'f64') throw new Error(`${this.dtype} tensor used where f32 was expected`);
    return this.data as FloatArray;
  }

  get backend(): Backend {
    return this.dtype === 'f64' ? referenceBackend : getBackend();
  }

  get rank(): number {
    return this.shape.length;
  }

  dim(i: number): number {
    const d = this.shape[i < 0 ? this.shape.length + i : i];
    if (d === undefined) throw new Error(`dim ${i} out of range for shape [${this.shape.join(', ')}]`);
    return d;
  }

  /** Copies the elements into a plain array of JS numbers (bf16 decoded). */
  toArray(): number[] {
    if (this.dtype === 'f32' || this.dtype === 'f64') return Array.from(this.data);
    const out = new Float32Array(this.size);
    if (this.quantized) {
      const cols = this.dim(-1);
      this.backend.dequantRows(this.data as Uint8Array, this.dtype as QuantDType, cols, Int32Array.from({ length: this.size / cols }, (_, i) => i), out);
    } else this.backend.castFromBf16(this.data as Uint16Array, out, this.size);
    return Array.from(out);
  }

  item(): number {
    if (this.size !== 1) throw new Error(`item() needs a single element, shape is [${this.shape.join(', ')}]`);
    return this.toArray()[0]!;
  }

  /** Frees the storage when no other view holds it. Idempotent. */
  dispose(): void {
    const st = this.storage;
    if (st === null) return;
    this.storage = null;
    this.node = null;
    liveTensors--;
    for (const s of scopes) s.delete(this);
    if (--st.refs === 0 && st.pooled && st.data !== null) release(st.data);
  }

  /** Marks this tensor a leaf that collects gradients in `.grad`. */
  requireGrad(on = true): this {
    if (on && this.dtype !== 'f32' && this.dtype !== 'f64') throw new Error(`${this.dtype} tensors are frozen: they cannot require gradients`);
    this.requiresGrad = on;
    return this;
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}])`;
  }
}

/** Attaches the autograd node to an op's output when any input needs gradients (and grad mode is on). */
export function record(out: Tensor, op: string, inputs: readonly Tensor[], backward: GradNode['backward']): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}
