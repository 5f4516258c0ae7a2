// GGUF reader (v2, v3): metadata and tensor infos through bounded reads, then tensor data one tensor at a time.
import { WhetError } from '../errors.ts';
import { readExact, setOwn, withFile } from './file-io.ts';
import { dequantize, dequantizeF16, isQuantType } from './gguf-quant.ts';

/**
 * A metadata value. 64-bit integers are numbers when exactly representable (|v| ≤ 2^53), else bigint;
 * arrays of numbers are plain number[], arrays of strings string[].
 */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

/** Scalar metadata types, named after their widths. */
export type GgufScalarType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'string' | 'u64' | 'i64' | 'f64';
/** The stored type of a metadata value: a scalar type, or an array of items of one type. */
export type GgufType = GgufScalarType | { array: GgufType };

export interface GgufTensorInfo {
  name: string;
  /** Row-major shape: the reverse of ggml's ne (an HF [out, in] weight has ne = [in, out]). */
  shape: number[];
  /** ggml type name: 'F32', 'F16', 'BF16', 'Q8_0', 'Q4_K', ... */
  type: string;
  /** Absolute file offset of the tensor's data. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  path: string;
  version: number;
  metadata: Record<string, GgufValue>;
  /** The stored type of each metadata value, so a rewrite can keep them exactly (see ggufTypedMetadata). */
  types: Record<string, GgufType>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute file offset where the tensor data section begins. */
  dataOffset: number;
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value type ids of the GGUF format, by our type names (9 is ARRAY). */
export const VALUE_TYPE_IDS: Record<GgufScalarType, number> = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, u64: 10, i64: 11, f64: 12,
};
export const ARRAY_TYPE_ID = 9;
const VALUE_TYPE_NAMES = new Map<number, GgufScalarType>(Object.entries(VALUE_TYPE_IDS).map(([k, v]) => [v, k as GgufScalarType]));
const SCALAR_SIZE: Record<GgufScalarType, number> = {
  u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, string: 8, u64: 8, i64: 8, f64: 8,
};

/** ggml tensor types: id → name, elements per block, bytes per block (from ggml's type traits). */
const TENSOR_TYPES: [number, string, number, number][] = [
  [0, 'F32', 1, 4], [1, 'F16', 1, 2], [2, 'Q4_0', 32, 18], [3, 'Q4_1', 32, 20], [6, 'Q5_0', 32, 22],
  [7, 'Q5_1', 32, 24], [8, 'Q8_0', 32, 34], [9, 'Q8_1', 32, 36], [10, 'Q2_K', 256, 84], [11, 'Q3_K', 256, 110],
  [12, 'Q4_K', 256, 144], [13, 'Q5_K', 256, 176], [14, 'Q6_K', 256, 210], [15, 'Q8_K', 256, 292],
  [16, 'IQ2_XXS', 256, 66], [17, 'IQ2_XS', 256, 74], [18, 'IQ3_XXS', 256, 98], [19, 'IQ1_S', 256, 50],
  [20, 'IQ4_NL', 32, 18], [21, 'IQ3_S', 256, 110], [22, 'IQ2_S', 256, 82], [23, 'IQ4_XS', 256, 136],
  [24, 'I8', 1, 1], [25, 'I16', 1, 2], [26, 'I32', 1, 4], [27, 'I64', 1, 8], [28, 'F64', 1, 8],
  [29, 'IQ1_M', 256, 56], [30, 'BF16', 1, 2], [34, 'TQ1_0', 256, 54], [35, 'TQ2_0', 256, 66], [39, 'MXFP4', 32, 17],
];
const TYPE_BY_ID = new Map(TENSOR_TYPES.map(([id, name, block, bytes]) => [id, { name, block, bytes }]));
/** ggml type id of a tensor type name. */
export const TENSOR_TYPE_IDS = new Map(TENSOR_TYPES.map(([id, name]) => [name, id]));

const MAX_DIMS = 4;
const MAX_NESTING = 8;

/** Sequential little-endian reader over a file that never reads, or lets a caller allocate, past its end. */
class BoundedReader {
  pos = 0;
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(private readonly fd: number, readonly size: number, private readonly path: string) {}

  get remaining(): number {
    return this.size - this.pos;
  }

  fail(what: string): never {
    throw new WhetError(`${this.path}: invalid GGUF file: ${what}`);
  }

  /** Makes bytes [pos, pos+n) available in the buffer and returns their offset in it. */
  private take(n: number, what: string): number {
    if (n > this.remaining) this.fail(`truncated ${what} at byte ${this.pos} (needs ${n} bytes, ${this.remaining} left)`);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
      const len = Math.min(Math.max(n, 1 << 20), this.remaining);
      this.buf = new Uint8Array(len);
      this.view = new DataView(this.buf.buffer);
      this.bufStart = this.pos;
      readExact(this.fd, this.buf, this.pos, this.path);
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  u32(what: string): number {
    const at = this.take(4, what); // before reading this.view: take() may replace it
    return this.view.getUint32(at, true);
  }

  u64(what: string): number {
    const at = this.take(8, what);
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} at byte ${this.pos - 8} is too large`);
    return Number(v);
  }

  string(what: string): string {
    const len = this.u64(`${what} length`);
    const at = this.take(len, what);
    return this.decoder.decode(this.buf.subarray(at, at + len));
  }

  scalar(type: GgufScalarType, what: string): GgufValue {
    if (type === 'string') return this.string(what);
    const at = this.take(SCALAR_SIZE[type], what);
    const v = this.view;
    switch (type) {
      case 'u8': return v.getUint8(at);
      case 'i8': return v.getInt8(at);
      case 'u16': return v.getUint16(at, true);
      case 'i16': return v.getInt16(at, true);
      case 'u32': return v.getUint32(at, true);
      case 'i32': return v.getInt32(at, true);
      case 'f32': return v.getFloat32(at, true);
      case 'f64': return v.getFloat64(at, true);
      case 'bool': return v.getUint8(at) !== 0;
      case 'u64': return exactNumber(v.getBigUint64(at, true));
      case 'i64': return exactNumber(v.getBigInt64(at, true));
    }
  }

  valueType(what: string): GgufScalarType | 'array' {
    const id = this.u32(`${what} type`);
    if (id === ARRAY_TYPE_ID) return 'array';
    const name = VALUE_TYPE_NAMES.get(id);
    if (name === undefined) this.fail(`${what} has unknown value type ${id}`);
    return name;
  }

  /** Reads a value of the given type; returns it with its full stored type. */
  value(type: GgufScalarType | 'array', what: string, depth = 0): [GgufValue, GgufType] {
    if (type !== 'array') return [this.scalar(type, what), type];
    if (depth >= MAX_NESTING) this.fail(`${what} nests arrays more than ${MAX_NESTING} deep`);
    const itemType = this.valueType(`${what} item`);
    const count = this.u64(`${what} count`);
    // Every item takes at least this many bytes, so a count the file cannot hold is rejected before the loop.
    const minItem = itemType === 'array' ? 12 : SCALAR_SIZE[itemType];
    if (count * minItem > this.remaining) this.fail(`${what} claims ${count} items but only ${this.remaining} bytes are left`);
    const items: GgufValue[] = [];
    let stored: GgufType = itemType === 'array' ? { array: 'u8' } : itemType;
    for (let i = 0; i < count; i++) {
      const [item, t] = this.value(itemType, what, depth + 1);
      items.push(item);
      if (i === 0) stored = t;
    }
    return [items, { array: stored }];
  }
}

function exactNumber(v: bigint): number | bigint {
  return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Reads a GGUF file's header: metadata, tensor infos, alignment and data offset (no tensor data). */
export function readGguf(path: string): GgufFile {
  return withFile(path, (fd, size) => {
    const r: BoundedReader = new BoundedReader(fd, size, path);
    if (size < 4) r.fail(`file is ${size} bytes, too short for the magic`);
    const magic = r.u32('magic');
    if (magic !== GGUF_MAGIC) r.fail(`bad magic 0x${magic.toString(16).padStart(8, '0')} (expected "GGUF")`);
    const version = r.u32('version');
    if (version !== 2 && version !== 3) {
      const hint = version === 1 ? ' (GGUF v1 is obsolete)' : (version & 0xffff) === 0 ? ' (a big-endian file?)' : '';
      r.fail(`unsupported version ${version}${hint}; only v2 and v3 are supported`);
    }
    const nTensors = r.u64('tensor count');
    const nKv = r.u64('metadata count');
    // Smallest possible entries: a key/value is a length, a type and one byte; a tensor info is 24 bytes.
    if (nKv * 13 + nTensors * 24 > r.remaining) r.fail(`header claims ${nKv} metadata entries and ${nTensors} tensors, more than the file can hold`);

    const metadata: Record<string, GgufValue> = {};
    const types: Record<string, GgufType> = {};
    for (let i = 0; i < nKv; i++) {
      const key = r.string(`metadata key #${i}`);
      if (Object.prototype.hasOwnProperty.call(metadata, key)) r.fail(`duplicate metadata key '${key}'`);
      const [value, type] = r.value(r.valueType(`metadata '${key}'`), `metadata '${key}'`);
      setOwn(metadata, key, value);
      setOwn(types, key, type);
    }

    let alignment = GGUF_DEFAULT_ALIGNMENT;
    if (metadata['general.alignment'] !== undefined) {
      const a = metadata['general.alignment'];
      if (typeof a !== 'number' || !Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) {
        r.fail(`general.alignment ${String(a)} is not a power of two`);
      }
      alignment = a;
    }

    const raw: { name: string; shape: number[]; type: string; rel: number; byteLength: number }[] = [];
    const names = new Set<string>();
    for (let i = 0; i < nTensors; i++) {
      const name = r.string(`tensor #${i} name`);
      if (names.has(name)) r.fail(`duplicate tensor name '${name}'`);
      names.add(name);
      const nDims = r.u32(`tensor '${name}' dimension count`);
      if (nDims > MAX_DIMS) r.fail(`tensor '${name}' has ${nDims} dimensions (at most ${MAX_DIMS})`);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) ne.push(r.u64(`tensor '${name}' dimension ${d}`));
      const typeId = r.u32(`tensor '${name}' type`);
      const type = TYPE_BY_ID.get(typeId);
      if (!type) r.fail(`tensor '${name}' has unknown type id ${typeId}`);
      const rel = r.u64(`tensor '${name}' offset`);
      const count = ne.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(count)) r.fail(`tensor '${name}' has too many elements`);
      if ((ne[0] ?? 1) % type.block !== 0) {
        r.fail(`tensor '${name}' row length ${ne[0] ?? 1} is not a multiple of the ${type.name} block size ${type.block}`);
      }
      if (rel % alignment !== 0) r.fail(`tensor '${name}' offset ${rel} is not aligned to ${alignment}`);
      raw.push({ name, shape: ne.slice().reverse(), type: type.name, rel, byteLength: (count / type.block) * type.bytes });
    }

    const dataOffset = Math.ceil(r.pos / alignment) * alignment;
    const tensors = raw.map(({ name, shape, type, rel, byteLength }): GgufTensorInfo => {
      const offset = dataOffset + rel;
      if (offset + byteLength > size) {
        r.fail(`tensor '${name}' data [${offset}, ${offset + byteLength}) lies beyond the end of the file (${size} bytes)`);
      }
      return { name, shape, type, offset, byteLength };
    });
    const byOffset = [...tensors].filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < byOffset.length; i++) {
      const prev = byOffset[i - 1];
      if (byOffset[i].offset < prev.offset + prev.byteLength) r.fail(`tensors '${prev.name}' and '${byOffset[i].name}' overlap`);
    }
    return { path, version, metadata, types, tensors, alignment, dataOffset };
  });
}

/** Looks a tensor up by name; a missing one is a WhetError naming the file. */
export function ggufTensor(file: GgufFile, name: string): GgufTensorInfo {
  const info = file.tensors.find((t) => t.name === name);
  if (!info) throw new WhetError(`${file.path}: no tensor named '${name}'`);
  return info;
}

// Reads a tensor's stored bytes straight into `into` (sized by the caller to info.byteLength).
function readInto(file: GgufFile, info: GgufTensorInfo, into: ArrayBufferView): void {
  withFile(file.path, (fd, size) => {
    if (info.offset + info.byteLength > size) throw new WhetError(`${file.path}: tensor '${info.name}' lies beyond the end of the file (was it truncated?)`);
    readExact(fd, into, info.offset, file.path);
  });
}

/** The raw stored bytes of a tensor. */
export function readGgufTensorBytes(file: GgufFile, info: GgufTensorInfo): Uint8Array {
  const bytes = new Uint8Array(info.byteLength);
  readInto(file, info, bytes);
  return bytes;
}

/**
 * A tensor's values: F32 as Float32Array, BF16 as Uint16Array of bf16 bits, F16 and the quantised types Whetstone
 * knows (Q8_0, Q4_0, Q4_K, Q6_K) dequantised to Float32Array. Other types are a WhetError naming the type.
 */
export function readGgufTensor(file: GgufFile, info: GgufTensorInfo): Float32Array | Uint16Array {
  switch (info.type) {
    case 'F32': {
      const out = new Float32Array(info.byteLength / 4);
      readInto(file, info, out);
      return out;
    }
    case 'BF16': {
      const out = new Uint16Array(info.byteLength / 2);
      readInto(file, info, out);
      return out;
    }
    case 'F16':
      return dequantizeF16(readGgufTensorBytes(file, info));
    default:
      if (isQuantType(info.type)) {
        const count = info.shape.reduce((a, b) => a * b, 1);
        return dequantize(info.type, readGgufTensorBytes(file, info), count);
      }
      throw new WhetError(`${file.path}: tensor '${info.name}' is ${info.type}, which cannot be decoded (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)`);
  }
}
