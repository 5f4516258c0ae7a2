// whet pull against a local hub (test/helpers/local-hub.ts): a sharded safetensors model and a GGUF land in
// huggingface_hub's cache layout, a cut download resumes with a Range request, a gated repo needs HF_TOKEN, an
// unreachable hub is one line; then every --model accepts ORG/NAME and gives the same text as the local path.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import * as T from '../src/tensor/index.ts';
import { configFromHf } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { convert } from '../src/model/convert.ts';
import { writeSafetensorsSharded } from '../src/formats/safetensors-sharded.ts';
import { parseModelRef, resolveModelPath } from '../src/hub/cache.ts';
import { globToRegExp } from '../src/hub/pull.ts';
import { startLocalHub, type HubRepo } from './helpers/local-hub.ts';

const tmp = mkdtempSync(join(tmpdir(), 'whet-pull-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A 2-layer llama with random weights, sharded into several safetensors files, and a byte-level BPE tokenizer of single characters. */
function tinyModelFolder(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (const c of 'Ġabcdefghijklmnopqrstuvwxyz.,') vocab[c] = Object.keys(vocab).length; // Ġ: the byte-level space
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizer = {
    version: '1.0', truncation: null, padding: null, normalizer: null, post_processor: null, pre_tokenizer: byteLevel, decoder: byteLevel,
    added_tokens: ['<unk>', '<s>', '</s>'].map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  };
  const hf = { model_type: 'llama', hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 32, rms_norm_eps: 1e-6, max_position_embeddings: 64, bos_token_id: 1, eos_token_id: 2, tie_word_embeddings: false };
  const rng = new T.Rng(7);
  const model = new LlamaModel(configFromHf(hf), (name, shape) => {
    const t = T.keep(T.randn(shape, rng, name.endsWith('norm.weight') ? 0.1 : 0.4));
    if (name.endsWith('norm.weight')) t.f.forEach((v, i, a) => (a[i] = 1 + v));
    return t;
  });
  writeSafetensorsSharded(dir, new Map(model.namedTensors().map(([n, t]) => [n, { dtype: 'F32', shape: [...t.shape], data: t.f as Float32Array }])), 20000);
  model.dispose();
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', add_bos_token: true }));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(hf));
}

const folder = join(tmp, 'src', 'tiny-llama');
tinyModelFolder(folder);
const q8 = join(tmp, 'src', 'tiny-Q8_0.gguf');
const f32 = join(tmp, 'src', 'tiny-F32.gguf');
convert(folder, q8, { dtype: 'q8_0' });
convert(folder, f32, { dtype: 'f32' });
const readme = new TextEncoder().encode('# tiny\n');
const filesOf = (dir: string): Map<string, Uint8Array> => new Map(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))]));
const ggufRepo = new Map([['tiny-Q8_0.gguf', new Uint8Array(readFileSync(q8))], ['tiny-F32.gguf', new Uint8Array(readFileSync(f32))], ['README.md', readme]]);
const TOKEN = 'hf_test_access_token';
const hub = await startLocalHub(new Map<string, HubRepo>([
  ['test-org/tiny-llama', { files: new Map([...filesOf(folder), ['README.md', readme]]) }],
  ['test-org/tiny-llama-GGUF', { files: ggufRepo }],
  ['test-org/gated-llama', { files: new Map(ggufRepo), token: TOKEN }],
]));
after(() => hub.close());
const cache = join(tmp, 'cache');

/** Runs bin/whet.js (asynchronously: the hub answers from this process) with these environment variables. */
async function whet(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const full: Record<string, string | undefined> = { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_TOKEN: undefined, WHET_NO_PROGRESS: '1', ...env };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/whet.js', ...args], { env: full, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const repoDir = (repo: string): string => join(cache, `models--${repo.replace('/', '--')}`);
const generateArgs = ['--prompt', 'once upon a', '--temperature', '0', '--max-tokens', '12'];

test('ORG/NAME references and --include globs parse as huggingface_hub reads them', () => {
  assert.deepEqual(parseModelRef('HuggingFaceTB/SmolLM2-135M'), { repo: 'HuggingFaceTB/SmolLM2-135M', revision: undefined, file: undefined });
  assert.deepEqual(parseModelRef('org/name@v1.0/sub/model-Q8_0.gguf'), { repo: 'org/name', revision: 'v1.0', file: 'sub/model-Q8_0.gguf' });
  for (const bad of ['/abs/path', 'name', 'models/missing.gguf', 'org/../x', 'org/name/../../etc', './org/name', 'org/name/']) assert.equal(parseModelRef(bad), undefined, bad);
  assert.ok(globToRegExp('*Q8_0.gguf').test('sub/model-Q8_0.gguf'), '* crosses folders, as fnmatch does');
  assert.ok(!globToRegExp('*Q8_0.gguf').test('model-Q4_0.gguf'));
  assert.ok(globToRegExp('model-0000[12]-of-*.safetensors').test('model-00002-of-00003.safetensors'));
  assert.ok(!globToRegExp('model.?afetensors').test('modelXsafetensors.json'));
});

test('whet pull: a sharded safetensors model lands in the hub cache layout, byte for byte; a second pull fetches nothing', async () => {
  const r = await whet(['pull', 'test-org/tiny-llama']);
  assert.equal(r.code, 0, r.stderr);
  const snapshot = join(repoDir('test-org/tiny-llama'), 'snapshots', hub.sha);
  assert.equal(r.stdout.trim(), snapshot);
  assert.equal(readFileSync(join(repoDir('test-org/tiny-llama'), 'refs', 'main'), 'utf8'), hub.sha);
  const shards = readdirSync(folder).filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
  assert.ok(shards.length >= 2, `the fixture is sharded (${shards.length} shards)`);
  for (const [name, data] of filesOf(folder)) {
    assert.deepEqual(new Uint8Array(readFileSync(join(snapshot, name))), data, name);
    const link = join(snapshot, name);
    assert.ok(lstatSync(link).isSymbolicLink(), `${name} is a link into blobs/`);
    // LFS files are stored under their sha256, as huggingface_hub names blobs.
    if (name.endsWith('.safetensors')) assert.equal(readlinkSync(link), join('..', '..', 'blobs', sha256(data)));
  }
  assert.deepEqual(readdirSync(join(repoDir('test-org/tiny-llama'), 'blobs')).filter((f) => f.endsWith('.incomplete')), []);

  const bodies = hub.log.filter((l) => l.url.includes('/resolve/') && l.range !== 'bytes=0-0').length;
  const again = await whet(['pull', 'test-org/tiny-llama', '--json']);
  assert.equal(again.code, 0, again.stderr);
  const j = JSON.parse(again.stdout) as { path: string; commit: string; fetched_bytes: number; files: { path: string; fetched: number }[] };
  assert.equal(j.path, snapshot);
  assert.equal(j.commit, hub.sha);
  assert.equal(j.fetched_bytes, 0);
  assert.equal(j.files.length, filesOf(folder).size + 1);
  assert.equal(hub.log.filter((l) => l.url.includes('/resolve/') && l.range !== 'bytes=0-0').length, bodies, 'no file body fetched again');
});

test('--model ORG/NAME resolves to the pulled snapshot: whet generate gives the folder\'s text at temperature 0', async () => {
  const fromFolder = await whet(['generate', '--model', folder, ...generateArgs]);
  const fromHub = await whet(['generate', '--model', 'test-org/tiny-llama', ...generateArgs]);
  assert.equal(fromFolder.code, 0, fromFolder.stderr);
  assert.equal(fromHub.code, 0, fromHub.stderr);
  assert.ok(fromFolder.stdout.length > 0);
  assert.equal(fromHub.stdout, fromFolder.stdout);
  // A local path wins over the cache: a folder named like the repo, relative to the working directory.
  const cwd = process.cwd();
  const local = join(tmp, 'cwd');
  mkdirSync(join(local, 'test-org', 'tiny-llama'), { recursive: true });
  try {
    process.chdir(local);
    assert.equal(resolveModelPath('test-org/tiny-llama', cache), 'test-org/tiny-llama');
  } finally {
    process.chdir(cwd);
  }
  // whet serve names the pulled model by its hub id, as vLLM does.
  const serve = spawn(process.execPath, ['bin/whet.js', 'serve', '--model', 'test-org/tiny-llama', '--port', '0'], { env: { ...process.env, HF_HUB_CACHE: cache } });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let err = '';
      serve.stderr.on('data', (d: Buffer) => {
        err += String(d);
        const m = /whet serve: (http:\/\/\S+)/.exec(err);
        if (m !== null) resolve(m[1]!);
      });
      serve.on('exit', () => reject(new Error(`whet serve exited: ${err}`)));
    });
    const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
    assert.deepEqual(models.data.map((m) => m.id), ['test-org/tiny-llama']);
  } finally {
    serve.kill();
  }

  const missing = await whet(['generate', '--model', 'test-org/never-pulled', ...generateArgs]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  assert.match(missing.stderr, /test-org\/never-pulled is not in the cache \(.*cache\); run: whet pull test-org\/never-pulled/);
});

test('whet pull --include: one GGUF of a repo, the others untouched; --model ORG/NAME is that file', async () => {
  const r = await whet(['pull', 'test-org/tiny-llama-GGUF', '--include', '*Q8_0.gguf']);
  assert.equal(r.code, 0, r.stderr);
  const path = r.stdout.trim();
  assert.equal(path, join(repoDir('test-org/tiny-llama-GGUF'), 'snapshots', hub.sha, 'tiny-Q8_0.gguf'));
  assert.deepEqual(new Uint8Array(readFileSync(path)), ggufRepo.get('tiny-Q8_0.gguf'));
  assert.equal(hub.sent.get('test-org/tiny-llama-GGUF/tiny-Q8_0.gguf'), ggufRepo.get('tiny-Q8_0.gguf')!.length);
  assert.equal(hub.sent.get('test-org/tiny-llama-GGUF/tiny-F32.gguf'), undefined);
  assert.equal(hub.sent.get('test-org/tiny-llama-GGUF/README.md'), undefined);
  assert.equal(resolveModelPath('test-org/tiny-llama-GGUF', cache), path);
  const fromFile = await whet(['generate', '--model', q8, ...generateArgs]);
  const fromHub = await whet(['generate', '--model', 'test-org/tiny-llama-GGUF', ...generateArgs]);
  assert.equal(fromHub.code, 0, fromHub.stderr);
  assert.equal(fromHub.stdout, fromFile.stdout);

  const none = await whet(['pull', 'test-org/tiny-llama-GGUF', '--include', '*Q4_K_M.gguf']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no file matches --include \*Q4_K_M\.gguf \(the repository has .*tiny-Q8_0\.gguf/);
});

test('a download cut part-way resumes: the second pull asks for the rest with Range and the bytes match the source', async () => {
  const key = 'test-org/tiny-llama-GGUF/tiny-F32.gguf';
  const source = ggufRepo.get('tiny-F32.gguf')!;
  const cutAt = Math.floor(source.length * 0.4);
  hub.cutOnce.set(key, cutAt);
  const first = await whet(['pull', 'test-org/tiny-llama-GGUF/tiny-F32.gguf']);
  assert.equal(first.code, 1);
  assert.equal(first.stderr.trim().split('\n').length, 1, first.stderr);
  assert.match(first.stderr, /tiny-F32\.gguf: download interrupted after \d+ of \d+ bytes .*run the same whet pull again to resume/);
  const partial = join(repoDir('test-org/tiny-llama-GGUF'), 'blobs', `${sha256(source)}.incomplete`);
  const kept = statSync(partial).size;
  assert.ok(kept > 0 && kept <= cutAt, `kept ${kept} of the ${cutAt} bytes sent`);
  assert.ok(!existsSync(join(repoDir('test-org/tiny-llama-GGUF'), 'snapshots', hub.sha, 'tiny-F32.gguf')), 'no link to a partial file');

  const second = await whet(['pull', 'test-org/tiny-llama-GGUF/tiny-F32.gguf', '--json']);
  assert.equal(second.code, 0, second.stderr);
  const j = JSON.parse(second.stdout) as { path: string; fetched_bytes: number };
  assert.deepEqual(new Uint8Array(readFileSync(j.path)), source);
  assert.equal(j.fetched_bytes, source.length - kept);
  assert.equal(hub.sent.get(key), cutAt + source.length - kept, 'the server sent only the rest the second time');
  assert.equal(hub.log.filter((l) => l.url.endsWith('/tiny-F32.gguf')).at(-1)!.range, `bytes=${kept}-`);
  assert.ok(!existsSync(partial));

  // A partial file that is not a prefix of the real one (say, a server that ignored a range once) fails the hash
  // check, is removed, and the next pull fetches the file afresh.
  const gitOid = createHash('sha1').update(`blob ${readme.length}\0`).update(readme).digest('hex');
  const wrong = join(repoDir('test-org/tiny-llama-GGUF'), 'blobs', `${gitOid}.incomplete`);
  writeFileSync(wrong, 'XX');
  const bad = await whet(['pull', 'test-org/tiny-llama-GGUF/README.md']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /README\.md: the download does not match the hub's hash .*run whet pull again/);
  assert.ok(!existsSync(wrong));
  const good = await whet(['pull', 'test-org/tiny-llama-GGUF/README.md']);
  assert.equal(good.code, 0, good.stderr);
  assert.deepEqual(new Uint8Array(readFileSync(good.stdout.trim())), readme);
});

test('a gated model: 401 without HF_TOKEN is one line that says to set it, 403 with a token lacking access; with the right one it goes as a Bearer header', async () => {
  const denied = await whet(['pull', 'test-org/gated-llama']);
  assert.equal(denied.code, 1);
  assert.equal(denied.stderr.trim().split('\n').length, 1, denied.stderr);
  assert.match(denied.stderr, /^whet pull: test-org\/gated-llama\/\S+: the hub answered 401 .*set HF_TOKEN .*accept the model's licence/);
  assert.ok(!existsSync(join(repoDir('test-org/gated-llama'), 'refs', 'main')));
  const wrong = await whet(['pull', 'test-org/gated-llama'], { HF_TOKEN: 'hf_someone_else' });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /the hub answered 403 .*HF_TOKEN was sent; check it has access/);

  const before = hub.log.length;
  const ok = await whet(['pull', 'test-org/gated-llama', '--include', '*Q8_0.gguf'], { HF_TOKEN: TOKEN });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(new Uint8Array(readFileSync(ok.stdout.trim())), ggufRepo.get('tiny-Q8_0.gguf'));
  const seen = hub.log.slice(before);
  assert.ok(seen.length >= 3 && seen.every((l) => l.auth === `Bearer ${TOKEN}`), 'every request carried the token');
});

test('an unreachable hub is one line naming the URL and what to do instead', async () => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const r = await whet(['pull', 'test-org/tiny-llama'], { HF_ENDPOINT: url });
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(r.stderr.includes(`cannot reach the hub at ${url} (ECONNREFUSED)`), r.stderr);
  assert.match(r.stderr, /HF_ENDPOINT.*local folder or \.gguf path/);
  const bad = await whet(['pull', 'not-a-repo-name']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /'not-a-repo-name' is not a hub model name/);
});
