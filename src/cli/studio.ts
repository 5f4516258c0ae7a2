// `whet studio`: the local web app for ranking answers (--prompts), following training runs (--runs) and comparing
// models on a holdout set (--holdout); one line on stderr when listening, then until SIGINT or SIGTERM.
import { existsSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { FrozenDType } from '../model/frozen-weights.ts';
import { WhetError } from '../errors.ts';
import { readExamples } from '../data/read.ts';
import { defaultStopStrings, evalPrompt } from '../eval/predict.ts';
import { promptExample, readPrompts } from '../eval/prompts.ts';
import type { TextMetric } from '../eval/score.ts';
import { loadModel } from '../model/load.ts';
import { loadRewardModel } from '../eval/reward.ts';
import { createServing } from '../serve/engine.ts';
import { ServeError } from '../serve/types.ts';
import { CandidatePool, type GenerationSettings, type Source } from '../studio/candidates.ts';
import { compareModels } from '../studio/compare.ts';
import { RankSession } from '../studio/rank-session.ts';
import type { CompareState } from '../studio/routes-compare.ts';
import { buildStudioServer, type StudioOptions } from '../studio/server.ts';
import { UsageError } from './errors.ts';
import { parseCommand } from './options.ts';
import { parseAdapters } from './serve.ts';
import { studioSpec } from './specs.ts';

interface StudioValues {
  model?: string; adapter?: string[]; prompts?: string; out?: string; mode: 'rank' | 'thumbs'; k: number; temperature: number; 'top-p': number;
  'max-tokens': number; seed: number; stop?: string[]; annotator?: string; 'per-prompt': number; lease: number; runs?: string; holdout?: string;
  metric: TextMetric; db?: string; scorer?: string; 'reward-model'?: string; 'reward-adapter'?: string; host: string; port: number; 'api-key'?: string; 'body-limit': number; dtype: 'f32' | FrozenDType;
}

const warn = (line: string): void => void process.stderr.write(`whet studio: ${line}\n`);

function checkFile(flag: string, path: string): void {
  if (!statSync(path, { throwIfNoEntry: false })?.isFile()) throw new WhetError(`--${flag} ${path}: no such file`);
}

export async function studioCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(studioSpec, argv);
  if (parsed === null) return 0;
  const v = parsed.values as unknown as StudioValues;
  if (v.prompts === undefined && v.runs === undefined && v.holdout === undefined) throw new UsageError('nothing to show: give --prompts (ranking), --runs (training runs) or --holdout (compare)');
  if ((v.prompts !== undefined || v.holdout !== undefined) && (v.model === undefined || v.out === undefined))
    throw new UsageError(`--${v.prompts !== undefined ? 'prompts' : 'holdout'} needs --model (who answers) and --out (the rankings file)`);
  if (v.prompts !== undefined && v.holdout !== undefined) throw new UsageError('--prompts and --holdout go in separate studios (each writes to its own --out)');
  const adapters = parseAdapters(v.adapter ?? []);
  if (v.holdout !== undefined && adapters.length === 0) throw new UsageError('--holdout compares models: give at least one --adapter NAME=DIR to compare with the base');
  if (v.prompts !== undefined) checkFile('prompts', v.prompts);
  if (v.holdout !== undefined) checkFile('holdout', v.holdout);
  if (v.out !== undefined && !statSync(dirname(resolve(v.out)), { throwIfNoEntry: false })?.isDirectory()) throw new WhetError(`--out ${v.out}: its folder does not exist`);
  if (v.out !== undefined && existsSync(v.out) && !statSync(v.out).isFile()) throw new WhetError(`--out ${v.out}: not a file`);
  if (v.runs !== undefined && !statSync(v.runs, { throwIfNoEntry: false })?.isDirectory()) throw new WhetError(`--runs ${v.runs}: no such folder`);
  if (v.metric === 'sql' && v.db === undefined && v.holdout !== undefined) throw new UsageError('--metric sql needs --db');
  if (v.metric === 'scorer' && v.scorer === undefined && v.holdout !== undefined) throw new UsageError('--metric scorer needs --scorer MODULE');
  if ((v['reward-model'] !== undefined || v['reward-adapter'] !== undefined) && v.holdout === undefined) throw new UsageError('--reward-model scores the answers compared: it goes with --holdout');
  if (v['reward-adapter'] !== undefined && v['reward-model'] === undefined) throw new UsageError('--reward-adapter needs --reward-model (its base)');
  const apiKey = v['api-key'] ?? (process.env.WHET_API_KEY || undefined);
  if (apiKey === '') throw new UsageError('--api-key: the key is empty');
  if (v.annotator !== undefined && v.annotator.trim() === '') throw new UsageError('--annotator: the name is empty');

  const opts: StudioOptions = { models: [], apiKey, bodyLimit: v['body-limit'], runsDir: v.runs === undefined ? undefined : resolve(v.runs) };
  let serving: ReturnType<typeof createServing> | undefined;
  if (v.model !== undefined && (v.prompts !== undefined || v.holdout !== undefined)) {
    const loaded = loadModel(v.model, { dtype: v.dtype });
    try {
      serving = createServing({ loaded, adapters });
    } catch (e) {
      throw e instanceof ServeError ? new WhetError(e.message) : e;
    }
    const sources: Source[] = [{ name: serving.registry.baseId }, ...adapters.map(([name]) => ({ name, adapter: name }))];
    opts.models = sources.map((s) => s.name);
    const out = resolve(v.out!);
    if (v.prompts !== undefined) {
      const set = readPrompts(v.prompts);
      for (const e of set.errors) warn(`left out: ${e}`);
      const examples = set.items.map(promptExample);
      const settings: GenerationSettings = { k: v.k, temperature: v.temperature, topP: v['top-p'], maxTokens: v['max-tokens'], seed: v.seed, stop: v.stop ?? defaultStopStrings(examples, loaded.tokenizer) };
      const pool = new CandidatePool(serving.engine, examples.map((e, i) => evalPrompt(e, loaded.tokenizer, i).ids), sources, settings);
      const session = new RankSession({ prompts: set.items.map((it) => it.prompt), pool, out, mode: v.mode, perPrompt: v['per-prompt'], leaseMs: v.lease * 1000, warn });
      opts.rank = { session, settings, annotator: v.annotator, out, perPrompt: v['per-prompt'] };
    } else {
      const examples = readExamples(v.holdout!, { dedupe: false }).examples;
      const judge = v['reward-model'] === undefined ? undefined : loadRewardModel(v['reward-model'], v['reward-adapter'], v.dtype);
      const state: CompareState = { done: 0, total: examples.length * sources.length };
      opts.compare = { state, out };
      compareModels(serving.engine, loaded.tokenizer, examples, sources, {
        metric: v.metric, maxTokens: v['max-tokens'], stop: v.stop, score: { db: v.db, scorer: v.scorer }, judge,
        onProgress: (done) => void (state.done = done),
      }).then((table) => void (state.table = table), (e: Error) => {
        state.error = e.message;
        warn(`compare failed: ${e.message}`);
      });
    }
  }

  const app = buildStudioServer(opts);
  try {
    await app.listen({ host: v.host, port: v.port });
  } catch (e) {
    serving?.close();
    throw new WhetError(`cannot listen on ${v.host}:${v.port}: ${(e as Error).message}`);
  }
  const { address, port } = app.server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const what = [v.prompts !== undefined ? `ranking ${v.prompts} into ${v.out}` : '', v.holdout !== undefined ? `comparing ${opts.models.join(', ')} on ${v.holdout}` : '', v.runs !== undefined ? `runs under ${v.runs}` : ''].filter((s) => s !== '');
  process.stderr.write(`whet studio: http://${host}:${port}/ (${what.join('; ')})\n`);
  if (apiKey === undefined && !['127.0.0.1', '::1', 'localhost'].includes(v.host)) warn(`warning: listening on ${v.host} without an API key (--api-key or WHET_API_KEY)`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  warn(`${signal}, shutting down`);
  serving?.close();
  // Live curves hold their connections open: end them, or closing would wait for them.
  const closing = app.close();
  app.server.closeAllConnections();
  await closing;
  return 0;
}
