// safetensors files: strict header validation before any allocation, per-tensor typed reads, atomic writes.
import { WhetError } from '../errors.ts';
import { writeFileAtomic } from './atomic.ts';
import { readExact, setOwn, withFile, writeAll } from './file-io.ts';

/** Element types of the safetensors format (sub-byte float formats are not supported). */
export type SafetensorsDtype =
  | 'F64' | 'F32' | 'F16' | 'BF16'
  | 'I64' | 'I32' | 'I16' | 'I8'
  | 'U64' | 'U32' | 'U16' | 'U8'
  | 'BOOL' | 'F8_E4M3' | 'F8_E5M2';

/** In-memory data of a tensor: F16 and BF16 stay as raw bits in a Uint16Array, 8-bit floats and BOOL as bytes. */
export type SafetensorsData =
  | Float64Array | Float32Array | Uint16Array
  | BigInt64Array | Int32Array | Int16Array | Int8Array
  | BigUint64Array | Uint32Array | Uint8Array;

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: SafetensorsData;
}

/** A validated header entry: where a tensor's bytes are in the file (absolute offset). */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  offset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  path: string;
  metadata: Record<string, string>;
  entries: Map<string, SafetensorsEntry>;
}

type ArrayCtor = { new (n: number): SafetensorsData; BYTES_PER_ELEMENT: number };

const DTYPES: Record<SafetensorsDtype, ArrayCtor> = {
  F64: Float64Array, F32: Float32Array, F16: Uint16Array, BF16: Uint16Array,
  I64: BigInt64Array, I32: Int32Array, I16: Int16Array, I8: Int8Array,
  U64: BigUint64Array, U32: Uint32Array, U16: Uint16Array, U8: Uint8Array,
  BOOL: Uint8Array, F8_E4M3: Uint8Array, F8_E5M2: Uint8Array,
};

/** Bytes per element of a safetensors dtype. */
export function dtypeSize(dtype: SafetensorsDtype): number {
  return DTYPES[dtype].BYTES_PER_ELEMENT;
}

function isDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, s);
}

const MAX_HEADER = 100_000_000;

/** Element count of a shape; null when a dimension is not a non-negative integer or the product is not exact. */
function numel(shape: unknown): number | null {
  if (!Array.isArray(shape)) return null;
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) return null;
    n *= d;
  }
  return Number.isSafeInteger(n) ? n : null;
}

/** Reads and validates the header of a safetensors file (nothing else is read or allocated). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  return withFile(path, (fd, size) => parseHeader(fd, size, path));
}

function parseHeader(fd: number, size: number, path: string): SafetensorsHeader {
  const fail = (what: string): never => {
    throw new WhetError(`${path}: invalid safetensors file: ${what}`);
  };
  if (size < 8) fail(`file is ${size} bytes, too short for the 8-byte header length`);
  const lenBytes = new Uint8Array(8);
  readExact(fd, lenBytes, 0, path);
  const headerLen = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (headerLen > BigInt(size - 8)) fail(`header length ${headerLen} exceeds the ${size - 8} bytes after it`);
  if (headerLen > BigInt(MAX_HEADER)) fail(`header length ${headerLen} exceeds the ${MAX_HEADER}-byte limit`);
  const n = Number(headerLen);
  const headerBytes = new Uint8Array(n);
  readExact(fd, headerBytes, 8, path);

  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    return fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('header is not a JSON object');

  const dataStart = 8 + n;
  const dataSize = size - dataStart;
  const metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  const ranges: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        setOwn(metadata, k, v as string);
      }
      continue;
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail(`tensor '${name}': entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (!isDtype(dtype)) return fail(`tensor '${name}': unknown dtype ${JSON.stringify(dtype)}`);
    const count = numel(shape);
    if (count === null) return fail(`tensor '${name}': shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      return fail(`tensor '${name}': data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataSize) {
      fail(`tensor '${name}': data_offsets [${begin}, ${end}] outside the ${dataSize}-byte data section`);
    }
    const expected = count * dtypeSize(dtype);
    if (end - begin !== expected) {
      fail(`tensor '${name}': data_offsets span ${end - begin} bytes but ${dtype} ${JSON.stringify(shape)} needs ${expected}`);
    }
    entries.set(name, { dtype, shape: [...(shape as number[])], offset: dataStart + begin, byteLength: expected });
    if (end > begin) ranges.push([begin, end, name]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) fail(`tensors '${ranges[i - 1][2]}' and '${ranges[i][2]}' overlap`);
  }
  return { path, metadata, entries };
}

function readEntry(fd: number, entry: SafetensorsEntry, path: string): SafetensorsTensor {
  const Ctor = DTYPES[entry.dtype];
  const data = new Ctor(entry.byteLength / Ctor.BYTES_PER_ELEMENT);
  readExact(fd, data, entry.offset, path);
  return { dtype: entry.dtype, shape: [...entry.shape], data };
}

/** Reads the named tensors (default: all) of a header returned by readSafetensorsHeader, in one pass over the file. */
export function readSafetensorsTensors(header: SafetensorsHeader, names?: Iterable<string>): Map<string, SafetensorsTensor> {
  const wanted = names ? [...names] : [...header.entries.keys()];
  const entries = wanted.map((name): [string, SafetensorsEntry] => {
    const entry = header.entries.get(name);
    if (!entry) throw new WhetError(`${header.path}: no tensor named '${name}'`);
    return [name, entry];
  });
  return withFile(header.path, (fd) => {
    const tensors = new Map<string, SafetensorsTensor>();
    for (const [name, entry] of entries) tensors.set(name, readEntry(fd, entry, header.path));
    return tensors;
  });
}

/** Reads a whole safetensors file: header metadata and every tensor copied into its own typed array. */
export function readSafetensors(path: string): { metadata: Record<string, string>; tensors: Map<string, SafetensorsTensor> } {
  const header = readSafetensorsHeader(path);
  return { metadata: header.metadata, tensors: readSafetensorsTensors(header) };
}

/** Accepts a Map or a plain object of tensors; returns [name, tensor] pairs in insertion order. */
export function tensorEntries(tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>): [string, SafetensorsTensor][] {
  return tensors instanceof Map ? [...tensors] : Object.entries(tensors);
}

/** Checks a tensor about to be written; returns its byte size. */
export function checkTensor(path: string, name: string, t: SafetensorsTensor): number {
  if (name === '__metadata__') throw new WhetError(`${path}: '__metadata__' is reserved and cannot name a tensor`);
  if (!isDtype(t.dtype)) throw new WhetError(`${path}: tensor '${name}' has unknown dtype ${JSON.stringify(t.dtype)}`);
  const count = numel(t.shape);
  if (count === null) throw new WhetError(`${path}: tensor '${name}' has invalid shape ${JSON.stringify(t.shape)}`);
  const bytes = count * dtypeSize(t.dtype);
  if (t.data.byteLength !== bytes) {
    throw new WhetError(`${path}: tensor '${name}' is ${t.dtype} ${JSON.stringify(t.shape)} (${bytes} bytes) but its data has ${t.data.byteLength} bytes`);
  }
  return bytes;
}

/**
 * Writes a safetensors file atomically: tensors in sorted name order, contiguous, and the JSON header
 * padded with spaces to a multiple of 8 bytes so the data section starts 8-aligned.
 */
export function writeSafetensors(
  path: string,
  tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): void {
  const list = tensorEntries(tensors).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new WhetError(`${path}: metadata '${k}' must be a string`);
    }
    setOwn(header, '__metadata__', metadata);
  }
  let offset = 0;
  for (const [name, t] of list) {
    const bytes = checkTensor(path, name, t);
    setOwn(header, name, { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] });
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileAtomic(path, (fd) => {
    writeAll(fd, len);
    writeAll(fd, json);
    for (const [, t] of list) writeAll(fd, t.data);
  });
}
