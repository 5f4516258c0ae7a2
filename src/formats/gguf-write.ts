// GGUF v3 writer: typed metadata, tensor infos, and tensor data aligned to general.alignment, written atomically.
import { WhetError } from '../errors.ts';
import { writeFileAtomic } from './atomic.ts';
import { writeAll } from './file-io.ts';
import { isQuantType, quantRowBytes, type QuantType } from './gguf-quant.ts';
import {
  ARRAY_TYPE_ID, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, TENSOR_TYPE_IDS, VALUE_TYPE_IDS,
  type GgufFile, type GgufScalarType, type GgufType, type GgufValue,
} from './gguf.ts';

/** A metadata value with its stored type spelled out, e.g. `{ type: 'u32', value: 64 }` or `{ type: { array: 'f32' }, value: [...] }`. */
export interface GgufTypedValue {
  type: GgufType;
  value: GgufValue;
}

/**
 * A metadata value to write. Plain values get an inferred type: string → string, boolean → bool,
 * integer number → i32 (i64 beyond the i32 range), other number → f32, bigint → i64 (u64 above the
 * i64 range), arrays → an array of the widest such type of their items (empty: i32). Use a typed value
 * where a reader checks types, as llama.cpp does (its counts are u32, epsilons and rope bases f32).
 */
export type GgufWriteValue = GgufValue | GgufTypedValue;

export interface GgufWriteTensor {
  name: string;
  /** Row-major shape (written reversed, as ggml's ne). */
  shape: number[];
  type: 'F32' | 'F16' | 'BF16' | QuantType;
  /** F32: Float32Array; F16 and BF16: Uint16Array of bit patterns; a quantised type: Uint8Array of whole blocks, row by row (rows of shape[-1] values). */
  data: Float32Array | Uint16Array | Uint8Array;
}

export interface GgufWriteOptions {
  metadata: Record<string, GgufWriteValue>;
  tensors: GgufWriteTensor[];
  /** Data alignment, a power of two; added as general.alignment when not the default 32 (default: the metadata's, else 32). */
  alignment?: number;
}

/** A read file's metadata with each value's stored type attached, so that writing it back keeps every type. */
export function ggufTypedMetadata(file: Pick<GgufFile, 'metadata' | 'types'>): Record<string, GgufTypedValue> {
  const out: Record<string, GgufTypedValue> = {};
  for (const [key, value] of Object.entries(file.metadata)) {
    Object.defineProperty(out, key, { value: { type: file.types[key], value }, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function isTyped(v: GgufWriteValue): v is GgufTypedValue {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;
const I64_MAX = (1n << 63n) - 1n;

function inferType(v: GgufValue, key: string, path: string): GgufType {
  switch (typeof v) {
    case 'string': return 'string';
    case 'boolean': return 'bool';
    case 'bigint': return v > I64_MAX ? 'u64' : 'i64';
    case 'number':
      if (!Number.isInteger(v)) return 'f32';
      return v >= I32_MIN && v <= I32_MAX ? 'i32' : 'i64';
  }
  if (v.length === 0) return { array: 'i32' };
  const itemTypes = v.map((x) => inferType(x, key, path));
  if (itemTypes.some((t) => typeof t === 'object')) {
    // One stored item type covers all inner arrays, so they must agree.
    const first = JSON.stringify(itemTypes[0]);
    if (!itemTypes.every((t) => JSON.stringify(t) === first)) throw new WhetError(`${path}: metadata '${key}' holds arrays of different item types (or mixes arrays and scalars)`);
    return { array: itemTypes[0] };
  }
  const kinds = new Set(itemTypes as GgufScalarType[]);
  if (kinds.size === 1) return { array: itemTypes[0] };
  const numeric = ['i32', 'i64', 'u64', 'f32'];
  if (![...kinds].every((k) => numeric.includes(k))) throw new WhetError(`${path}: metadata '${key}' mixes item types ${[...kinds].join(', ')}`);
  // Widest wins: any non-integer makes it f32; otherwise 64-bit if any item needs it.
  return { array: kinds.has('f32') ? 'f32' : kinds.has('u64') ? 'u64' : 'i64' };
}

const INT_RANGES: Partial<Record<GgufScalarType, [bigint, bigint]>> = {
  u8: [0n, 255n], i8: [-128n, 127n], u16: [0n, 65535n], i16: [-32768n, 32767n],
  u32: [0n, 4294967295n], i32: [-2147483648n, 2147483647n], u64: [0n, (1n << 64n) - 1n], i64: [-(1n << 63n), I64_MAX],
};

/** Growable little-endian byte builder for the header. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // Reserves n bytes before touching this.buf: room() may replace the buffer.
  private put(n: number, write: (at: number) => void): void {
    const at = this.room(n);
    write(at);
  }

  u32(v: number): void { this.put(4, (at) => this.buf.writeUInt32LE(v, at)); }
  u64(v: number | bigint): void { this.put(8, (at) => this.buf.writeBigUInt64LE(BigInt(v), at)); }
  bytes(b: Uint8Array): void { this.put(b.length, (at) => this.buf.set(b, at)); }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  zeros(n: number): void { this.put(n, (at) => this.buf.fill(0, at, at + n)); }

  scalar(type: GgufScalarType, v: GgufValue, what: string): void {
    const bad = (): never => {
      throw new WhetError(`${what}: ${typeof v === 'string' ? JSON.stringify(v) : String(v)} is not a valid ${type}`);
    };
    if (type === 'string') {
      if (typeof v !== 'string') bad();
      return this.string(v as string);
    }
    if (type === 'bool') {
      if (typeof v !== 'boolean') bad();
      this.put(1, (at) => this.buf.writeUInt8(v ? 1 : 0, at));
      return;
    }
    if (type === 'f32' || type === 'f64') {
      if (typeof v !== 'number') bad();
      if (type === 'f32') this.put(4, (at) => this.buf.writeFloatLE(v as number, at));
      else this.put(8, (at) => this.buf.writeDoubleLE(v as number, at));
      return;
    }
    if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isSafeInteger(v))) bad();
    const big = BigInt(v as number | bigint);
    const [lo, hi] = INT_RANGES[type]!;
    if (big < lo || big > hi) bad();
    const n = Number(big);
    switch (type) {
      case 'u8': this.put(1, (at) => this.buf.writeUInt8(n, at)); break;
      case 'i8': this.put(1, (at) => this.buf.writeInt8(n, at)); break;
      case 'u16': this.put(2, (at) => this.buf.writeUInt16LE(n, at)); break;
      case 'i16': this.put(2, (at) => this.buf.writeInt16LE(n, at)); break;
      case 'u32': this.put(4, (at) => this.buf.writeUInt32LE(n, at)); break;
      case 'i32': this.put(4, (at) => this.buf.writeInt32LE(n, at)); break;
      case 'u64': this.put(8, (at) => this.buf.writeBigUInt64LE(big, at)); break;
      case 'i64': this.put(8, (at) => this.buf.writeBigInt64LE(big, at)); break;
    }
  }

  /** Writes a value's payload (without its type id). */
  value(type: GgufType, v: GgufValue, what: string): void {
    if (typeof type === 'string') return this.scalar(type, v, what);
    if (!Array.isArray(v)) throw new WhetError(`${what}: expected an array`);
    this.typeId(type.array, what);
    this.u64(v.length);
    for (const item of v) this.value(type.array, item, what);
  }

  typeId(type: GgufType, what: string): void {
    const id = typeof type === 'string' ? VALUE_TYPE_IDS[type] : ARRAY_TYPE_ID;
    if (id === undefined) throw new WhetError(`${what}: unknown metadata type ${JSON.stringify(type)}`);
    this.u32(id);
  }

  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

const TENSOR_ARRAYS = { F32: Float32Array, F16: Uint16Array, BF16: Uint16Array };

/** Writes a GGUF v3 file atomically. Tensors are laid out in the given order, each padded to the alignment. */
export function writeGguf(path: string, { metadata, tensors, alignment }: GgufWriteOptions): void {
  const meta: Record<string, GgufWriteValue> = { ...metadata };
  if (alignment !== undefined) {
    if (!Number.isInteger(alignment) || alignment <= 0 || alignment > 0xffffffff || (alignment & (alignment - 1)) !== 0) {
      throw new WhetError(`${path}: alignment ${alignment} is not a power of two`);
    }
    const given = meta['general.alignment'];
    if (given !== undefined && Number(isTyped(given) ? given.value : given) !== alignment) {
      throw new WhetError(`${path}: alignment ${alignment} contradicts metadata general.alignment ${String(isTyped(given) ? given.value : given)}`);
    }
    if (given === undefined && alignment !== GGUF_DEFAULT_ALIGNMENT) meta['general.alignment'] = { type: 'u32', value: alignment };
  }
  const given = meta['general.alignment'];
  const align = given === undefined ? GGUF_DEFAULT_ALIGNMENT : Number(isTyped(given) ? given.value : given);
  if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) {
    throw new WhetError(`${path}: general.alignment ${String(align)} is not a power of two`);
  }

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(3);
  w.u64(tensors.length);
  w.u64(Object.keys(meta).length);
  for (const [key, raw] of Object.entries(meta)) {
    const { type, value } = isTyped(raw) ? raw : { type: inferType(raw, key, path), value: raw };
    w.string(key);
    const what = `${path}: metadata '${key}'`;
    w.typeId(type, what);
    w.value(type, value, what);
  }

  const names = new Set<string>();
  let offset = 0;
  const padded = (n: number): number => Math.ceil(n / align) * align;
  for (const t of tensors) {
    const what = `${path}: tensor '${t.name}'`;
    if (names.has(t.name)) throw new WhetError(`${what} is listed twice`);
    names.add(t.name);
    const quant = isQuantType(t.type);
    const Ctor = quant ? Uint8Array : TENSOR_ARRAYS[t.type as keyof typeof TENSOR_ARRAYS];
    if (!Ctor) throw new WhetError(`${what}: type ${String(t.type)} cannot be written (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)`);
    if (!(t.data instanceof Ctor)) throw new WhetError(`${what}: ${t.type} data must be a ${Ctor.name}`);
    if (t.shape.length < 1 || t.shape.length > 4 || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new WhetError(`${what}: shape ${JSON.stringify(t.shape)} must be 1 to 4 non-negative integers`);
    }
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (quant) {
      const rowLength = t.shape[t.shape.length - 1];
      let rowBytes: number;
      try {
        rowBytes = quantRowBytes(t.type as QuantType, rowLength);
      } catch (e) {
        throw new WhetError(`${what}: ${(e as Error).message}`);
      }
      const expected = (count / rowLength) * rowBytes;
      if (t.data.length !== expected) throw new WhetError(`${what}: shape ${JSON.stringify(t.shape)} in ${t.type} takes ${expected} bytes but data has ${t.data.length}`);
    } else if (t.data.length !== count) {
      throw new WhetError(`${what}: shape ${JSON.stringify(t.shape)} has ${count} elements but data has ${t.data.length}`);
    }
    w.string(t.name);
    w.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) w.u64(t.shape[d]);
    w.u32(TENSOR_TYPE_IDS.get(t.type)!);
    w.u64(offset);
    offset += padded(t.data.byteLength);
  }
  w.zeros(padded(w.length) - w.length);
  const header = w.result();

  const zeros = new Uint8Array(align);
  writeFileAtomic(path, (fd) => {
    writeAll(fd, header);
    for (const t of tensors) {
      writeAll(fd, t.data);
      const pad = padded(t.data.byteLength) - t.data.byteLength;
      if (pad > 0) writeAll(fd, zeros.subarray(0, pad));
    }
  });
}
