// The package as a user gets it: `npm pack`, install the tarball into an empty project, import it from plain
// JavaScript (compiled dist/, no tsx) and run a tensor op, a tiny generate and the installed `whet` command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const STORIES = path.resolve(ROOT, '../shared/data/models/stories260K/stories260K.gguf');

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

test('npm pack → npm install in a plain project → import from .mjs, generate, run whet', { timeout: 15 * 60_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-pack-'));
  try {
    run('npm', ['pack', '--silent', '--pack-destination', dir], ROOT);
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball !== undefined, 'npm pack wrote a tarball');
    const listing = run('tar', ['-tzf', path.join(dir, tarball)], dir);
    assert.ok(listing.includes('package/dist/index.js') && listing.includes('package/dist/index.d.ts'), 'compiled JavaScript and types are packed');
    assert.ok(!listing.includes('package/src/') && !listing.includes('package/test/'), 'sources and tests stay out of the package');

    const project = path.join(dir, 'app');
    run('mkdir', ['-p', project], dir);
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(dir, tarball)], project);

    const haveModel = existsSync(STORIES);
    if (!haveModel) console.log(`# skipping the generate step: ${STORIES} is absent (../shared/data)`);
    writeFileSync(
      path.join(project, 'use.mjs'),
      `import * as W from 'whetstone';
const r = W.tidy(() => W.matmul(W.tensor([1, 2, 3, 4], [2, 2]), W.tensor([1, 0, 0, 1], [2, 2])).toArray());
console.log(JSON.stringify({ matmul: r, backend: W.getBackend().name }));
if (process.argv[2]) {
  const { model, tokenizer } = W.loadModel(process.argv[2]);
  const [g] = W.generate(model, tokenizer, [tokenizer.encode('Once upon a time', { addBos: true })], { maxTokens: 12, temperature: 0 });
  console.log(JSON.stringify({ text: g.text, tokens: g.tokens.length }));
}
`,
    );
    const out = run(process.execPath, ['use.mjs', ...(haveModel ? [STORIES] : [])], project).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(out[0].matmul, [1, 2, 3, 4]);
    assert.equal(out[0].backend, 'native', 'the installed package built and loaded its native kernels');
    if (haveModel) {
      assert.ok(out[1].tokens > 0 && out[1].text.trim().length > 0, `generated text: ${JSON.stringify(out[1])}`);
      // The same greedy text as the checkout's CLI gives.
      const cli = run(process.execPath, [path.join(ROOT, 'bin/whet.js'), 'generate', '--model', STORIES, '--prompt', 'Once upon a time', '--max-tokens', '12', '--temperature', '0'], ROOT);
      assert.equal(out[1].text, cli);
    }
    const bin = path.join(project, 'node_modules/.bin/whet');
    assert.match(run(bin, ['--version'], project), /^whet \d+\.\d+\.\d+/);
    assert.match(run(bin, ['train', '--help'], project), /--lr N\s+peak learning rate/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
