// `whet bench serve`: the serving engine on a SmolLM2-135M-shaped model (random bf16 weights): aggregate decode
// tokens/s with 1, 4 and 16 concurrent streams on one adapter (the batching gain), 16 streams spread over 8 adapters
// of ranks 8–64 against all on one (the cost of mixing adapters in a batch), and the switch cost: time to first token
// when consecutive requests alternate adapters against always the same one (p50 and p99 differences).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAddon } from '../backend/addon.ts';
import { WhetError } from '../errors.ts';
import { configFromHf, type ModelConfig } from '../model/config.ts';
import { LlamaModel } from '../model/llama.ts';
import type { LoadedModel } from '../model/load.ts';
import { applyLora, loraLayers, unloadLora } from '../adapters/apply.ts';
import { saveAdapter } from '../adapters/peft.ts';
import { Rng } from '../tensor/random.ts';
import { createServing } from '../serve/engine.ts';
import { round } from './probes.ts';
import { benchTokenizer } from './bench-tokenizer.ts';
import { SMOLLM2_135M } from './decode.ts';

const RANKS = [8, 16, 32, 64, 8, 16, 32, 64];
const PROMPT = 16;

/** Eight PEFT adapters of mixed ranks on every linear layer, written to dir (B random so they change outputs). */
function writeAdapters(cfg: ModelConfig, dir: string): [string, string][] {
  const scratch = LlamaModel.random(cfg, new Rng(7), { dtype: 'bf16' });
  const out = RANKS.map((r, i): [string, string] => {
    applyLora(scratch, { r, alpha: 2 * r, dropout: 0, targetModules: 'all-linear', seed: i });
    const rng = new Rng(100 + i);
    for (const { layer } of loraLayers(scratch)) layer.lora_B.weight.f.forEach((_, k, b) => (b[k] = (rng.uniform() - 0.5) * 0.02));
    const path = join(dir, `a${i}`);
    saveAdapter(path, scratch, { r, alpha: 2 * r, dropout: 0, targetModules: 'all-linear', seed: i }, null);
    unloadLora(scratch);
    return [`a${i}`, path];
  });
  scratch.dispose();
  return out;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export async function benchServe(opts: { json: boolean; quick: boolean }): Promise<void> {
  const addon = loadAddon();
  if (addon === null) throw new WhetError('bench serve needs the native addon (npm run build:native)');
  const cfg = configFromHf(SMOLLM2_135M);
  const dir = mkdtempSync(join(tmpdir(), 'whet-bench-serve-'));
  try {
    const adapters = writeAdapters(cfg, dir);
    const loaded: LoadedModel = { model: LlamaModel.random(cfg, new Rng(1), { dtype: 'bf16' }), tokenizer: benchTokenizer(cfg.vocabSize), config: cfg, format: 'gguf', path: 'smollm2-135m-shape' };
    const { engine, close } = createServing({ loaded, adapters, maxAdapters: 8, maxBatch: 16 });
    const newTokens = opts.quick ? 16 : 64;
    process.stderr.write(`bench serve: SmolLM2-135M shape (bf16), isa ${addon.isa()}, threads ${addon.numThreads()}; ${PROMPT}-token prompts, ${newTokens} new tokens a stream; adapters of ranks ${RANKS.join(', ')} on every linear layer\n`);
    const prompt = (i: number): number[] => Array.from({ length: PROMPT }, (_, t) => (i * 131 + t * 7919) % cfg.vocabSize);
    const ask = (adapter: string, i: number, maxTokens: number) => engine.generate({ adapter, prompt: prompt(i), n: 1, maxTokens, temperature: 0, topP: 1, stop: [] });

    /** Aggregate tokens/s of `streams` concurrent requests, request i on adapter adapterOf(i). */
    const throughput = async (streams: number, adapterOf: (i: number) => string): Promise<number> => {
      const start = performance.now();
      const results = await Promise.all(Array.from({ length: streams }, (_, i) => ask(adapterOf(i), i, newTokens)));
      const tokens = results.reduce((a, r) => a + r.completionTokens, 0);
      return tokens / ((performance.now() - start) / 1000);
    };
    await throughput(4, (i) => adapters[i % 8]![0]); // warm-up: pools, thread state, every adapter's weights
    const rows: { streams: number; adapters: number; tps: number }[] = [];
    // One adapter: a2, of rank 32, near the mixture's mean rank (30): the comparison is of mixing, not of rank.
    const single = adapters[2]![0];
    for (const [streams, spread] of [[1, 1], [4, 1], [16, 1], [16, 8]] as const) {
      const tps = await throughput(streams, (i) => (spread === 1 ? single : adapters[i % spread]![0]));
      rows.push({ streams, adapters: spread, tps });
      if (opts.json) process.stdout.write(JSON.stringify({ op: 'serve', streams, adapters: spread, tokens_per_s: round(tps) }) + '\n');
      else process.stdout.write(`serve streams ${String(streams).padStart(2)}  adapters ${spread}  ${tps.toFixed(1).padStart(7)} tok/s${streams > 1 ? `  ${(tps / rows[0]!.tps).toFixed(2)}× 1 stream` : ''}\n`);
    }

    // Switch cost: one request at a time, 1 new token; the same adapter as the request before, or another of the
    // same rank (a0 and a4, both rank 8), so that only the switch differs.
    const same: number[] = [];
    const switched: number[] = [];
    const ttft = async (adapter: string, i: number): Promise<number> => {
      const t0 = performance.now();
      await ask(adapter, i, 1);
      return performance.now() - t0;
    };
    const rounds = opts.quick ? 20 : 300;
    for (let i = 0; i < rounds; i++) {
      switched.push(await ttft('a0', i)); // after a4
      same.push(await ttft('a0', i)); // after a0
      switched.push(await ttft('a4', i)); // after a0
    }
    close();
    const tps = (s: number, a: number): number => rows.find((r) => r.streams === s && r.adapters === a)!.tps;
    const summary = {
      batching_gain: tps(16, 1) / tps(1, 1),
      adapters8_over_1: tps(16, 8) / tps(16, 1),
      switch_ms_p50: quantile(switched, 0.5) - quantile(same, 0.5),
      switch_ms_p99: quantile(switched, 0.99) - quantile(same, 0.99),
    };
    if (opts.json) process.stdout.write(JSON.stringify({ op: 'serve-summary', ...Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, round(v, 3)])) }) + '\n');
    else {
      process.stdout.write(`serve batching gain: 16 streams ${summary.batching_gain.toFixed(2)}× the tokens/s of 1 stream\n`);
      process.stdout.write(`serve 16 streams over 8 adapters (ranks 8–64, mean 30): ${summary.adapters8_over_1.toFixed(3)}× the tokens/s on one adapter (rank 32)\n`);
      process.stdout.write(
        `serve switch cost: time to first token alternating adapters minus the same adapter: p50 ${summary.switch_ms_p50.toFixed(3)} ms, p99 ${summary.switch_ms_p99.toFixed(3)} ms (same adapter: p50 ${quantile(same, 0.5).toFixed(2)} ms, p99 ${quantile(same, 0.99).toFixed(2)} ms)\n`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
