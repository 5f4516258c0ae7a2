// Hugging Face model-folder weights: model.safetensors, or model.safetensors.index.json + model-0000i-of-0000N shards.
import { existsSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { WhetError } from '../errors.ts';
import { writeFileAtomic } from './atomic.ts';
import { setOwn, writeAll } from './file-io.ts';
import {
  checkTensor, readSafetensors, readSafetensorsHeader, readSafetensorsTensors, tensorEntries, writeSafetensors,
  type SafetensorsTensor,
} from './safetensors.ts';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';
const SHARD_RE = /^model-\d{5}-of-\d{5}\.safetensors$/;

export interface SafetensorsFolder {
  /** `__metadata__` of the file(s), merged across shards. */
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
  /** The weight files read, in order. */
  files: string[];
}

/**
 * Reads the weights of an HF model folder. Like transformers, a single `model.safetensors` wins over an
 * index; with an index, every shard it names must exist and hold every tensor mapped to it.
 */
export function readSafetensorsFolder(dir: string): SafetensorsFolder {
  const single = join(dir, SINGLE_FILE);
  const indexPath = join(dir, INDEX_FILE);
  if (existsSync(single)) {
    return { ...readSafetensors(single), files: [single] };
  }
  if (!existsSync(indexPath)) throw new WhetError(`${dir}: no ${SINGLE_FILE} or ${INDEX_FILE} found`);

  const byShard = readIndex(indexPath);
  // Validate every shard's header against the index before reading any tensor data.
  const headers = [...byShard].map(([shard, names]) => {
    const path = join(dir, shard);
    if (!existsSync(path)) throw new WhetError(`${indexPath}: shard '${shard}' does not exist`);
    const header = readSafetensorsHeader(path);
    for (const name of names) {
      if (!header.entries.has(name)) throw new WhetError(`${indexPath}: tensor '${name}' is mapped to '${shard}' but that file does not contain it`);
    }
    return { header, names };
  });
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensor>();
  for (const { header, names } of headers) {
    for (const [k, v] of Object.entries(header.metadata)) setOwn(metadata, k, v);
    for (const [name, t] of readSafetensorsTensors(header, names)) tensors.set(name, t);
  }
  return { metadata, tensors, files: headers.map((h) => h.header.path) };
}

/** Parses and checks an index file; returns shard file → tensor names, in first-mention order. */
function readIndex(indexPath: string): Map<string, string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (e) {
    throw new WhetError(`${indexPath}: not valid JSON (${(e as Error).message})`);
  }
  const weightMap = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new WhetError(`${indexPath}: missing "weight_map" object`);
  }
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    // Shards are plain file names in the same folder; anything else could point outside it.
    if (typeof shard !== 'string' || shard === '' || shard === '.' || shard === '..' || /[/\\]/.test(shard)) {
      throw new WhetError(`${indexPath}: weight_map entry '${name}' has invalid shard name ${JSON.stringify(shard)}`);
    }
    const list = byShard.get(shard);
    if (list) list.push(name);
    else byShard.set(shard, [name]);
  }
  return byShard;
}

/** `model-00002-of-00005.safetensors`: HF's shard naming (1-based, 5 digits). */
function shardName(i: number, n: number): string {
  return `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;
}

/**
 * Writes weights into an HF model folder: one `model.safetensors` when the total fits in
 * `maxShardBytes`, else shards of at most that size (a larger tensor gets a shard of its own) filled in
 * the given tensor order, plus `model.safetensors.index.json` with `metadata.total_size` (bytes of tensor
 * data) and a sorted `weight_map`. Each file is written atomically, the index last; weight files of an
 * earlier save that this one does not use are then removed, as transformers' save_pretrained does.
 * `metadata` defaults to `{format: 'pt'}`, which transformers requires when a file has metadata at all.
 * Returns the paths written.
 */
export function writeSafetensorsSharded(
  dir: string,
  tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>,
  maxShardBytes: number,
  metadata: Record<string, string> = { format: 'pt' },
): string[] {
  if (!(maxShardBytes > 0)) throw new WhetError(`${dir}: maximum shard size must be positive, got ${maxShardBytes}`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new WhetError(`${dir}: not a folder`);
  const list = tensorEntries(tensors);
  const shards: [string, SafetensorsTensor][][] = [];
  let current: [string, SafetensorsTensor][] = [];
  let currentBytes = 0;
  let total = 0;
  for (const [name, t] of list) {
    const bytes = checkTensor(dir, name, t);
    if (current.length > 0 && currentBytes + bytes > maxShardBytes) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push([name, t]);
    currentBytes += bytes;
    total += bytes;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);

  const written: string[] = [];
  if (shards.length === 1) {
    const path = join(dir, SINGLE_FILE);
    writeSafetensors(path, new Map(shards[0]), metadata);
    written.push(path);
  } else {
    const weightMap: Record<string, string> = {};
    shards.forEach((shard, i) => {
      const file = shardName(i, shards.length);
      const path = join(dir, file);
      writeSafetensors(path, new Map(shard), metadata);
      written.push(path);
      for (const [name] of shard) setOwn(weightMap, name, file);
    });
    const sortedMap: Record<string, string> = {};
    for (const name of Object.keys(weightMap).sort()) setOwn(sortedMap, name, weightMap[name]);
    const indexPath = join(dir, INDEX_FILE);
    const json = JSON.stringify({ metadata: { total_size: total }, weight_map: sortedMap }, null, 2) + '\n';
    writeFileAtomic(indexPath, (fd) => writeAll(fd, Buffer.from(json, 'utf8')));
    written.push(indexPath);
  }
  removeStale(dir, written);
  return written;
}

function removeStale(dir: string, keep: string[]): void {
  const kept = new Set(keep.map((p) => basename(p)));
  for (const name of readdirSync(dir)) {
    const isWeights = name === SINGLE_FILE || name === INDEX_FILE || SHARD_RE.test(name);
    if (isWeights && !kept.has(name)) unlinkSync(join(dir, name));
  }
}
