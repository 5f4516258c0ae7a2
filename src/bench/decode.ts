// `whet bench decode`: prefill and decode tokens/s of a SmolLM2-135M-shaped model (random weights, bf16
// and f32), against the bound memory bandwidth allows for decode (every weight read once per token) and
// the bound the FMA peak allows for prefill (twice that for bf16 weights on AVX512_BF16, which multiply on vdpbf16ps).
import { loadAddon } from '../backend/addon.ts';
import { WhetError } from '../errors.ts';
import { configFromHf } from '../model/config.ts';
import { KVCache } from '../model/kv-cache.ts';
import { LlamaModel } from '../model/llama.ts';
import { argmax } from '../generate/sampling.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { Rng } from '../tensor/random.ts';
import { tidy } from '../tensor/tensor.ts';
import { narrow, reshape } from '../tensor/ops/shape.ts';
import { fmaPeakGflops, memBandwidthGBps, round } from './probes.ts';

export const SMOLLM2_135M = {
  model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
  num_key_value_heads: 3, vocab_size: 49152, rms_norm_eps: 1e-5, rope_theta: 100000, max_position_embeddings: 8192, tie_word_embeddings: true,
};

export async function benchDecode(opts: { json: boolean; quick: boolean }): Promise<void> {
  const addon = loadAddon();
  if (addon === null) throw new WhetError('bench decode needs the native addon (npm run build:native)');
  const cfg = configFromHf(SMOLLM2_135M);
  const threads = addon.numThreads();
  const memGBps = memBandwidthGBps(addon, threads);
  const peak = fmaPeakGflops(addon, threads, opts.quick ? 0.2 : 1);
  process.stderr.write(`bench decode: SmolLM2-135M shape, isa ${addon.isa()}, threads ${threads}, memory ${memGBps.toFixed(1)} GB/s, FMA peak ${peak.toFixed(1)} GFLOP/s\n`);
  const promptLen = opts.quick ? 32 : 128;
  const decodeTokens = opts.quick ? 8 : 48;
  for (const dtype of ['bf16', 'f32'] as const) {
    const model = LlamaModel.random(cfg, new Rng(1), { dtype });
    // Weights read per decoded token: every matrix (the tied embedding serves as the output head).
    const matrixParams = model.namedTensors().filter(([, t]) => t.rank === 2).reduce((n, [, t]) => n + t.size, 0);
    const bytesPerToken = matrixParams * (dtype === 'bf16' ? 2 : 4);
    const prompt = Int32Array.from({ length: promptLen }, (_, i) => (i * 7919) % cfg.vocabSize);
    const cache = new KVCache(cfg, promptLen + decodeTokens + 1);
    try {
      noGrad(() => {
        // Warm-up: first calls allocate pools and thread state.
        tidy(() => void model.forward(prompt.subarray(0, 8), 1, { caches: [cache] }));
        cache.reset();
        // Prefill: best of a few runs (the first pays for fresh buffers), each from an empty cache.
        let prefillSecs = Infinity;
        let next = 0;
        for (let run = 0; run < (opts.quick ? 1 : 3); run++) {
          cache.reset();
          const start = performance.now();
          next = tidy(() => {
            const h = model.forward(prompt, 1, { caches: [cache] }); // (1, T, D)
            return argmax(model.logits(narrow(reshape(h, [promptLen, cfg.hiddenSize]), 0, promptLen - 1, 1)).f);
          });
          prefillSecs = Math.min(prefillSecs, (performance.now() - start) / 1000);
        }
        const t0 = performance.now();
        for (let i = 0; i < decodeTokens; i++) next = tidy(() => argmax(model.logits(model.forward(Int32Array.of(next), 1, { caches: [cache] })).f));
        const decodeSecs = (performance.now() - t0) / 1000;
        const flopsPerToken = 2 * matrixParams;
        // bf16 weights on AVX512_BF16 multiply on vdpbf16ps: two multiply-adds per lane, twice the FMA peak.
        const bf16Dot = dtype === 'bf16' && addon.gemmRoundsA(promptLen, cfg.hiddenSize, true);
        const prefillPeak = bf16Dot ? 2 * peak : peak;
        const prefillPeakName = bf16Dot ? 'bf16 peak (2× FMA)' : 'FMA peak';
        const rows = [
          { phase: 'prefill', tps: promptLen / prefillSecs, bound: (prefillPeak * 1e9) / flopsPerToken, against: `${prefillPeakName} ${prefillPeak.toFixed(0)} GFLOP/s` },
          { phase: 'decode', tps: decodeTokens / decodeSecs, bound: (memGBps * 1e9) / bytesPerToken, against: `${memGBps.toFixed(1)} GB/s over ${(bytesPerToken / 2 ** 20).toFixed(0)} MiB/token` },
        ];
        for (const r of rows) {
          const ratio = r.tps / r.bound;
          if (opts.json)
            process.stdout.write(JSON.stringify({ op: 'decode', phase: r.phase, dtype, tokens_per_s: round(r.tps), bound_tokens_per_s: round(r.bound), ratio: round(ratio, 3) }) + '\n');
          else process.stdout.write(`decode ${r.phase.padEnd(7)} ${dtype.padEnd(4)} ${r.tps.toFixed(1).padStart(8)} tok/s  bound ${r.bound.toFixed(1)} tok/s (${r.against})  ratio ${ratio.toFixed(2)}\n`);
        }
      });
    } finally {
      cache.dispose();
      model.dispose();
    }
  }
}
