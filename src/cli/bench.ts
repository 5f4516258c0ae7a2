// `whet bench <what> [--json] [--quick] [--realistic] [--method M]`: runs one benchmark and prints its lines.
import { UsageError } from './errors.ts';
import { nearest, parseCommand } from './options.ts';
import { benchSpec } from './specs.ts';
import type { TrainMethod } from '../bench/train.ts';

const benches: Record<string, () => Promise<(opts: { json: boolean; quick: boolean }) => Promise<void>>> = {
  gemm: async () => (await import('../bench/gemm.ts')).benchGemm,
  decode: async () => (await import('../bench/decode.ts')).benchDecode,
  train: async () => (await import('../bench/train.ts')).benchTrain,
  serve: async () => (await import('../bench/serve.ts')).benchServe,
};

export async function benchCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'train-child') {
    // Internal: one row of `bench train`, in its own process so that its peak memory is its own.
    const [, method, row] = argv;
    const quick = argv.includes('--quick');
    const batch = Number(row); // lora, full, reward, dpo: sequences a step; rl: completions a step
    if (method === 'realistic') await (await import('../bench/train-realistic.ts')).benchTrainRealisticChild(JSON.parse(row!), quick);
    else if (!Number.isInteger(batch) || batch < 1) throw new UsageError('usage: whet bench train-child lora|full|reward|dpo|rl BATCH, or realistic ROW');
    else if (method === 'lora' || method === 'full') await (await import('../bench/train.ts')).benchTrainChild(method, quick, batch);
    else if ((method === 'reward' || method === 'dpo') && batch % 2 === 0) await (await import('../bench/train-preference.ts')).benchPreferenceChild(method, quick, batch);
    else if (method === 'rl') await (await import('../bench/train-rl.ts')).benchRlChild(quick, batch);
    else throw new UsageError('usage: whet bench train-child lora|full|reward|dpo|rl BATCH (reward, dpo: an even BATCH), or realistic ROW');
    return 0;
  }
  const parsed = parseCommand(benchSpec, argv);
  if (parsed === null) return 0;
  const { json, quick, realistic, method } = parsed.values as { json: boolean; quick: boolean; realistic: boolean; method: TrainMethod };
  const what = parsed.positionals[0]!;
  const load = benches[what];
  if (load === undefined) {
    const guess = nearest(what, Object.keys(benches));
    throw new UsageError(`unknown benchmark '${what}'${guess !== undefined ? `; did you mean '${guess}'?` : ''} (one of ${Object.keys(benches).join(', ')})`);
  }
  if (realistic && what !== 'train') throw new UsageError('--realistic applies to bench train');
  if (method !== 'sft' && what !== 'train') throw new UsageError('--method applies to bench train');
  if (realistic && method !== 'sft') throw new UsageError('--realistic measures SFT only; leave out --method');
  if (realistic) await (await import('../bench/train-realistic.ts')).benchTrainRealistic({ json, quick });
  else if (what === 'train') await (await import('../bench/train.ts')).benchTrain({ json, quick, method });
  else await (await load())({ json, quick });
  return 0;
}
