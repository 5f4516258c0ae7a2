// `whet bench <what> [--json] [--threads N]`: runs one benchmark and prints its lines.
import { parseArgs } from 'node:util';
import { UsageError } from './errors.ts';

const benches: Record<string, () => Promise<(opts: { json: boolean; quick: boolean }) => Promise<void>>> = {
  gemm: async () => (await import('../bench/gemm.ts')).benchGemm,
  decode: async () => (await import('../bench/decode.ts')).benchDecode,
  train: async () => (await import('../bench/train.ts')).benchTrain,
};

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false }, realistic: { type: 'boolean', default: false } },
  });
  const what = positionals[0];
  if (what === 'train-child') {
    // Internal: one method of `bench train`, in its own process so that its peak memory is its own.
    const method = positionals[1];
    if (method === 'realistic') {
      await (await import('../bench/train-realistic.ts')).benchTrainRealisticChild(JSON.parse(positionals[2]!), values.quick ?? false);
      return 0;
    }
    if (method !== 'lora' && method !== 'full') throw new UsageError('usage: whet bench train-child lora|full');
    await (await import('../bench/train.ts')).benchTrainChild(method, values.quick ?? false);
    return 0;
  }
  if (what === 'train' && values.realistic === true) {
    await (await import('../bench/train-realistic.ts')).benchTrainRealistic({ json: values.json ?? false, quick: values.quick ?? false });
    return 0;
  }
  const load = what === undefined ? undefined : benches[what];
  if (load === undefined) throw new UsageError(`usage: whet bench <${Object.keys(benches).join('|')}> [--json] [--quick] (train: [--realistic])`);
  await (await load())({ json: values.json ?? false, quick: values.quick ?? false });
  return 0;
}
