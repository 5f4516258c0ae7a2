// `whet bench <what> [--json] [--quick] [options]`: runs one benchmark and prints its lines.
import { UsageError } from './errors.ts';
import { nearest, parseCommand } from './options.ts';
import { benchSpec } from './specs.ts';
import type { TrainMethod } from '../bench/train.ts';
import type { DecodeDType } from '../bench/decode.ts';
import type { FrozenDType } from '../model/frozen-weights.ts';

const benches: Record<string, () => Promise<(opts: { json: boolean; quick: boolean }) => Promise<void>>> = {
  gemm: async () => (await import('../bench/gemm.ts')).benchGemm,
  decode: async () => (await import('../bench/decode.ts')).benchDecode,
  train: async () => (await import('../bench/train.ts')).benchTrain,
  serve: async () => (await import('../bench/serve.ts')).benchServe,
};

/** Options that belong to one benchmark only. */
const OWNED: Record<string, string> = { realistic: 'train', method: 'train', 'base-dtype': 'train', model: 'decode', dtype: 'decode', batch: 'decode', anchor: 'decode' };

export async function benchCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'decode-child') {
    // Internal: one weight type of `bench decode`, in its own process so that its peak memory is its own.
    await (await import('../bench/decode.ts')).benchDecodeChild(JSON.parse(argv[1]!));
    return 0;
  }
  if (argv[0] === 'train-child') {
    // Internal: one row of `bench train`, in its own process so that its peak memory is its own.
    const [, method, row] = argv;
    const quick = argv.includes('--quick');
    const batch = Number(row); // lora, full, reward, dpo: sequences a step; rl: completions a step
    if (method === 'base') await (await import('../bench/train-quant-base.ts')).benchTrainQuantBaseChild(row as FrozenDType, quick);
    else if (method === 'realistic') await (await import('../bench/train-realistic.ts')).benchTrainRealisticChild(JSON.parse(row!), quick);
    else if (!Number.isInteger(batch) || batch < 1) throw new UsageError('usage: whet bench train-child lora|full|reward|dpo|rl BATCH, or realistic ROW');
    else if (method === 'lora' || method === 'full') await (await import('../bench/train.ts')).benchTrainChild(method, quick, batch);
    else if ((method === 'reward' || method === 'dpo') && batch % 2 === 0) await (await import('../bench/train-preference.ts')).benchPreferenceChild(method, quick, batch);
    else if (method === 'rl') await (await import('../bench/train-rl.ts')).benchRlChild(quick, batch);
    else throw new UsageError('usage: whet bench train-child lora|full|reward|dpo|rl BATCH (reward, dpo: an even BATCH), or realistic ROW');
    return 0;
  }
  const parsed = parseCommand(benchSpec, argv);
  if (parsed === null) return 0;
  const v = parsed.values as {
    json: boolean; quick: boolean; realistic: boolean; method: TrainMethod; model?: string; dtype?: DecodeDType; batch?: number; anchor?: string; 'base-dtype'?: FrozenDType;
  };
  const { json, quick, realistic, method } = v;
  const what = parsed.positionals[0]!;
  const load = benches[what];
  if (load === undefined) {
    const guess = nearest(what, Object.keys(benches));
    throw new UsageError(`unknown benchmark '${what}'${guess !== undefined ? `; did you mean '${guess}'?` : ''} (one of ${Object.keys(benches).join(', ')})`);
  }
  for (const [option, owner] of Object.entries(OWNED))
    if (owner !== what && (v as Record<string, unknown>)[option] !== undefined && (v as Record<string, unknown>)[option] !== false && !(option === 'method' && method === 'sft'))
      throw new UsageError(`--${option} applies to bench ${owner}`);
  if (v['base-dtype'] !== undefined && (realistic || method !== 'sft')) throw new UsageError('--base-dtype measures LoRA SFT; leave out --realistic and --method');
  if (realistic && method !== 'sft') throw new UsageError('--realistic measures SFT only; leave out --method');
  if (realistic) await (await import('../bench/train-realistic.ts')).benchTrainRealistic({ json, quick });
  else if (what === 'train' && v['base-dtype'] !== undefined) await (await import('../bench/train-quant-base.ts')).benchTrainQuantBase({ json, quick, baseDtype: v['base-dtype'] });
  else if (what === 'train') await (await import('../bench/train.ts')).benchTrain({ json, quick, method });
  else if (what === 'decode') await (await import('../bench/decode.ts')).benchDecode({ json, quick, model: v.model, dtypes: v.dtype === undefined ? undefined : [v.dtype], batch: v.batch, anchor: v.anchor });
  else await (await load())({ json, quick });
  return 0;
}
