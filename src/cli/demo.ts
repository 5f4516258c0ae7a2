// `whet demo` (npm run demo): the whole story on this machine: base accuracy, LoRA SFT, accuracy after, forgetting
// check, DPO style step, serving with both adapters, report; one line per step with its figure, the report's path last.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WhetError } from '../errors.ts';
import { forgettingSummaryLine } from '../eval/forgetting.ts';
import { FULL_SETTINGS, QUICK_SETTINGS, runDemo, type DemoStep } from '../recipes/demo.ts';
import { parseCommand } from './options.ts';
import { Progress } from './progress.ts';
import { demoSpec } from './specs.ts';

interface DemoValues {
  model?: string; out?: string; quick: boolean; seed: number; 'forgetting-text'?: string; json: boolean;
}

/** The embedded base model, found from this module's place in the package (src/cli or dist/cli), not from the cwd. */
export const DEFAULT_MODEL = fileURLToPath(new URL('../../models/tiny-base', import.meta.url));

export async function demoCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(demoSpec, argv);
  if (parsed === null) return 0;
  const v = parsed.values as unknown as DemoValues;
  const model = v.model ?? DEFAULT_MODEL;
  if (!existsSync(model)) throw new WhetError(`${model}: no such model${v.model === undefined ? ' (the embedded base model is missing from this checkout; pass --model PATH, an HF folder or a GGUF file)' : ''}`);
  if (v['forgetting-text'] !== undefined && !existsSync(v['forgetting-text'])) throw new WhetError(`${v['forgetting-text']}: no such file`);
  const keep = v.out !== undefined;
  const out = keep ? resolve(v.out!) : mkdtempSync(join(tmpdir(), 'whet-demo-'));
  if (keep && existsSync(out) && readdirSync(out).length > 0) throw new WhetError(`${out} is not empty; choose a new or empty --out folder`);
  const settings = v.quick ? QUICK_SETTINGS : FULL_SETTINGS;
  const print = (line: string, record: Record<string, unknown>): void => {
    process.stdout.write(v.json ? JSON.stringify(record) + '\n' : line + '\n');
  };
  if (!v.json) process.stdout.write(`whet demo${v.quick ? ' --quick' : ''}: model ${model}, working in ${out}\n`);
  const result = await runDemo(
    { model, out, settings, seed: v.seed, forgettingText: v['forgetting-text'] },
    {
      step: (s, seconds) => {
        const [line, record] = describe(s);
        print(`${line}   (${seconds.toFixed(1)} s)`, { ...record, seconds: round(seconds) });
      },
      progress: (label, total, unit) => {
        const bar = new Progress(label.padEnd(18), total, unit);
        let fields: Record<string, number> = {};
        return { update: (d) => bar.update(d, fields), done: () => bar.done(), fields: (f) => (fields = f) };
      },
    },
  );
  // Without --out only the report stays: the data, checkpoints and adapters were the run's scratch.
  if (!keep) for (const name of ['data', 'sft', 'dpo']) rmSync(join(out, name), { recursive: true, force: true });
  if (!v.json) process.stdout.write(`report: ${result.report.html}\n`);
  return 0;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const round = (x: number): number => Math.round(x * 1e4) / 1e4;
const label = (s: string): string => s.padEnd(12);

/** The step's line for people and its record for --json. */
function describe(s: DemoStep): [string, Record<string, unknown>] {
  switch (s.step) {
    case 'data':
      return [`${label('data')} ${s.train} training requests in ${s.trainTemplates} phrasings, ${s.holdout} holdout requests in ${s.holdoutTemplates} unseen phrasings, ${s.pairs} style pairs`, { ...s }];
    case 'base':
    case 'after-sft':
    case 'after-dpo': {
      const name = { base: 'base model', 'after-sft': 'after SFT', 'after-dpo': 'after DPO' }[s.step];
      const sc = s.score;
      return [
        `${label(name)} execution accuracy on ${sc.n} holdout requests   ${pct(sc.accuracy)}   house style ${pct(sc.houseStyle)}`,
        { step: s.step, accuracy: round(sc.accuracy), correct: sc.correct, n: sc.n, house_style: round(sc.houseStyle), correct_house_style: round(sc.correctHouseStyle) },
      ];
    }
    case 'rehearsal':
      return [`${label('rehearsal')} ${s.texts} documents (${s.tokens} tokens) sampled from the base model, mixed into SFT's data so it keeps its general text`, {
        step: 'rehearsal', texts: s.texts, tokens: s.tokens, sample: s.sample,
      }];
    case 'sft': {
      const holdout = s.holdoutLossBefore !== undefined && s.holdoutLossAfter !== undefined ? `, holdout loss ${s.holdoutLossBefore.toFixed(3)} → ${s.holdoutLossAfter.toFixed(3)}` : '';
      return [`${label('LoRA SFT')} ${s.steps} steps, training loss ${s.firstLoss.toFixed(3)} → ${s.lastLoss.toFixed(3)}${holdout}`, {
        step: 'sft', steps: s.steps, first_loss: round(s.firstLoss), last_loss: round(s.lastLoss), holdout_loss_before: s.holdoutLossBefore, holdout_loss_after: s.holdoutLossAfter, adapter: s.adapter,
      }];
    }
    case 'forgetting': {
      const f = s.result;
      return [`${label('forgetting')} ${forgettingSummaryLine(f).replace(/^forgetting check: /, '')} on ${f.base.tokens} tokens of ${s.text} (perplexity ${f.base.ppl.toFixed(2)} → ${f.tuned.ppl.toFixed(2)})`, {
        step: 'forgetting', nll_before: round(f.base.nll), nll_after: round(f.tuned.nll), ppl_before: round(f.base.ppl), ppl_after: round(f.tuned.ppl), increase: round(f.nllIncrease), threshold: f.threshold, verdict: f.verdict, tokens: f.base.tokens,
      }];
    }
    case 'dpo': {
      const acc = s.rewardAccuracy === undefined ? '' : `, holdout pairs ranked right ${pct(s.rewardAccuracy)}`;
      return [`${label('DPO')} ${s.steps} steps on the style pairs over the SFT adapter${acc}`, { step: 'dpo', steps: s.steps, reward_accuracy: s.rewardAccuracy, margin: s.margin, adapter: s.adapter }];
    }
    case 'serve': {
      const c = s.check;
      const answers = c.answers.map((a) => `${a.model}: ${a.answer.split('\n')[0]!.slice(0, 100)} (${a.ms.toFixed(0)} ms)`).join('\n             ');
      return [`${label('whet serve')} ${answers}\n             adapter switch: ${c.switchMs.toFixed(1)} ms per one-token request after another adapter, ${c.sameMs.toFixed(1)} ms after the same one`, {
        step: 'serve', answers: c.answers, switch_ms: round(c.switchMs), same_ms: round(c.sameMs),
      }];
    }
    case 'report':
      return [`${label('report')} ${s.markdown}`, { step: 'report', html: s.html, markdown: s.markdown }];
  }
}
