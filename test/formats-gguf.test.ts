// Checks the GGUF reader and writer: typed metadata and tensor round trips, hand-built files (Q8_0, shape order), and every validation error.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ggufTensor, readGguf, readGgufTensor, readGgufTensorBytes } from '../src/formats/gguf.ts';
import { ggufTypedMetadata, writeGguf, type GgufWriteTensor } from '../src/formats/gguf-write.ts';
import { decodeF16 } from '../src/formats/f16.ts';
import { throwsWhet } from './helpers/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'whet-gguf-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `case${n++}.gguf`);


/** Little-endian byte builder for hand-made GGUF files, independent of the writer under test. */
class Bytes {
  private parts: Buffer[] = [];
  length = 0;
  raw(b: Uint8Array): this {
    this.parts.push(Buffer.from(b));
    this.length += b.length;
    return this;
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return this.raw(b);
  }
  u64(v: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return this.raw(b);
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    return this.u64(b.length).raw(b);
  }
  padTo(align: number): this {
    return this.raw(new Uint8Array((align - (this.length % align)) % align));
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

interface RawTensor { name: string; ne: number[]; type: number; offset: number }

/** A GGUF file: header fields, key/values given as (key, type id, payload writer), tensor infos, data. */
function handMade(opts: {
  magic?: number; version?: number; kv?: [string, number, (b: Bytes) => void][]; tensors?: RawTensor[];
  data?: Uint8Array; alignment?: number; nKv?: number | bigint; nTensors?: number | bigint;
}): string {
  const b = new Bytes();
  const kv = opts.kv ?? [];
  const tensors = opts.tensors ?? [];
  b.u32(opts.magic ?? 0x46554747).u32(opts.version ?? 3).u64(opts.nTensors ?? tensors.length).u64(opts.nKv ?? kv.length);
  for (const [key, type, payload] of kv) {
    b.str(key).u32(type);
    payload(b);
  }
  for (const t of tensors) {
    b.str(t.name).u32(t.ne.length);
    for (const d of t.ne) b.u64(d);
    b.u32(t.type).u64(t.offset);
  }
  b.padTo(opts.alignment ?? 32);
  if (opts.data) b.raw(opts.data);
  const path = fresh();
  writeFileSync(path, b.build());
  return path;
}

const sampleTensors = (): GgufWriteTensor[] => [
  { name: 'a.weight', shape: [3, 5], type: 'F32', data: Float32Array.from({ length: 15 }, (_, i) => i / 7 - 1) },
  { name: 'b.weight', shape: [4], type: 'F16', data: Uint16Array.from([0x3c00, 0xc000, 0x7c00, 0x0001]) },
  { name: 'c.weight', shape: [2, 2, 2], type: 'BF16', data: Uint16Array.from([0x3f80, 0x4000, 0xbf80, 0, 1, 2, 3, 0x7f80]) },
  { name: 'empty', shape: [0], type: 'F32', data: new Float32Array(0) },
];

test('write → read: metadata values and types, tensor shapes, types, aligned offsets and data', () => {
  const path = fresh();
  writeGguf(path, {
    metadata: {
      'general.architecture': 'llama',
      'int.inferred': 7,
      'neg.inferred': -3,
      'float.inferred': 0.5,
      'big.inferred': 2 ** 40,
      'bigint.inferred': 2n ** 60n,
      'bool.inferred': true,
      'strings': ['a', 'ü', ''],
      'numbers': [1, 2.5, -3],
      'ints': [1, 2, 3],
      'nested': [[1, 2], [3]],
      'empty': [],
      't.u8': { type: 'u8', value: 255 },
      't.i8': { type: 'i8', value: -128 },
      't.u16': { type: 'u16', value: 65535 },
      't.i16': { type: 'i16', value: -32768 },
      't.u32': { type: 'u32', value: 4294967295 },
      't.i32': { type: 'i32', value: -2147483648 },
      't.f32': { type: 'f32', value: 1e-5 },
      't.f64': { type: 'f64', value: Math.PI },
      't.u64': { type: 'u64', value: 2n ** 64n - 1n },
      't.i64': { type: 'i64', value: -(2n ** 63n) },
      't.u64small': { type: 'u64', value: 12 },
      't.scores': { type: { array: 'f32' }, value: [0, -1.5, 3] },
      't.types': { type: { array: 'u8' }, value: [1, 2, 6] },
    },
    tensors: sampleTensors(),
  });
  const f = readGguf(path);
  assert.equal(f.version, 3);
  assert.equal(f.alignment, 32);
  assert.equal(f.dataOffset % 32, 0);
  const md = f.metadata;
  assert.equal(md['general.architecture'], 'llama');
  assert.equal(md['int.inferred'], 7);
  assert.equal(md['neg.inferred'], -3);
  assert.equal(md['float.inferred'], 0.5);
  assert.equal(md['big.inferred'], 2 ** 40);
  assert.equal(md['bigint.inferred'], 2n ** 60n);
  assert.equal(md['bool.inferred'], true);
  assert.deepEqual(md['strings'], ['a', 'ü', '']);
  assert.deepEqual(md['numbers'], [1, 2.5, -3]);
  assert.deepEqual(md['nested'], [[1, 2], [3]]);
  assert.deepEqual(md['empty'], []);
  assert.equal(md['t.u8'], 255);
  assert.equal(md['t.i8'], -128);
  assert.equal(md['t.u16'], 65535);
  assert.equal(md['t.i16'], -32768);
  assert.equal(md['t.u32'], 4294967295);
  assert.equal(md['t.i32'], -2147483648);
  assert.equal(md['t.f32'], Math.fround(1e-5));
  assert.equal(md['t.f64'], Math.PI);
  assert.equal(md['t.u64'], 2n ** 64n - 1n);
  assert.equal(md['t.i64'], -(2n ** 63n));
  assert.equal(md['t.u64small'], 12);
  assert.deepEqual(md['t.scores'], [0, -1.5, 3]);
  assert.deepEqual(f.types, {
    'general.architecture': 'string', 'int.inferred': 'i32', 'neg.inferred': 'i32', 'float.inferred': 'f32',
    'big.inferred': 'i64', 'bigint.inferred': 'i64', 'bool.inferred': 'bool', strings: { array: 'string' },
    numbers: { array: 'f32' }, ints: { array: 'i32' }, nested: { array: { array: 'i32' } }, empty: { array: 'i32' },
    't.u8': 'u8', 't.i8': 'i8', 't.u16': 'u16', 't.i16': 'i16', 't.u32': 'u32', 't.i32': 'i32', 't.f32': 'f32',
    't.f64': 'f64', 't.u64': 'u64', 't.i64': 'i64', 't.u64small': 'u64', 't.scores': { array: 'f32' }, 't.types': { array: 'u8' },
  });

  assert.deepEqual(f.tensors.map((t) => [t.name, t.shape, t.type, t.byteLength]), [
    ['a.weight', [3, 5], 'F32', 60], ['b.weight', [4], 'F16', 8], ['c.weight', [2, 2, 2], 'BF16', 16], ['empty', [0], 'F32', 0],
  ]);
  for (const t of f.tensors) assert.equal((t.offset - f.dataOffset) % 32, 0, t.name);
  const [a, b, c] = sampleTensors();
  assert.deepEqual(readGgufTensor(f, ggufTensor(f, 'a.weight')), a.data);
  assert.deepEqual(readGgufTensor(f, ggufTensor(f, 'b.weight')), decodeF16(b.data as Uint16Array));
  assert.deepEqual(readGgufTensor(f, ggufTensor(f, 'c.weight')), c.data);
  assert.deepEqual(new Uint16Array(readGgufTensorBytes(f, ggufTensor(f, 'b.weight')).buffer), b.data);
  throwsWhet(() => ggufTensor(f, 'nope'), /no tensor named 'nope'/);
  assert.deepEqual(readdirSync(dir).filter((x) => x.endsWith('.tmp')), []);
});

test('rewriting a read file with its typed metadata reproduces it byte for byte', () => {
  const first = fresh();
  writeGguf(first, {
    metadata: {
      'x.count': { type: 'u32', value: 9 }, 'x.eps': { type: 'f32', value: 1e-6 }, 'x.big': 2n ** 62n,
      // Large enough to outgrow the writer's first header buffer and the reader's first read.
      'x.tokens': Array.from({ length: 60000 }, (_, i) => `tok${i}`),
      'x.scores': { type: { array: 'f32' }, value: Array.from({ length: 300000 }, (_, i) => i / 8) },
    },
    tensors: sampleTensors(),
  });
  const f = readGguf(first);
  const second = fresh();
  const tensors = f.tensors.map((t): GgufWriteTensor => {
    const data = t.type === 'F16' ? new Uint16Array(readGgufTensorBytes(f, t).buffer) : readGgufTensor(f, t);
    return { name: t.name, shape: t.shape, type: t.type as GgufWriteTensor['type'], data };
  });
  writeGguf(second, { metadata: ggufTypedMetadata(f), tensors });
  assert.deepEqual(readFileSync(second), readFileSync(first));
  assert.equal((f.metadata['x.tokens'] as string[])[59999], 'tok59999');
  assert.equal((f.metadata['x.scores'] as number[])[299999], 299999 / 8);
});

test('custom alignment is written as general.alignment and respected by every offset', () => {
  const path = fresh();
  writeGguf(path, { metadata: { a: 1 }, tensors: sampleTensors(), alignment: 256 });
  const f = readGguf(path);
  assert.equal(f.alignment, 256);
  assert.equal(f.metadata['general.alignment'], 256);
  assert.equal(f.types['general.alignment'], 'u32');
  assert.equal(f.dataOffset % 256, 0);
  for (const t of f.tensors) assert.equal(t.offset % 256, 0);
  assert.deepEqual(readGgufTensor(f, f.tensors[0]), sampleTensors()[0].data);
  throwsWhet(() => writeGguf(fresh(), { metadata: {}, tensors: [], alignment: 48 }), /alignment 48 is not a power of two/);
  throwsWhet(() => writeGguf(fresh(), { metadata: { 'general.alignment': 64 }, tensors: [], alignment: 128 }), /alignment 128 contradicts metadata general\.alignment 64/);
  // Alignment taken from the metadata alone.
  const fromMeta = fresh();
  writeGguf(fromMeta, { metadata: { 'general.alignment': { type: 'u32', value: 64 } }, tensors: sampleTensors() });
  assert.ok(readGguf(fromMeta).tensors.every((t) => t.offset % 64 === 0));
});

test('hand-built file: shape is ne reversed, Q8_0 dequantised row-major, v2 accepted', () => {
  // ne = [64, 2]: two rows of 64, i.e. row-major shape [2, 64], four Q8_0 blocks.
  const data = new Uint8Array(4 * 34);
  for (let blk = 0; blk < 4; blk++) {
    data.set([0x00, 0x3c + blk * 4], blk * 34); // d = 1, 2, 4, 8 (f16 0x3c00, 0x4000, 0x4400, 0x4800)
    for (let j = 0; j < 32; j++) data[blk * 34 + 2 + j] = (j - 16) & 0xff;
  }
  for (const version of [2, 3]) {
    const path = handMade({ version, tensors: [{ name: 'w', ne: [64, 2], type: 8, offset: 0 }], data });
    const f = readGguf(path);
    assert.equal(f.version, version);
    const info = ggufTensor(f, 'w');
    assert.deepEqual(info.shape, [2, 64]);
    assert.equal(info.type, 'Q8_0');
    assert.equal(info.byteLength, 136);
    const w = readGgufTensor(f, info);
    assert.equal(w.length, 128);
    for (let i = 0; i < 128; i++) assert.equal(w[i], 2 ** Math.floor(i / 32) * ((i % 32) - 16), `element ${i}`);
  }
});

test('malformed files are clear WhetErrors', () => {
  const f32 = (v: number) => (b: Bytes) => { const x = Buffer.alloc(4); x.writeFloatLE(v); b.raw(x); };
  const data = new Uint8Array(64);
  throwsWhet(() => readGguf(handMade({ magic: 0x46554746 })), /bad magic 0x46554746/);
  const short = fresh();
  writeFileSync(short, Buffer.from('GG'));
  throwsWhet(() => readGguf(short), /too short/);
  throwsWhet(() => readGguf(handMade({ version: 1 })), /unsupported version 1 \(GGUF v1 is obsolete\)/);
  throwsWhet(() => readGguf(handMade({ version: 4 })), /unsupported version 4/);
  throwsWhet(() => readGguf(handMade({ version: 0x03000000 })), /big-endian/);
  throwsWhet(() => readGguf(handMade({ tensors: [{ name: 'w', ne: [8, 4], type: 0, offset: 0 }], data })), /'w' data \[\d+, \d+\) lies beyond the end of the file/);
  throwsWhet(() => readGguf(handMade({ tensors: [{ name: 'w', ne: [4], type: 0, offset: 16 }], data })), /'w' offset 16 is not aligned to 32/);
  throwsWhet(() => readGguf(handMade({ tensors: [{ name: 'w', ne: [1, 1, 1, 1, 1], type: 0, offset: 0 }], data })), /'w' has 5 dimensions \(at most 4\)/);
  throwsWhet(() => readGguf(handMade({ tensors: [{ name: 'w', ne: [4], type: 99, offset: 0 }], data })), /'w' has unknown type id 99/);
  throwsWhet(() => readGguf(handMade({ tensors: [{ name: 'w', ne: [10], type: 8, offset: 0 }], data })), /row length 10 is not a multiple of the Q8_0 block size 32/);
  throwsWhet(() => readGguf(handMade({
    tensors: [{ name: 'w', ne: [4], type: 0, offset: 0 }, { name: 'w', ne: [4], type: 0, offset: 32 }], data,
  })), /duplicate tensor name 'w'/);
  throwsWhet(() => readGguf(handMade({
    tensors: [{ name: 'a', ne: [16], type: 0, offset: 0 }, { name: 'b', ne: [4], type: 0, offset: 32 }], data: new Uint8Array(128),
  })), /'a' and 'b' overlap/);
  throwsWhet(() => readGguf(handMade({ kv: [['general.alignment', 4, (b) => b.u32(24)]] })), /general\.alignment 24 is not a power of two/);
  throwsWhet(() => readGguf(handMade({ kv: [['k', 13, (b) => b.u32(0)]] })), /metadata 'k' has unknown value type 13/);
  throwsWhet(() => readGguf(handMade({ kv: [['k', 6, f32(1)], ['k', 6, f32(2)]] })), /duplicate metadata key 'k'/);
  // Counts and lengths the file cannot hold are refused before anything is allocated for them.
  throwsWhet(() => readGguf(handMade({ nKv: 2n ** 50n })), /claims 1125899906842624 metadata entries/);
  throwsWhet(() => readGguf(handMade({ nTensors: 2n ** 40n })), /more than the file can hold/);
  throwsWhet(() => readGguf(handMade({ kv: [['k', 8, (b) => b.u64(2n ** 40n)]] })), /truncated metadata 'k' at byte \d+ \(needs 1099511627776 bytes/);
  throwsWhet(() => readGguf(handMade({ kv: [['k', 9, (b) => b.u32(8).u64(2n ** 40n)]] })), /metadata 'k' claims 1099511627776 items/);
  throwsWhet(() => readGguf(handMade({ kv: [['k', 10, (b) => b.u64(2n ** 40n)]], nKv: 3 })), /truncated metadata key #2 length/);
  throwsWhet(() => readGguf(handMade({ tensors: [{ name: 'w', ne: [2 ** 60], type: 0, offset: 0 }] })), /tensor 'w' dimension 0 \d+ at byte \d+ is too large/);
  throwsWhet(() => readGguf(join(dir, 'missing.gguf')), /missing\.gguf: no such file/);
});

test('types that cannot be decoded are named; the writer validates its input', () => {
  const path = handMade({ tensors: [{ name: 'q', ne: [256], type: 13, offset: 0 }], data: new Uint8Array(192) });
  const f = readGguf(path);
  assert.equal(f.tensors[0].type, 'Q5_K');
  assert.equal(f.tensors[0].byteLength, 176);
  throwsWhet(() => readGgufTensor(f, f.tensors[0]), /tensor 'q' is Q5_K, which cannot be decoded/);

  const t = (o: Partial<GgufWriteTensor>): GgufWriteTensor[] => [{ name: 'w', shape: [2], type: 'F32', data: new Float32Array(2), ...o }];
  throwsWhet(() => writeGguf(fresh(), { metadata: {}, tensors: t({ type: 'F16' }) }), /'w': F16 data must be a Uint16Array/);
  throwsWhet(() => writeGguf(fresh(), { metadata: {}, tensors: t({ shape: [3] }) }), /'w': shape \[3\] has 3 elements but data has 2/);
  throwsWhet(() => writeGguf(fresh(), { metadata: {}, tensors: t({ shape: [1, 1, 1, 1, 2] }) }), /1 to 4 non-negative integers/);
  throwsWhet(() => writeGguf(fresh(), { metadata: {}, tensors: [...t({}), ...t({})] }), /'w' is listed twice/);
  throwsWhet(() => writeGguf(fresh(), { metadata: { k: { type: 'u8', value: 300 } }, tensors: [] }), /metadata 'k': 300 is not a valid u8/);
  throwsWhet(() => writeGguf(fresh(), { metadata: { k: { type: 'u32', value: 1.5 } }, tensors: [] }), /1\.5 is not a valid u32/);
  throwsWhet(() => writeGguf(fresh(), { metadata: { k: { type: 'string', value: 3 } }, tensors: [] }), /is not a valid string/);
  throwsWhet(() => writeGguf(fresh(), { metadata: { k: ['a', 1] }, tensors: [] }), /'k' mixes item types/);
  throwsWhet(() => writeGguf(fresh(), { metadata: { k: [[1], ['x']] }, tensors: [] }), /'k' holds arrays of different item types/);
  assert.deepEqual(readdirSync(dir).filter((x) => x.endsWith('.tmp')), []);
});
