// `whet pull ORG/NAME [--revision R] [--include GLOB]`: a hub model into the local cache; the path it landed at on stdout.
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { defaultCacheDir, parseModelRef } from '../hub/cache.ts';
import { DEFAULT_ENDPOINT, pullModel } from '../hub/pull.ts';
import { UsageError } from './errors.ts';
import { parseCommand } from './options.ts';
import { Progress } from './progress.ts';
import { pullSpec } from './specs.ts';

export async function pullCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(pullSpec, argv);
  if (parsed === null) return 0;
  const v = parsed.values as { revision?: string; include?: string[]; 'cache-dir'?: string; json: boolean };
  const [spec] = parsed.positionals as [string];
  const ref = parseModelRef(spec);
  if (ref === undefined) throw new UsageError(`'${spec}' is not a hub model name: expected ORG/NAME, ORG/NAME@REVISION or ORG/NAME/FILE`);
  if (ref.revision !== undefined && v.revision !== undefined && ref.revision !== v.revision) throw new UsageError(`${spec} names revision ${ref.revision} but --revision says ${v.revision}`);
  if (['1', 'true', 'yes', 'on'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase())) throw new WhetError('HF_HUB_OFFLINE is set: whet pull needs the hub; unset it to download (pulled models stay usable as --model ORG/NAME)');
  const token = process.env.HF_TOKEN === '' ? undefined : process.env.HF_TOKEN;
  // @huggingface/hub refuses other tokens with a TypeError; say so in the user's terms.
  if (token !== undefined && !token.startsWith('hf_')) throw new WhetError('HF_TOKEN is not a Hugging Face access token (those start with hf_; see https://huggingface.co/settings/tokens)');
  const hubUrl = (process.env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const cacheDir = v['cache-dir'] ?? defaultCacheDir();

  let bar: Progress | undefined;
  const mb = (n: number): number => Math.round(n / 1e5) / 10;
  const r = await pullModel({
    repo: ref.repo,
    revision: ref.revision ?? v.revision,
    include: ref.file !== undefined ? [ref.file, ...(v.include ?? [])] : v.include,
    cacheDir,
    hubUrl,
    token,
    onProgress: (done, total) => (bar ??= new Progress(`pull ${ref.repo}`, mb(total), 'MB')).update(mb(done)),
  });
  bar?.done();
  // Where it landed: the named file, the one GGUF pulled, else the snapshot folder.
  const ggufs = r.files.filter((f) => f.path.endsWith('.gguf'));
  const path = ref.file !== undefined ? join(r.snapshot, ref.file) : r.files.length === 1 && ggufs.length === 1 ? join(r.snapshot, ggufs[0]!.path) : r.snapshot;
  const fetched = r.files.reduce((s, f) => s + f.fetched, 0);
  const total = r.files.reduce((s, f) => s + f.size, 0);
  if (v.json) process.stdout.write(JSON.stringify({ repo: r.repo, revision: r.revision, commit: r.commit, path, files: r.files, fetched_bytes: fetched, total_bytes: total }) + '\n');
  else {
    process.stderr.write(`pulled ${r.repo}@${r.commit.slice(0, 12)}: ${r.files.length} file${r.files.length === 1 ? '' : 's'}, ${total} bytes (${fetched} fetched now, the rest from the cache)\n`);
    process.stdout.write(`${path}\n`);
  }
  return 0;
}
