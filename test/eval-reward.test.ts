// `whet eval --metric reward-accuracy | win-rate`: counting (ties), prompts from every file kind, usage errors, and
// with stories260K a reward model and an SFT adapter trained in seconds, checked against `whet score`'s own rewards.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';
import { winRate } from '../src/eval/win-rate.ts';
import { readPrompts } from '../src/eval/prompts.ts';

function whet(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/whet.js', ...args], { encoding: 'utf8', env: { ...process.env, WHET_NO_PROGRESS: '1' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r) + '\n').join('');
const lines = <T>(path: string): T[] => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as T);

test('winRate: a win counts 1, a tie ½, a loss 0; means of both sides', () => {
  const w = winRate([1, 2, 3, 3, -1], [0, 2, 4, 1, -1]);
  assert.deepEqual([w.wins, w.ties, w.losses, w.n], [2, 2, 1, 5]);
  assert.deepEqual(w.outcomes, ['win', 'tie', 'loss', 'win', 'tie']);
  assert.equal(w.score, (2 + 2 / 2) / 5);
  assert.equal(w.reward, 8 / 5);
  assert.equal(w.base_reward, 6 / 5);
  assert.throws(() => winRate([1], [1, 2]));
});

test('readPrompts: pairs, rankings, thumbs, bare prompts and training examples; repeats dropped; bad rows named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-prompts-'));
  try {
    const p = join(dir, 'mixed.jsonl');
    const chat = [{ role: 'user', content: 'Hi?' }];
    writeFileSync(p, jsonl([
      { prompt: 'Q1', chosen: ' good', rejected: ' bad' },
      { prompt: 'Q2', responses: [' a', ' b', ' c'], ranking: [2, 0, 1] },
      { prompt: 'Q3', completion: ' meh', label: false },
      { prompt: 'Q4' },
      { prompt: chat },
      { messages: [...chat, { role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'Bye?' }] },
      { prompt: 'Q5', completion: ' five' },
      { messages: [...chat, { role: 'assistant', content: 'Hello.' }] },
      { prompt: 'Q1', chosen: ' other', rejected: ' worse' },
    ]));
    const s = readPrompts(p);
    assert.equal(s.rows, 9);
    assert.equal(s.repeated, 2); // Q1 again, and the chat prompt [user: Hi?] of row 8
    assert.deepEqual(s.items.map((i) => i.prompt), ['Q1', 'Q2', 'Q3', 'Q4', chat, [...chat, { role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'Bye?' }], 'Q5']);
    // References only hint at stop strings: a pair's chosen answer, a ranking's best, no thumbs-down answer.
    assert.deepEqual(s.items.map((i) => i.reference), [' good', ' c', undefined, undefined, undefined, undefined, ' five']);
    assert.equal(s.items[6]!.where, 'mixed.jsonl:7');

    // Bad rows are left out and described, as training leaves them out; a file of nothing but bad rows is an error.
    writeFileSync(p, jsonl([{ prompt: 'ok' }, { prompt: [{ role: 'assistant', content: 'x' }] }, { nothing: 1 }]));
    const some = readPrompts(p);
    assert.deepEqual(some.items.map((i) => i.prompt), ['ok']);
    assert.equal(some.errorCount, 2);
    assert.match(some.errors[0]!, /^mixed\.jsonl:2: field 'prompt': the prompt must end with a user turn/);
    assert.match(some.errors[1]!, /^mixed\.jsonl:3: unrecognised row/);
    writeFileSync(p, jsonl([{ nothing: 1 }]));
    assert.throws(() => readPrompts(p), /mixed\.jsonl: no prompts; every row is invalid/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('whet eval reward metrics: usage errors exit 2 (or 1 for bad data) before any model is loaded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'whet-eval-rm-'));
  try {
    const prefs = join(dir, 'prefs.jsonl');
    writeFileSync(prefs, jsonl([{ prompt: 'Q', chosen: ' a', rejected: ' b' }]));
    const sft = join(dir, 'sft.jsonl');
    writeFileSync(sft, jsonl([{ prompt: 'Q', completion: ' a' }]));
    const none = join(dir, 'absent.gguf');
    const cases: [string[], number, RegExp][] = [
      [['--metric', 'win-rate', '--model', none, '--adapter', dir, '--data', prefs], 2, /--metric win-rate needs --reward-model/],
      [['--metric', 'win-rate', '--model', none, '--reward-model', none, '--data', prefs], 2, /compares two models: give --adapter/],
      [['--metric', 'reward-accuracy', '--model', none, '--base', none, '--data', prefs], 2, /--base does not apply to --metric reward-accuracy/],
      [['--metric', 'reward-accuracy', '--model', none, '--data', prefs, '--predictions', prefs], 2, /--predictions does not apply/],
      [['--metric', 'exact', '--model', none, '--reward-model', none, '--data', sft], 2, /--reward-model applies to --metric win-rate/],
      [['--metric', 'reward-accuracy', '--model', none, '--data', sft], 1, /needs preference pairs/],
      [['--metric', 'win-rate', '--model', none, '--adapter', dir, '--reward-model', none, '--data', prefs], 1, /absent\.gguf: no such reward model/],
    ];
    for (const [args, code, message] of cases) {
      const r = whet('eval', ...args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Prompts whose preferred answer is ' A + B.' (the codes joined, a full stop) rather than ' A B' or a story. */
const SYMPTOMS = ['fever and rash', 'cough and fever', 'headache', 'back pain', 'sore throat', 'nausea', 'chest pain', 'dizziness', 'rash', 'fatigue', 'joint pain', 'ear ache'];
const cases = SYMPTOMS.map((s, i) => ({ prompt: `Symptoms: ${s}. Codes:`, good: ` R${10 + 3 * i} + R${20 + 7 * i}.`, bare: ` R${10 + 3 * i} R${20 + 7 * i}` }));

describe('with stories260K: a reward model and an SFT adapter trained on the preferred style', { skip: sharedSkip }, () => {
  let dir = '';
  const path = (name: string): string => join(dir, name);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'whet-eval-rm-'));
    const train = cases.slice(0, 8);
    writeFileSync(path('rm.jsonl'), jsonl(train.flatMap((c) => [
      { prompt: c.prompt, chosen: c.good, rejected: c.bare },
      { prompt: c.prompt, chosen: c.good, rejected: ' Once upon a time, there was a little dog.' },
    ])));
    writeFileSync(path('rm-holdout.jsonl'), jsonl(train.slice(0, 2).map((c) => ({ prompt: c.prompt, chosen: c.good, rejected: c.bare }))));
    const rm = whet('train', '--method', 'reward', '--model', STORIES_GGUF, '--data', path('rm.jsonl'), '--holdout', path('rm-holdout.jsonl'), '--out', path('rm'), '--steps', '40', '--lr', '3e-3', '--batch-size', '8', '--eval-every', '0');
    assert.equal(rm.code, 0, rm.stderr);
    writeFileSync(path('sft.jsonl'), jsonl(cases.map((c) => ({ prompt: c.prompt, completion: c.good }))));
    const sft = whet('train', '--model', STORIES_GGUF, '--data', path('sft.jsonl'), '--out', path('sft'), '--steps', '150', '--lr', '1e-2', '--batch-size', '16');
    assert.equal(sft.code, 0, sft.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('reward-accuracy is the share of pairs whose chosen answer whet score rewards higher, with its counts', () => {
    // Unseen prompts in the preferred order, and three pairs the other way round (the model should get those "wrong").
    const rows = [
      ...cases.slice(8).map((c) => ({ prompt: c.prompt, chosen: c.good, rejected: c.bare })),
      ...cases.slice(9).map((c) => ({ prompt: c.prompt, chosen: c.bare, rejected: c.good })),
    ];
    writeFileSync(path('prefs.jsonl'), jsonl(rows));
    const args = ['--model', STORIES_GGUF, '--adapter', path('rm/adapter'), '--data', path('prefs.jsonl')];
    const r = whet('eval', '--metric', 'reward-accuracy', ...args, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, number>;

    const s = whet('score', ...args, '--json');
    assert.equal(s.code, 0, s.stderr);
    const scored = s.stdout.trim().split('\n').map((l) => JSON.parse(l) as { chosen: number; rejected: number });
    assert.equal(scored.length, rows.length);
    const right = scored.filter((x) => x.chosen > x.rejected).length;
    assert.equal(out.n, rows.length);
    assert.equal(out.right, right);
    assert.equal(out.ties, scored.filter((x) => x.chosen === x.rejected).length);
    assert.equal(out.wrong, rows.length - right);
    assert.equal(out.score, right / rows.length);
    const margin = scored.reduce((a, x) => a + x.chosen - x.rejected, 0) / rows.length;
    assert.ok(Math.abs(out.margin! - margin) < 1e-3 * Math.max(1, Math.abs(margin)), `margin ${out.margin} vs ${margin} from whet score`);
    // The model learned the style: the four pairs in the preferred order are right, the three reversed ones wrong.
    assert.ok(right >= 4 && right < rows.length, `${right} right of ${rows.length}`);
    assert.ok(out.chosen_length! > 0 && out.rejected_length! > 0 && Math.abs(out.length_correlation!) <= 1);

    const text = whet('eval', '--metric', 'reward-accuracy', ...args, '--limit', '3');
    assert.equal(text.code, 0, text.stderr);
    const first3 = scored.slice(0, 3).filter((x) => x.chosen > x.rejected).length;
    assert.match(text.stdout, new RegExp(`^reward pairwise accuracy: ${(first3 / 3).toFixed(4)} over 3 pairs  \\(${first3} right, ${3 - first3} wrong, of which 0 ties`));

    // A generation adapter is no reward model: a clear error.
    const bad = whet('eval', '--metric', 'reward-accuracy', '--model', STORIES_GGUF, '--adapter', path('sft/adapter'), '--data', path('prefs.jsonl'));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not a reward model's adapter/);

    // --report into the reward run's folder: the evaluation table and the run's accuracy/margin chart.
    const rep = whet('eval', '--metric', 'reward-accuracy', ...args, '--report', path('rm'));
    assert.equal(rep.code, 0, rep.stderr);
    const md = readFileSync(path('rm/report.md'), 'utf8');
    assert.match(md, new RegExp(`\\| reward pairwise accuracy \\| — \\| ${(right / rows.length).toFixed(4)} \\|`));
    assert.match(md, /!\[reward margins and accuracies\]\(report-rewards\.svg\)/);
    const svg = readFileSync(path('rm/report-rewards.svg'), 'utf8');
    const named = [...svg.matchAll(/data-series="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(named, ['margin', 'accuracy']);
    // One point per training step in each (the run has 40 steps and no evaluations in between).
    for (const name of named) assert.equal(new RegExp(`data-series="${name}" d="([^"]*)"`).exec(svg)![1]!.split(/[ML]/).filter((x) => x !== '').length, 40);
  });

  test('win-rate: the SFT adapter beats its base; counts add up; rewards agree with whet score; sides swap; equal sides tie', () => {
    // 12 distinct prompts; the repeated first row is answered once.
    writeFileSync(path('prompts.jsonl'), jsonl([...cases.map((c) => ({ prompt: c.prompt })), { prompt: cases[0]!.prompt }]));
    const common = ['--metric', 'win-rate', '--model', STORIES_GGUF, '--reward-model', STORIES_GGUF, '--reward-adapter', path('rm/adapter'), '--data', path('prompts.jsonl'), '--max-tokens', '12', '--json'];
    const r = whet('eval', ...common, '--adapter', path('sft/adapter'), '--save-predictions', path('wr.jsonl'));
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, number>;
    assert.equal(out.n, cases.length);
    assert.equal(out.wins! + out.ties! + out.losses!, out.n);
    assert.equal(out.score, (out.wins! + out.ties! / 2) / out.n!);
    assert.ok(out.score! >= 0.75 && out.reward! > out.base_reward!, `win rate ${out.score}: rewards ${out.reward} vs ${out.base_reward}`);
    assert.equal(out.same_answers, 0);

    type Saved = { where: string; prompt: string; prediction: string; reward: number; base_prediction: string; base_reward: number; outcome: string };
    const saved = lines<Saved>(path('wr.jsonl'));
    assert.deepEqual(saved.map((s) => s.prompt), cases.map((c) => c.prompt));
    for (const s of saved) assert.equal(s.outcome, s.reward > s.base_reward ? 'win' : s.reward < s.base_reward ? 'loss' : 'tie');
    // The adapter answers in the trained style; the base does not.
    assert.ok(saved.filter((s) => /^ R\d+ \+ R\d+/.test(s.prediction)).length >= 10, saved.map((s) => s.prediction).join(' | '));
    assert.ok(saved.every((s) => !/^ R\d+ \+ R\d+/.test(s.base_prediction)));

    // whet score on the saved answers gives the same rewards, hence the same counts.
    writeFileSync(path('answers.jsonl'), jsonl(saved.flatMap((s) => [{ prompt: s.prompt, completion: s.prediction }, { prompt: s.prompt, completion: s.base_prediction }])));
    const sc = whet('score', '--model', STORIES_GGUF, '--adapter', path('rm/adapter'), '--data', path('answers.jsonl'), '--json');
    assert.equal(sc.code, 0, sc.stderr);
    const rewards = sc.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { reward: number }).reward);
    assert.equal(rewards.length, 2 * saved.length);
    saved.forEach((s, i) => {
      assert.ok(Math.abs(s.reward - rewards[2 * i]!) < 1e-3 && Math.abs(s.base_reward - rewards[2 * i + 1]!) < 1e-3, `${s.where}: ${s.reward}/${s.base_reward} vs ${rewards[2 * i]}/${rewards[2 * i + 1]}`);
    });
    assert.equal(out.wins, saved.filter((_, i) => rewards[2 * i]! > rewards[2 * i + 1]!).length);

    // The base as "the model" against the adapter as the opponent: wins and losses trade places.
    const swapped = whet('eval', ...common, '--base-adapter', path('sft/adapter'));
    assert.equal(swapped.code, 0, swapped.stderr);
    const sw = JSON.parse(swapped.stdout) as Record<string, number>;
    assert.deepEqual([sw.wins, sw.ties, sw.losses], [out.losses, out.ties, out.wins]);
    assert.ok(Math.abs(sw.score! - (1 - out.score!)) < 1e-12);

    // The same adapter on both sides: identical answers, every prompt a tie, a win rate of exactly one half.
    const same = whet('eval', ...common, '--adapter', path('sft/adapter'), '--base-adapter', path('sft/adapter'));
    assert.equal(same.code, 0, same.stderr);
    const sa = JSON.parse(same.stdout) as Record<string, number>;
    assert.deepEqual([sa.wins, sa.ties, sa.losses, sa.same_answers, sa.score], [0, cases.length, 0, cases.length, 0.5]);

    // Adapters in the wrong places are refused before anything is generated.
    const judgeAsPolicy = whet('eval', ...common, '--adapter', path('rm/adapter'));
    assert.equal(judgeAsPolicy.code, 1);
    assert.match(judgeAsPolicy.stderr, /a reward model's adapter, which generates nothing; --adapter takes a generation adapter/);
    const policyAsJudge = whet('eval', ...common.map((a) => (a === path('rm/adapter') ? path('sft/adapter') : a)), '--adapter', path('sft/adapter'));
    assert.equal(policyAsJudge.code, 1);
    assert.match(policyAsJudge.stderr, /not a reward model's adapter/);

    // The human-readable line says how ties count.
    const text = whet('eval', ...common.filter((a) => a !== '--json'), '--adapter', path('sft/adapter'), '--limit', '4');
    assert.equal(text.code, 0, text.stderr);
    const first4 = saved.slice(0, 4);
    const wins4 = first4.filter((s) => s.outcome === 'win').length;
    assert.match(text.stdout, new RegExp(`^win rate: ${((wins4 + first4.filter((s) => s.outcome === 'tie').length / 2) / 4).toFixed(4)} over 4 prompts  \\(${wins4} wins?, .*; a tie counts half\\)`));
    assert.ok(!existsSync(path('wr.jsonl.tmp')));
  });
});
