// Downloads a model repository (or some of its files) from the Hugging Face hub into the hub cache: the revision,
// file list and download URLs come from @huggingface/hub; the bodies are fetched here so that a partial file resumes.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fileDownloadInfo, HubApiError, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { WhetError } from '../errors.ts';
import { writeFileAtomic } from '../formats/atomic.ts';
import { writeAll } from '../formats/file-io.ts';
import { repoFolder } from './cache.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface PullOptions {
  repo: string;
  /** Branch, tag or commit (default main). */
  revision?: string;
  /** fnmatch-style patterns (as huggingface-cli's --include): only files matching one are pulled. */
  include?: string[];
  cacheDir: string;
  hubUrl: string;
  token?: string;
  /** Called once the files are known, then as bytes arrive (cached files count as done at once). */
  onProgress?: (done: number, total: number) => void;
}

export interface PulledFile {
  path: string;
  size: number;
  /** Bytes fetched by this pull (0: it was already in the cache; less than size: a resumed file). */
  fetched: number;
}

export interface PullResult {
  repo: string;
  revision: string;
  commit: string;
  snapshot: string;
  files: PulledFile[];
}

/** fnmatch: * and ? match any characters ('/' included), [...] a set. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    const close = c === '[' ? glob.indexOf(']', i + 2) : -1;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (close > 0) {
      const set = glob.slice(i + 1, close).replace(/\\/g, '\\\\');
      re += set.startsWith('!') ? `[^${set.slice(1)}]` : `[${set}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Why fetch could not reach the server (ECONNREFUSED, ENOTFOUND, a TLS failure…), or undefined for a reply it got. */
function networkCode(e: unknown): string | undefined {
  // undici fails a request it could not make with TypeError('fetch failed') and the socket's error as its cause.
  if (!(e instanceof TypeError) || e.message !== 'fetch failed') return undefined;
  const cause = e.cause as { code?: string; message?: string; errors?: { code?: string }[] } | undefined;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? 'no connection';
}

/** Turns what the hub or the network said into one line that says what to do. */
function hubError(e: unknown, o: PullOptions, what: string): Error {
  if (e instanceof HubApiError) {
    if (e.statusCode === 401 || e.statusCode === 403)
      return new WhetError(`${what}: the hub answered ${e.statusCode} (a gated or private model, or no such model)${o.token === undefined ? ': set HF_TOKEN to an access token from https://huggingface.co/settings/tokens' : ': HF_TOKEN was sent; check it has access'} and accept the model's licence on ${o.hubUrl}/${o.repo}`);
    if (e.statusCode === 404) return new WhetError(`${what}: not found on ${o.hubUrl} (check the name and --revision)`);
    return new WhetError(`${what}: the hub answered ${e.statusCode}: ${e.message.split('\n')[0]}`);
  }
  const code = networkCode(e);
  if (code !== undefined) return new WhetError(`cannot reach the hub at ${o.hubUrl} (${code}): check the network, point HF_ENDPOINT at a reachable hub or mirror, or pass --model a local folder or .gguf path instead`);
  // Anything else from these calls is an answer a hub would not give (not JSON, a missing header).
  return new WhetError(`${what}: unexpected answer from ${o.hubUrl} (${(e as Error).message}); is HF_ENDPOINT a Hugging Face hub?`);
}

async function hub<T>(o: PullOptions, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw hubError(e, o, what);
  }
}

/** The file's hash as the hub names it: sha256 for LFS files, the git blob sha1 for the others. */
async function contentHash(path: string, entry: ListFileEntry): Promise<{ want: string; got: string } | undefined> {
  const want = entry.lfs?.oid ?? entry.oid;
  if (want === undefined) return undefined;
  const h = createHash(entry.lfs !== undefined ? 'sha256' : 'sha1');
  if (entry.lfs === undefined) h.update(`blob ${entry.size}\0`);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return { want, got: h.digest('hex') };
}

/**
 * Appends the rest of the file to `part` with a Range request from its current length. A reply of 200 (the server
 * ignored the range) restarts the file; an interrupted body leaves `part` holding what arrived, for the next pull.
 * Reports the bytes it starts from, then each chunk, to onBytes.
 */
async function fetchRest(o: PullOptions, commit: string, entry: ListFileEntry, part: string, onBytes: (n: number) => void): Promise<number> {
  let have = existsSync(part) ? statSync(part).size : 0;
  if (have > entry.size) {
    unlinkSync(part);
    have = 0;
  }
  if (have === entry.size) {
    onBytes(have);
    return 0;
  }
  const info = await hub(o, `${o.repo}/${entry.path}`, () => fileDownloadInfo({ repo: o.repo, path: entry.path, revision: commit, hubUrl: o.hubUrl, accessToken: o.token }));
  if (info === null) throw new WhetError(`${o.repo}/${entry.path}: listed by the hub but not found at ${o.hubUrl}`);
  const headers: Record<string, string> = o.token !== undefined ? { Authorization: `Bearer ${o.token}` } : {};
  if (have > 0) headers.Range = `bytes=${have}-`;
  const res = await hub(o, `${o.repo}/${entry.path}`, async () => {
    const r = await fetch(info.url, { headers });
    if (!r.ok) throw new HubApiError(info.url, r.status, undefined, `status ${r.status}`);
    return r;
  });
  if (have > 0 && res.status !== 206) have = 0;
  onBytes(have);
  const fh = await open(part, have > 0 ? 'a' : 'w');
  let got = 0;
  try {
    for await (const chunk of Readable.fromWeb(res.body! as WebReadableStream<Uint8Array>) as AsyncIterable<Buffer>) {
      await fh.write(chunk);
      got += chunk.length;
      onBytes(chunk.length);
    }
  } catch (e) {
    throw new WhetError(`${o.repo}/${entry.path}: download interrupted after ${have + got} of ${entry.size} bytes (${(e as Error).message}); run the same whet pull again to resume`);
  } finally {
    await fh.close();
  }
  return got;
}

/** One file into blobs/ETAG (through ETAG.incomplete), linked from snapshots/COMMIT/PATH; returns the bytes fetched. */
async function pullFile(o: PullOptions, commit: string, entry: ListFileEntry, onBytes: (n: number) => void): Promise<number> {
  // The path comes from the hub and is joined onto the cache: nothing may climb out of the snapshot.
  if (entry.path.startsWith('/') || entry.path.split('/').some((p) => p === '' || p === '.' || p === '..')) throw new WhetError(`${o.repo}: the hub lists an unsafe file path '${entry.path}'`);
  const folder = repoFolder(o.cacheDir, o.repo);
  const pointer = join(folder, 'snapshots', commit, entry.path);
  if (existsSync(pointer)) {
    onBytes(entry.size);
    return 0;
  }
  const etag = entry.lfs?.oid ?? entry.xetHash ?? entry.oid;
  if (etag === undefined || !/^[0-9a-f]+$/.test(etag)) throw new WhetError(`${o.repo}/${entry.path}: the hub's file list gives no usable hash for it`);
  const blob = join(folder, 'blobs', etag);
  mkdirSync(dirname(blob), { recursive: true });
  mkdirSync(dirname(pointer), { recursive: true });
  let fetched = 0;
  if (existsSync(blob)) onBytes(entry.size);
  else {
    const part = `${blob}.incomplete`;
    fetched = await fetchRest(o, commit, entry, part, onBytes);
    const size = statSync(part).size;
    const hash = size === entry.size ? await contentHash(part, entry) : undefined;
    if (size !== entry.size || (hash !== undefined && hash.got !== hash.want)) {
      unlinkSync(part); // a wrong file is no base to resume from
      throw new WhetError(`${o.repo}/${entry.path}: the download does not match the hub's ${size !== entry.size ? `size (${size} of ${entry.size} bytes)` : `hash (${hash!.got} against ${hash!.want})`}; run whet pull again to fetch it afresh`);
    }
    renameSync(part, blob);
  }
  // Relative links, as huggingface_hub makes them, so the cache folder can move; made at a temporary name, then renamed.
  const tmp = `${pointer}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  symlinkSync(relative(dirname(pointer), blob), tmp);
  renameSync(tmp, pointer);
  return fetched;
}

/** Pulls the files of o.repo at o.revision that o.include selects; the revision's ref is written last. */
export async function pullModel(o: PullOptions): Promise<PullResult> {
  const revision = o.revision ?? 'main';
  const where = `${o.repo}${revision !== 'main' ? `@${revision}` : ''}`;
  const info = await hub(o, where, () => modelInfo({ name: o.repo, revision, additionalFields: ['sha'], hubUrl: o.hubUrl, accessToken: o.token }));
  const commit = info.sha;
  if (typeof commit !== 'string' || !/^[0-9a-f]{40}$/.test(commit)) throw new WhetError(`${where}: the hub gave no commit for this revision`);
  const all: ListFileEntry[] = [];
  await hub(o, where, async () => {
    for await (const e of listFiles({ repo: o.repo, revision: commit, recursive: true, hubUrl: o.hubUrl, accessToken: o.token })) if (e.type === 'file') all.push(e);
  });
  const patterns = (o.include ?? []).map(globToRegExp);
  const files = patterns.length === 0 ? all : all.filter((e) => patterns.some((p) => p.test(e.path)));
  if (all.length === 0) throw new WhetError(`${where}: the repository holds no files`);
  if (files.length === 0) {
    const names = all.map((e) => e.path);
    throw new WhetError(`${where}: no file matches --include ${o.include!.join(', ')} (the repository has ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''})`);
  }
  const total = files.reduce((s, e) => s + e.size, 0);
  let done = 0;
  const onBytes = (n: number): void => {
    done += n;
    o.onProgress?.(done, total);
  };
  o.onProgress?.(0, total);
  const pulled: PulledFile[] = [];
  for (const e of files) pulled.push({ path: e.path, size: e.size, fetched: await pullFile(o, commit, e, onBytes) });
  const folder = repoFolder(o.cacheDir, o.repo);
  if (revision !== commit) {
    const ref = join(folder, 'refs', revision);
    mkdirSync(dirname(ref), { recursive: true });
    writeFileAtomic(ref, (fd) => writeAll(fd, new TextEncoder().encode(commit)));
  }
  return { repo: o.repo, revision, commit, snapshot: join(folder, 'snapshots', commit), files: pulled };
}
