// Every verb's --help, generated from its spec, names every option it accepts; a misspelt option or verb exits 2
// with the nearest one; whet --version; the bash completion script (run in bash) completes verbs, options and values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { COMMANDS } from '../src/cli/specs.ts';
import { nearest, type CommandSpec } from '../src/cli/options.ts';

const BIN = path.resolve(import.meta.dirname, '../bin/whet.js');

/** Runs the whet command; returns its exit code and what it wrote. */
function whet(...argv: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...argv], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const leaves: CommandSpec[] = COMMANDS.flatMap((c) => c.subcommands ?? [c]);

for (const spec of leaves) {
  test(`whet ${spec.name} --help names every option, each with its meaning; a misspelt one is refused with a suggestion`, () => {
    const r = whet(...spec.name.split(' '), '--help');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^usage: whet ${spec.name}`));
    assert.ok(spec.examples.length >= 2, 'two or more examples');
    for (const [name, o] of Object.entries(spec.options)) {
      assert.ok(o.help.trim().length > 8, `--${name} has help text`);
      const lines = r.out.split('\n');
      const flag = o.negatable === true ? `--[no-]${name}` : `--${name}`;
      const at = lines.findIndex((l) => l.trimStart().startsWith(flag + ' ') || l.trim() === flag); // its own row, not a mention
      const row = `${lines[at]} ${lines[at + 1]?.trim()}`; // a long flag puts its help on the next line
      assert.ok(at >= 0 && row.includes(o.help), `--help shows ${flag} with its help`);
    }
    const options = Object.keys(spec.options);
    if (options.length === 0) return;
    const target = options.reduce((a, b) => (b.length > a.length ? b : a)); // the longest: a typo stays nearest to it
    const typo = `${target.slice(0, -2)}${target.at(-1)}${target.at(-2)}`; // last two letters swapped
    const bad = whet(...spec.name.split(' '), `--${typo}`, 'x');
    assert.equal(bad.code, 2);
    assert.match(bad.err, new RegExp(`unknown option --${typo}; did you mean --${target}\\?`));
  });
}

test('whet --help lists every verb; whet help VERB equals whet VERB --help; --version; unknown verbs suggest', () => {
  const top = whet('--help');
  assert.equal(top.code, 0);
  for (const c of COMMANDS) assert.match(top.out, new RegExp(`^  ${c.name} `, 'm'));
  assert.deepEqual(whet('help', 'eval'), whet('eval', '--help'));
  const v = whet('--version');
  assert.match(v.out, /^whet \d+\.\d+\.\d+\n$/);
  const bad = whet('genrate');
  assert.equal(bad.code, 2);
  assert.match(bad.err, /unknown verb 'genrate'; did you mean 'generate'\?/);
  const sub = whet('data', 'inspekt', 'f.jsonl');
  assert.equal(sub.code, 2);
  assert.match(sub.err, /did you mean 'inspect'\?/);
});

test('values are checked against the spec: numbers, ranges, choices, required options', () => {
  assert.match((whet('generate', '--model', 'm', '--top-p', '2')).err, /--top-p must be at most 1, got 2/);
  assert.match((whet('eval', '--data', 'd', '--metric', 'bleu')).err, /--metric must be one of exact, normalized, sql, ppl, scorer/);
  assert.match((whet('perplexity', '--model', 'm')).err, /--text is required/);
  assert.match((whet('train', '--steps', 'many')).err, /--steps expects an integer, got 'many'/);
  assert.equal((whet('convert', 'only-one')).code, 2);
  assert.equal(nearest('lerning-rate', ['lr', 'steps', 'seed']), 'lr', 'initials of the words');
  assert.equal(nearest('zzz', ['model', 'data']), undefined, 'nothing close: no suggestion');
});

test('the bash completion script completes verbs, sub-verbs, options and choice values', { skip: spawnSync('bash', ['--version']).status !== 0 && 'bash is not installed' }, () => {
  const script = (whet('completion', 'bash')).out;
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-completion-'));
  try {
    const file = path.join(dir, 'whet.bash');
    writeFileSync(file, script);
    const complete = (...words: string[]): string[] => {
      const r = spawnSync('bash', ['-c', `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _whet; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8', cwd: dir });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter((s) => s !== '');
    };
    assert.deepEqual(complete('whet', 'tr'), ['train']);
    assert.deepEqual(complete('whet', 'data', 'in'), ['inspect']);
    assert.deepEqual(complete('whet', 'data', 'inspect', '--m').sort(), ['--max-len', '--model']);
    assert.deepEqual(complete('whet', 'eval', '--metric', 's').sort(), ['scorer', 'sql']);
    assert.ok(complete('whet', 'train', '--no-').includes('--no-group-by-length'));
    assert.deepEqual(complete('whet', 'generate', '--dtype', ''), ['f32', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const shell of ['zsh', 'fish']) {
    const text = (whet('completion', shell)).out;
    for (const spec of leaves) for (const name of Object.keys(spec.options)) assert.ok(text.includes(`${shell === 'fish' ? '-l ' : '--'}${name}`), `${shell} completes --${name} of ${spec.name}`);
  }
});
