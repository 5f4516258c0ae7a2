// The demo, top to bottom: the SQL task generated (shop database, requests, pairs), the base model scored on the
// holdout (and rehearsal text sampled from it), LoRA SFT, the holdout again, the forgetting check, DPO on the style pairs over the SFT adapter, the server
// with the base and both adapters, and the report. Each step hands its figures to hooks.step as it finishes.
import { mkdirSync, readFileSync } from 'node:fs';
import { writeTextAtomic } from '../formats/atomic.ts';
import { rehearsalTexts, withRehearsal } from '../data/rehearsal.ts';
import { join } from 'node:path';
import { WhetError } from '../errors.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { modelContext } from '../model/context.ts';
import { loadAdapter } from '../adapters/peft.ts';
import { setLoraEnabled } from '../adapters/apply.ts';
import { perplexity, type PerplexityResult } from '../eval/perplexity.ts';
import { forgettingVerdict, type ForgettingResult } from '../eval/forgetting.ts';
import type { StepMetrics } from '../train/trainer.ts';
import { generateDemoData, type DemoData } from '../demo/dataset.ts';
import { scoreHoldout, type HoldoutScore, type Ticker } from '../demo/evaluate.ts';
import { serveCheck, type ServeCheck } from '../demo/serve-check.ts';
import { GENERAL_TEXT } from '../demo/general-text.ts';
import { writeDemoReport } from '../demo/report.ts';
import { resolveTrainConfig } from './train-config.ts';
import { runSft } from './sft.ts';
import { runDpo } from './dpo.ts';

/** The sizes and training settings of one demo run (full or --quick). */
export interface DemoSettings {
  trainSize: number;
  holdoutSize: number;
  pairCount: number;
  houseShare: number;
  /** Documents sampled from the base and mixed into SFT's data (self-rehearsal, against forgetting), and their length. */
  rehearsal: { count: number; maxTokens: number };
  sft: { steps: number; lr: number; batchSize: number; rank: number; evalEvery: number };
  /** rpoAlpha: weight of the chosen answers' NLL beside the DPO loss, so that accuracy holds while the style moves. */
  dpo: { steps: number; lr: number; batchSize: number; beta: number; rpoAlpha: number };
  maxTokens: number;
  batchSize: number;
}

export const FULL_SETTINGS: DemoSettings = {
  trainSize: 1500, holdoutSize: 300, pairCount: 400, houseShare: 0.35, rehearsal: { count: 400, maxTokens: 128 },
  sft: { steps: 2400, lr: 3e-3, batchSize: 16, rank: 16, evalEvery: 400 },
  dpo: { steps: 40, lr: 1e-4, batchSize: 8, beta: 0.2, rpoAlpha: 1 },
  maxTokens: 96, batchSize: 16,
};

export const QUICK_SETTINGS: DemoSettings = {
  ...FULL_SETTINGS, holdoutSize: 32,
  sft: { steps: 450, lr: 3e-3, batchSize: 16, rank: 16, evalEvery: 0 },
  dpo: { steps: 20, lr: 5e-4, batchSize: 8, beta: 0.2, rpoAlpha: 1 },
};

export interface DemoOptions {
  model: string;
  out: string;
  settings: DemoSettings;
  seed: number;
  /** General English text for the forgetting check (default: the bundled text). */
  forgettingText?: string;
}

export type DemoStep =
  | { step: 'data'; train: number; holdout: number; pairs: number; trainTemplates: number; holdoutTemplates: number; db: string }
  | { step: 'base'; score: HoldoutScore }
  | { step: 'rehearsal'; texts: number; tokens: number; sample: string }
  | { step: 'sft'; steps: number; firstLoss: number; lastLoss: number; holdoutLossBefore?: number; holdoutLossAfter?: number; adapter: string }
  | { step: 'after-sft'; score: HoldoutScore }
  | { step: 'forgetting'; result: ForgettingResult; text: string }
  | { step: 'dpo'; steps: number; rewardAccuracy?: number; margin?: number; adapter: string }
  | { step: 'after-dpo'; score: HoldoutScore }
  | { step: 'serve'; check: ServeCheck }
  | { step: 'report'; html: string; markdown: string };

export interface DemoHooks {
  /** A finished step and its figures, with the seconds it took. */
  step?: (s: DemoStep, seconds: number) => void;
  /** A progress bar for a step's work (generation and scoring, training steps, perplexity). */
  progress?: (label: string, total: number, unit: string) => Ticker & { fields?(f: Record<string, number>): void };
  log?: (line: string) => void;
}

export interface DemoResult {
  data: DemoData;
  base: HoldoutScore;
  sft: HoldoutScore;
  dpo: HoldoutScore;
  forgetting: ForgettingResult;
  serve: ServeCheck;
  report: { html: string; markdown: string };
}

export async function runDemo(o: DemoOptions, hooks: DemoHooks = {}): Promise<DemoResult> {
  const s = o.settings;
  const log = hooks.log ?? (() => {});
  const bar = (label: string, total: number, unit: string): Ticker => hooks.progress?.(label, total, unit) ?? { update: () => {}, done: () => {} };
  let t0 = performance.now();
  const done = (step: DemoStep): void => {
    const now = performance.now();
    hooks.step?.(step, (now - t0) / 1000);
    t0 = now;
  };
  const forgettingText = o.forgettingText === undefined ? GENERAL_TEXT : readText(o.forgettingText);
  mkdirSync(o.out, { recursive: true });

  // ---- data ----
  const dataDir = join(o.out, 'data');
  mkdirSync(dataDir, { recursive: true });
  // The forgetting check's text goes beside the task's files, so later runs (whet eval --forgetting) can reuse it.
  writeTextAtomic(join(dataDir, 'general.txt'), forgettingText);
  const data = generateDemoData(dataDir, { seed: o.seed, trainSize: s.trainSize, holdoutSize: s.holdoutSize, pairCount: s.pairCount, houseShare: s.houseShare });
  done({ step: 'data', train: data.train.length, holdout: data.holdout.length, pairs: data.pairs.length, trainTemplates: data.trainTemplates.length, holdoutTemplates: data.holdoutTemplates.length, db: data.db });
  const evaluate = (loaded: LoadedModel, label: string): Promise<HoldoutScore> =>
    scoreHoldout(loaded, data.holdout, data.db, { maxTokens: s.maxTokens, batchSize: s.batchSize, ticker: bar(label, 2 * data.holdout.length, 'ex') });

  // ---- the base model on the holdout, and rehearsal text in its own words for SFT to keep ----
  const sftData = join(dataDir, 'sft.jsonl');
  const base = await withModel(o.model, undefined, async (m) => {
    const score = await evaluate(m, 'base model');
    done({ step: 'base', score });
    const t = bar('rehearsal text', s.rehearsal.count, 'doc');
    const docs = rehearsalTexts(m, s.rehearsal.count, { maxTokens: s.rehearsal.maxTokens, seed: o.seed, onProgress: (d) => t.update(d) });
    t.done();
    withRehearsal(readFileSync(data.files.train, 'utf8'), docs, sftData);
    done({ step: 'rehearsal', texts: docs.length, tokens: docs.reduce((n, d) => n + d.tokens, 0), sample: docs[0]?.text ?? '' });
    return score;
  });

  // ---- LoRA SFT ----
  const sftOut = join(o.out, 'sft');
  const sftCfg = resolveTrainConfig(undefined, {
    method: 'sft', model: o.model, data: sftData, holdout: data.files.holdout, out: sftOut, steps: String(s.sft.steps), lr: String(s.sft.lr),
    batch_size: String(s.sft.batchSize), rank: String(s.sft.rank), alpha: String(2 * s.sft.rank), dropout: '0', warmup_steps: String(Math.min(20, Math.floor(s.sft.steps / 10))),
    eval_every: String(s.sft.evalEvery), save_every: '0', max_length: '128', seed: String(o.seed),
  });
  const losses: number[] = [];
  const sftBar = bar('LoRA SFT', s.sft.steps, 'step');
  const sftRun = await runSft(sftCfg, { onStep: trainingBar(sftBar, losses), log });
  sftBar.done();
  done({ step: 'sft', steps: s.sft.steps, firstLoss: losses[0] ?? NaN, lastLoss: losses.at(-1) ?? NaN, holdoutLossBefore: sftRun.holdoutLossBefore, holdoutLossAfter: sftRun.holdoutLossAfter, adapter: sftRun.output });

  // ---- the holdout after SFT, and the forgetting check (the same weights, adapter off and on) ----
  const tuned = loadModel(o.model);
  let sft: HoldoutScore;
  let forgetting: ForgettingResult;
  try {
    loadAdapter(sftRun.output, tuned.model);
    sft = await evaluate(tuned, 'after SFT');
    done({ step: 'after-sft', score: sft });
    forgetting = forgettingCheckOf(tuned, forgettingText, bar);
    done({ step: 'forgetting', result: forgetting, text: o.forgettingText ?? 'bundled general English text' });
  } finally {
    tuned.model.dispose();
  }

  // ---- DPO on the style pairs, continuing the SFT adapter (which is also its reference) ----
  const dpoOut = join(o.out, 'dpo');
  const dpoCfg = resolveTrainConfig(undefined, {
    method: 'dpo', model: o.model, adapter: sftRun.output, data: data.files.pairs, out: dpoOut, steps: String(s.dpo.steps), lr: String(s.dpo.lr),
    batch_size: String(s.dpo.batchSize), beta: String(s.dpo.beta), rpo_alpha: String(s.dpo.rpoAlpha), warmup_steps: '0', eval_every: '0', save_every: '0', max_length: '128', holdout_fraction: '0.05', seed: String(o.seed),
  });
  const dpoBar = bar('DPO', s.dpo.steps, 'step');
  const dpoRun = await runDpo(dpoCfg, { onStep: trainingBar(dpoBar, []), log });
  dpoBar.done();
  done({ step: 'dpo', steps: s.dpo.steps, rewardAccuracy: dpoRun.holdoutAfter?.metrics?.['rewards/accuracies'], margin: dpoRun.holdoutAfter?.metrics?.['rewards/margins'], adapter: dpoRun.output });
  const dpo = await withModel(o.model, dpoRun.output, (m) => evaluate(m, 'after DPO'));
  done({ step: 'after-dpo', score: dpo });

  // ---- serving: the base and both adapters behind one server ----
  const serve = await serveCheck(o.model, [['sql-sft', sftRun.output], ['sql-style', dpoRun.output]], data.holdout[0]!.request, s.maxTokens);
  done({ step: 'serve', check: serve });

  // ---- report ----
  const report = writeDemoReport(o.out, { data, base, sft, dpo, forgetting, serve, sftRun: sftOut, dpoRun: dpoOut, settings: s, model: o.model });
  done({ step: 'report', ...report });
  return { data, base, sft, dpo, forgetting, serve, report };
}

/** Runs fn on the model (with the adapter, if any) and frees it after. */
async function withModel<T>(path: string, adapter: string | undefined, fn: (m: LoadedModel) => Promise<T>): Promise<T> {
  const loaded = loadModel(path);
  try {
    if (adapter !== undefined) loadAdapter(adapter, loaded.model);
    return await fn(loaded);
  } finally {
    loaded.model.dispose();
  }
}

/** Perplexity of the general text with the model's adapter off (the base) and on, and the verdict. */
function forgettingCheckOf(m: LoadedModel, text: string, bar: (label: string, total: number, unit: string) => Ticker): ForgettingResult {
  const ids = m.tokenizer.encode(text, { addBos: true });
  if (ids.length < 2) throw new WhetError('the forgetting text is too short to score');
  const ctx = Math.min(512, modelContext(m.config));
  const ppl = (label: string): PerplexityResult => {
    const t = bar(label, ids.length - 1, 'tok');
    const r = perplexity(m.model, ids, ctx, (d) => t.update(d));
    t.done();
    return r;
  };
  setLoraEnabled(m.model, false);
  const before = ppl('forgetting: base');
  setLoraEnabled(m.model, true);
  return forgettingVerdict(before, ppl('forgetting: SFT'));
}

/** Advances the bar with each training step and keeps its loss. */
function trainingBar(t: Ticker & { fields?(f: Record<string, number>): void }, losses: number[]): (m: StepMetrics) => void {
  return (m) => {
    losses.push(m.loss);
    t.fields?.({ loss: m.loss });
    t.update(m.step);
  };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new WhetError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}
