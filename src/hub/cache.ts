// The Hugging Face hub cache on disk (huggingface_hub's layout: models--ORG--NAME/{blobs,snapshots/SHA,refs/REV}),
// and the one resolver every --model goes through: a local path wins, else ORG/NAME[@REV][/FILE] names a pulled model.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';

/**
 * huggingface_hub's cache folder: $HF_HUB_CACHE (or its old name), else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub or ~/.cache/huggingface/hub. Computed here rather than taken from
 * @huggingface/hub so that loading a local model never loads the hub client.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const hub = env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE;
  if (hub !== undefined && hub !== '') return hub;
  const home = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface');
  return join(home, 'hub');
}

export interface ModelRef {
  /** ORG/NAME */
  repo: string;
  /** A branch, tag or commit (undefined: main). */
  revision?: string;
  /** A file inside the repository (ORG/NAME/file.gguf). */
  file?: string;
}

const PART = /^(?!\.\.?$)[A-Za-z0-9][A-Za-z0-9._-]*$/;
const FILE_LIKE = /\.(gguf|safetensors|bin|json|jsonl|txt|yaml|yml)$/i;

/** ORG/NAME, ORG/NAME@REV, ORG/NAME/FILE or ORG/NAME@REV/FILE; undefined when the string is not shaped so. */
export function parseModelRef(spec: string): ModelRef | undefined {
  const m = /^([^/@]+)\/([^/@]+)(?:@([^/]+))?(?:\/(.+))?$/.exec(spec);
  // A NAME ending like a file (x/model.gguf) is a local path that is missing, not a repository.
  if (m === null || !PART.test(m[1]!) || !PART.test(m[2]!) || FILE_LIKE.test(m[2]!)) return undefined;
  const file = m[4];
  if (file !== undefined && file.split('/').some((p) => p === '' || p === '.' || p === '..')) return undefined;
  return { repo: `${m[1]}/${m[2]}`, revision: m[3], file };
}

/** The repository's folder in the cache. */
export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.replace('/', '--')}`);
}

const COMMIT = /^[0-9a-f]{40}$/;

/** The commit a pulled revision points to (refs/REV), or the revision itself when it is a cached commit. */
export function cachedCommit(cacheDir: string, repo: string, revision = 'main'): string | undefined {
  const folder = repoFolder(cacheDir, repo);
  const ref = join(folder, 'refs', revision);
  if (existsSync(ref) && statSync(ref).isFile()) return readFileSync(ref, 'utf8').trim();
  return COMMIT.test(revision) && existsSync(join(folder, 'snapshots', revision)) ? revision : undefined;
}

/** GGUF files of a snapshot folder, relative to it (top level and one folder down, as repos lay them out). */
function ggufFiles(dir: string): string[] {
  const found: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) for (const f of readdirSync(join(dir, e.name))) { if (f.endsWith('.gguf')) found.push(`${e.name}/${f}`); }
    else if (e.name.endsWith('.gguf')) found.push(e.name);
  }
  return found.sort();
}

/**
 * What a --model value names on disk. An existing path is returned as given. ORG/NAME[@REV] is the pulled
 * snapshot: its folder when it holds config.json, else its one GGUF file; ORG/NAME/FILE is that file.
 */
export function resolveModelPath(spec: string, cacheDir: string = defaultCacheDir()): string {
  if (existsSync(spec)) return spec;
  const ref = parseModelRef(spec);
  if (ref === undefined) throw new WhetError(`${spec}: no such file or folder`);
  const commit = cachedCommit(cacheDir, ref.repo, ref.revision);
  const pull = `whet pull ${spec}`;
  if (commit === undefined) throw new WhetError(`${spec}: no such file or folder, and ${ref.repo}${ref.revision !== undefined ? `@${ref.revision}` : ''} is not in the cache (${cacheDir}); run: ${pull}`);
  const snapshot = join(repoFolder(cacheDir, ref.repo), 'snapshots', commit);
  if (ref.file !== undefined) {
    const file = join(snapshot, ref.file);
    if (!existsSync(file)) throw new WhetError(`${spec}: ${ref.file} was not pulled into the cache (${snapshot}); run: ${pull}`);
    return file;
  }
  if (!existsSync(snapshot)) throw new WhetError(`${spec}: the cache names commit ${commit} but holds no snapshot of it (${snapshot}); run: ${pull}`);
  if (existsSync(join(snapshot, 'config.json'))) return snapshot;
  const ggufs = ggufFiles(snapshot);
  if (ggufs.length === 1) return join(snapshot, ggufs[0]!);
  if (ggufs.length > 1) throw new WhetError(`${spec} holds ${ggufs.length} GGUF files; name one: ${ggufs.slice(0, 4).map((f) => `${ref.repo}/${f}`).join(', ')}${ggufs.length > 4 ? ', …' : ''}`);
  return snapshot;
}
