// Checks safetensors reading/writing: exact round trips, the on-disk layout, every header validation error, and HF sharded folders.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  readSafetensors, readSafetensorsHeader, readSafetensorsTensors, writeSafetensors, type SafetensorsTensor,
} from '../src/formats/safetensors.ts';
import { readSafetensorsFolder, writeSafetensorsSharded } from '../src/formats/safetensors-sharded.ts';
import { throwsWhet } from './helpers/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'whet-st-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (name = 'x.safetensors'): string => {
  const d = join(dir, `case${n++}`);
  mkdirSync(d);
  return join(d, name);
};

/** A raw safetensors file from a header object (or string) and a data section, built by hand. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0)): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const path = fresh();
  writeFileSync(path, Buffer.concat([len, json, data]));
  return path;
}


test('round trip keeps dtype, shape and every byte for each dtype', () => {
  const tensors = new Map<string, SafetensorsTensor>([
    ['f32', { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1.5, -2, 3.25, NaN, -0, Infinity]) }],
    ['f16', { dtype: 'F16', shape: [3], data: Uint16Array.from([0x3c00, 0x7c00, 0x8001]) }],
    ['bf16', { dtype: 'BF16', shape: [1, 2], data: Uint16Array.from([0x3f80, 0xc040]) }],
    ['f64', { dtype: 'F64', shape: [1], data: Float64Array.from([Math.PI]) }],
    ['i64', { dtype: 'I64', shape: [2], data: BigInt64Array.from([-(2n ** 62n), 7n]) }],
    ['i32', { dtype: 'I32', shape: [2], data: Int32Array.from([-5, 2 ** 31 - 1]) }],
    ['u8', { dtype: 'U8', shape: [3], data: Uint8Array.from([0, 128, 255]) }],
    ['bool', { dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) }],
    ['empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
    ['scalar', { dtype: 'F32', shape: [], data: Float32Array.from([42]) }],
  ]);
  const path = fresh();
  writeSafetensors(path, tensors, { format: 'pt', note: 'hi' });
  const back = readSafetensors(path);
  assert.deepEqual(back.metadata, { format: 'pt', note: 'hi' });
  assert.deepEqual([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
  for (const [name, t] of tensors) {
    const b = back.tensors.get(name)!;
    assert.equal(b.dtype, t.dtype, name);
    assert.deepEqual(b.shape, t.shape, name);
    assert.equal(b.data.constructor, t.data.constructor, name);
    assert.deepEqual(new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength), new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), name);
  }
  // F16 stays as raw bits for the caller to convert.
  assert.ok(back.tensors.get('f16')!.data instanceof Uint16Array);
});

test('written layout: 8-aligned space-padded header, tensors contiguous in sorted name order', () => {
  const path = fresh();
  writeSafetensors(path, {
    zeta: { dtype: 'F32', shape: [1], data: Float32Array.from([3]) },
    alpha: { dtype: 'U8', shape: [3], data: Uint8Array.from([1, 2, 3]) },
    mid: { dtype: 'F16', shape: [1], data: Uint16Array.from([0x3c00]) },
  });
  const bytes = readFileSync(path);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  assert.equal(headerLen % 8, 0);
  const text = bytes.subarray(8, 8 + headerLen).toString('utf8');
  assert.match(text, /^\{.*\} *$/);
  const header = JSON.parse(text);
  assert.deepEqual(header.alpha.data_offsets, [0, 3]);
  assert.deepEqual(header.mid.data_offsets, [3, 5]);
  assert.deepEqual(header.zeta.data_offsets, [5, 9]);
  assert.equal(bytes.length, 8 + headerLen + 9);
  assert.equal(header.__metadata__, undefined);
  assert.deepEqual([...bytes.subarray(8 + headerLen, 8 + headerLen + 3)], [1, 2, 3]);
});

test('writing is atomic: no temporary file is left, and an existing file is replaced whole', () => {
  const path = fresh();
  writeSafetensors(path, { a: { dtype: 'F32', shape: [1], data: Float32Array.from([1]) } });
  writeSafetensors(path, { b: { dtype: 'F32', shape: [2], data: Float32Array.from([2, 3]) } });
  assert.deepEqual([...readSafetensors(path).tensors.keys()], ['b']);
  assert.deepEqual(readdirSync(join(path, '..')), ['x.safetensors']);
  // A failure before the rename leaves nothing behind either.
  const bad = fresh();
  throwsWhet(() => writeSafetensors(bad, { a: { dtype: 'F32', shape: [2], data: Float32Array.from([1]) } }), /'a' is F32 \[2\] \(8 bytes\) but its data has 4 bytes/);
  assert.deepEqual(readdirSync(join(bad, '..')), []);
  throwsWhet(() => writeSafetensors(join(dir, 'no-such-dir', 'x.safetensors'), {}), /cannot write/);
});

test('header-only read and selective tensor read', () => {
  const path = fresh();
  writeSafetensors(path, {
    a: { dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) },
    b: { dtype: 'I32', shape: [1], data: Int32Array.from([9]) },
  });
  const header = readSafetensorsHeader(path);
  assert.deepEqual(header.entries.get('b'), { dtype: 'I32', shape: [1], offset: header.entries.get('b')!.offset, byteLength: 4 });
  const only = readSafetensorsTensors(header, ['b']);
  assert.deepEqual([...only.keys()], ['b']);
  assert.deepEqual([...only.get('b')!.data as Int32Array], [9]);
  throwsWhet(() => readSafetensorsTensors(header, ['c']), /no tensor named 'c'/);
});

test('each malformed header is a clear WhetError naming the file', () => {
  const tiny = fresh();
  writeFileSync(tiny, Buffer.from([1, 2, 3]));
  throwsWhet(() => readSafetensors(tiny), /x\.safetensors: .*3 bytes, too short/);

  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(1000n);
  const long = fresh();
  writeFileSync(long, Buffer.concat([len, Buffer.from('{}')]));
  throwsWhet(() => readSafetensors(long), /header length 1000 exceeds the 2 bytes after it/);

  // A header length beyond the 100 MB cap is refused before anything is allocated (a sparse file).
  const huge = fresh();
  len.writeBigUInt64LE(200_000_000n);
  writeFileSync(huge, len);
  truncateSync(huge, 200_000_100);
  throwsWhet(() => readSafetensors(huge), /header length 200000000 exceeds the 100000000-byte limit/);
  rmSync(huge);
  len.writeBigUInt64LE(2n ** 63n);
  const enormous = fresh();
  writeFileSync(enormous, Buffer.concat([len, Buffer.from('{}')]));
  throwsWhet(() => readSafetensors(enormous), /header length 9223372036854775808 exceeds the 2 bytes/);

  throwsWhet(() => readSafetensors(rawFile('{"a": ')), /not valid UTF-8 JSON/);
  throwsWhet(() => readSafetensors(rawFile('[1, 2]')), /not a JSON object/);
  throwsWhet(() => readSafetensors(rawFile({ a: 3 })), /'a': entry is not an object/);
  const data8 = new Uint8Array(8);
  throwsWhet(() => readSafetensors(rawFile({ a: { dtype: 'F31', shape: [2], data_offsets: [0, 8] } }, data8)), /'a': unknown dtype "F31"/);
  throwsWhet(() => readSafetensors(rawFile({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data8)), /'a': shape \[-2\]/);
  throwsWhet(() => readSafetensors(rawFile({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, data8)), /'a': shape/);
  throwsWhet(() => readSafetensors(rawFile({ a: { dtype: 'F32', shape: 2, data_offsets: [0, 8] } }, data8)), /'a': shape/);
  throwsWhet(() => readSafetensors(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, data8)), /'a': data_offsets \[0\] is not a pair/);
  throwsWhet(() => readSafetensors(rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 16] } }, data8)), /outside the 8-byte data section/);
  throwsWhet(() => readSafetensors(rawFile({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, data8)), /outside/);
  throwsWhet(() => readSafetensors(rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, data8)), /span 8 bytes but F32 \[3\] needs 12/);
  throwsWhet(() => readSafetensors(rawFile({
    a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    b: { dtype: 'F16', shape: [2], data_offsets: [2, 6] },
  }, data8)), /'a' and 'b' overlap/);
  throwsWhet(() => readSafetensors(rawFile({ __metadata__: { format: 1 } })), /__metadata__\.format is not a string/);
  throwsWhet(() => readSafetensors(rawFile({ __metadata__: [] })), /__metadata__ is not an object/);
  throwsWhet(() => readSafetensors(join(dir, 'missing.safetensors')), /missing\.safetensors: no such file/);
});

test('a header that is valid is read even with gaps, empty tensors and a "__proto__" key', () => {
  const data = new Uint8Array(12);
  new Float32Array(data.buffer).set([1, 2, 3]);
  const path = rawFile(`{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"__metadata__":{"__proto__":"x"}}`, data);
  const back = readSafetensors(path);
  assert.deepEqual([...back.tensors.get('__proto__')!.data as Float32Array], [3]);
  assert.equal(back.tensors.get('e')!.data.length, 0);
  assert.equal(Object.getOwnPropertyDescriptor(back.metadata, '__proto__')?.value, 'x');
});

function sample(): Map<string, SafetensorsTensor> {
  const t = new Map<string, SafetensorsTensor>();
  for (let i = 0; i < 5; i++) {
    t.set(`model.layers.${i}.w`, { dtype: 'F32', shape: [4, 4], data: Float32Array.from({ length: 16 }, (_, k) => i * 100 + k) }); // 64 bytes
  }
  t.set('model.embed', { dtype: 'BF16', shape: [10], data: Uint16Array.from({ length: 10 }, (_, k) => 0x3f80 + k) }); // 20 bytes
  return t;
}

test('sharded write: HF shard names, size limit, index with total_size, and an exact read back', () => {
  const d = join(dir, 'sharded');
  mkdirSync(d);
  const tensors = sample();
  const written = writeSafetensorsSharded(d, tensors, 130);
  // 64+64 | 64+64 | 64+20 in insertion order.
  assert.deepEqual(readdirSync(d).sort(), [
    'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors',
    'model.safetensors.index.json',
  ]);
  assert.equal(written.length, 4);
  const index = JSON.parse(readFileSync(join(d, 'model.safetensors.index.json'), 'utf8'));
  assert.equal(index.metadata.total_size, 5 * 64 + 20);
  assert.equal(index.weight_map['model.layers.2.w'], 'model-00002-of-00003.safetensors');
  assert.equal(index.weight_map['model.embed'], 'model-00003-of-00003.safetensors');
  assert.deepEqual(Object.keys(index.weight_map), Object.keys(index.weight_map).sort());
  assert.deepEqual(readSafetensors(join(d, 'model-00001-of-00003.safetensors')).metadata, { format: 'pt' });

  const back = readSafetensorsFolder(d);
  assert.equal(back.files.length, 3);
  assert.deepEqual(back.metadata, { format: 'pt' });
  assert.equal(back.tensors.size, tensors.size);
  for (const [name, t] of tensors) assert.deepEqual(back.tensors.get(name)!.data, t.data, name);

  // Saving again unsharded replaces the shards and the index (stale weight files are removed, others kept).
  writeFileSync(join(d, 'config.json'), '{}');
  writeSafetensorsSharded(d, tensors, 10_000);
  assert.deepEqual(readdirSync(d).sort(), ['config.json', 'model.safetensors']);
  assert.equal(readSafetensorsFolder(d).tensors.get('model.layers.4.w')!.data[15], 415);
});

test('a tensor larger than the shard size gets a shard of its own', () => {
  const d = join(dir, 'bigtensor');
  mkdirSync(d);
  writeSafetensorsSharded(d, sample(), 50);
  assert.equal(readdirSync(d).filter((f) => f.endsWith('-of-00006.safetensors')).length, 6);
});

test('sharded folder validation: missing shard, tensor missing from its shard, bad names, no weights', () => {
  const d = join(dir, 'broken');
  mkdirSync(d);
  writeSafetensorsSharded(d, sample(), 130);
  const indexPath = join(d, 'model.safetensors.index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8'));

  writeFileSync(indexPath, JSON.stringify({ ...index, weight_map: { ...index.weight_map, extra: 'model-00002-of-00003.safetensors' } }));
  throwsWhet(() => readSafetensorsFolder(d), /tensor 'extra' is mapped to 'model-00002-of-00003\.safetensors' but that file does not contain it/);
  writeFileSync(indexPath, JSON.stringify({ ...index, weight_map: { ...index.weight_map, extra: 'model-00009-of-00009.safetensors' } }));
  throwsWhet(() => readSafetensorsFolder(d), /shard 'model-00009-of-00009\.safetensors' does not exist/);
  writeFileSync(indexPath, JSON.stringify({ weight_map: { a: '../x.safetensors' } }));
  throwsWhet(() => readSafetensorsFolder(d), /invalid shard name/);
  writeFileSync(indexPath, JSON.stringify({ metadata: {} }));
  throwsWhet(() => readSafetensorsFolder(d), /missing "weight_map"/);
  writeFileSync(indexPath, '{');
  throwsWhet(() => readSafetensorsFolder(d), /index\.json: not valid JSON/);

  const empty = join(dir, 'empty');
  mkdirSync(empty);
  throwsWhet(() => readSafetensorsFolder(empty), /no model\.safetensors or model\.safetensors\.index\.json/);
  assert.equal(existsSync(join(empty, 'model.safetensors')), false);
});
