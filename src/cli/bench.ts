// `whet bench <what> [--json] [--quick] [--realistic]`: runs one benchmark and prints its lines.
import { UsageError } from './errors.ts';
import { nearest, parseCommand } from './options.ts';
import { benchSpec } from './specs.ts';

const benches: Record<string, () => Promise<(opts: { json: boolean; quick: boolean }) => Promise<void>>> = {
  gemm: async () => (await import('../bench/gemm.ts')).benchGemm,
  decode: async () => (await import('../bench/decode.ts')).benchDecode,
  train: async () => (await import('../bench/train.ts')).benchTrain,
};

export async function benchCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'train-child') {
    // Internal: one row of `bench train`, in its own process so that its peak memory is its own.
    const [, method, row] = argv;
    const quick = argv.includes('--quick');
    if (method === 'realistic') await (await import('../bench/train-realistic.ts')).benchTrainRealisticChild(JSON.parse(row!), quick);
    else if (method === 'lora' || method === 'full') await (await import('../bench/train.ts')).benchTrainChild(method, quick);
    else throw new UsageError('usage: whet bench train-child lora|full|realistic ROW');
    return 0;
  }
  const parsed = parseCommand(benchSpec, argv);
  if (parsed === null) return 0;
  const { json, quick, realistic } = parsed.values as { json: boolean; quick: boolean; realistic: boolean };
  const what = parsed.positionals[0]!;
  const load = benches[what];
  if (load === undefined) {
    const guess = nearest(what, Object.keys(benches));
    throw new UsageError(`unknown benchmark '${what}'${guess !== undefined ? `; did you mean '${guess}'?` : ''} (one of ${Object.keys(benches).join(', ')})`);
  }
  if (realistic && what !== 'train') throw new UsageError('--realistic applies to bench train');
  if (realistic) await (await import('../bench/train-realistic.ts')).benchTrainRealistic({ json, quick });
  else await (await load())({ json, quick });
  return 0;
}
