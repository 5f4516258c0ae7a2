// `whet bench train --method rl`: one GRPO step after another on a SmolLM2-135M-shaped model (random bf16 weights,
// LoRA as the other rows), in its own process, through the RL recipe's own pieces: RolloutSource samples the rollouts
// (seeded random rewards, so advantages are non-zero) and computes the reference's log-probs (β 0.04, the adapter
// off), rlStepLoss trains on them, AdamW updates. Measures rollout tokens/s (completion tokens / generation seconds),
// training tokens/s (prompt + completion rows through the loss forward and backward) and the step's time split.
//
// A step's three phases: generation (RolloutSource's own time/generation_s: prefill and decoding), log-probs (the
// rest of RolloutSource.next: the reference's forward, with one iteration a batch no old log-probs, as TRL; scoring
// and batching, negligible here) and training (loss forward, backward, AdamW). Training FLOPs are counted as the SFT
// rows count them: 4 per frozen matrix parameter and token, 6 per trainable one, causal attention forward and
// backward at the rows' length; the tied vocabulary head 4 per parameter on completion tokens only (the chunked
// head multiplies no prompt row). The reference forward is not training work and is not counted.
import { WhetError } from '../errors.ts';
import { configFromHf } from '../model/config.ts';
import { LlamaModel } from '../model/llama.ts';
import { applyLora } from '../adapters/apply.ts';
import { nextTokenTargets } from '../data/batch.ts';
import { loraReference } from '../recipes/dpo-steps.ts';
import { RolloutSource, rlStepLoss, type RlPrompt, type Scorer } from '../recipes/rl-steps.ts';
import { AdamW } from '../optim/adamw.ts';
import { backward } from '../tensor/autograd.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import { Rng } from '../tensor/random.ts';
import { tidy } from '../tensor/tensor.ts';
import { trimPool } from '../tensor/pool.ts';
import { benchTokenizer } from './bench-tokenizer.ts';
import { SMOLLM2_135M } from './decode.ts';
import { attentionForwardFlops, BENCH_LORA, RL_GENERATIONS, type RlChildResult } from './train.ts';

const BETA = 0.04;

/** Prompt and completion lengths and step counts: the full shape, or a short one for --quick (same rows). */
function shapeOf(quick: boolean): { prompt: number; completion: number; warmup: number; steps: number } {
  return quick ? { prompt: 16, completion: 16, warmup: 1, steps: 2 } : { prompt: 64, completion: 64, warmup: 2, steps: 5 };
}

/** GRPO at `rows` completions a step (rows / RL_GENERATIONS prompts): prints an RlChildResult as JSON. */
export async function benchRlChild(quick: boolean, rows: number): Promise<void> {
  if (rows % RL_GENERATIONS !== 0) throw new WhetError(`bench train rl: ${rows} rows is not a whole number of groups of ${RL_GENERATIONS}`);
  const shape = shapeOf(quick);
  const cfg = configFromHf(SMOLLM2_135M);
  const rng = new Rng(1);
  const model = LlamaModel.random(cfg, rng, { dtype: 'bf16' });
  applyLora(model, BENCH_LORA);
  trimPool(); // the f32 buffers random init made the bf16 weights from
  const params = model.parameters();
  const opt = new AdamW(params, { lr: 1e-4 });

  // every prompt of the set is drawn each step; the random rewards vary within a group, so advantages are non-zero
  const prompts: RlPrompt[] = Array.from({ length: rows / RL_GENERATIONS }, (_, i) => ({
    ids: Array.from({ length: shape.prompt }, () => rng.int(cfg.vocabSize)),
    prompt: `prompt ${i}`,
    row: {},
  }));
  const rewardRng = new Rng(2);
  const score: Scorer = async (_prompts, completions) => {
    const total = completions.map(() => rewardRng.uniform());
    return { total, parts: { random: total } };
  };
  const source = new RolloutSource(model, benchTokenizer(cfg.vocabSize), prompts, score, loraReference(model, false), {
    algorithm: 'grpo', generations: RL_GENERATIONS, maxTokens: shape.completion, temperature: 1, topP: 1, stop: [],
    iterations: 1, beta: BETA, scaleRewards: 'group', promptsPerStep: prompts.length, seed: 1,
  });
  // the recipe's loss with its defaults (bnpo, ε 0.2) and the SFT rows' settings: no checkpointing, f32 activations
  const loss = rlStepLoss(model, 'grpo', { lossType: 'bnpo', beta: BETA, epsilonLow: 0.2, epsilonHigh: 0.2, maxCompletionLength: shape.completion }, { checkpoint: false, rngs: [], activations: 'f32' });

  // training FLOPs per processed token of a batch (see the header); the embedding is a lookup, the head is tied to it
  const embedding = model.model.embed_tokens.weight;
  const head = model.headWeight();
  const frozen = model.namedTensors().filter(([, t]) => t.rank === 2 && !t.requiresGrad && t !== embedding && t !== head).reduce((s, [, t]) => s + t.size, 0);
  const trainable = params.reduce((s, p) => s + p.size, 0);

  const sums = { gen: 0, logps: 0, train: 0, completion: 0, tokens: 0, flops: 0 };
  for (let step = 0; step < shape.warmup + shape.steps; step++) {
    const t0 = performance.now();
    const batch = await source.next();
    const t1 = performance.now();
    tidy(() => {
      backward(loss(batch).loss);
      opt.update();
      opt.zeroGrad();
    });
    const t2 = performance.now();
    if (step < shape.warmup) continue; // pools, packing buffers, thread state
    const { rows: b } = batch;
    const gen = batch.metrics['time/generation_s']!;
    const tokens = b.batch * b.time;
    const completionTargets = nextTokenTargets(b).filter((t) => t !== IGNORE_INDEX).length;
    sums.gen += gen;
    sums.logps += (t1 - t0) / 1000 - gen;
    sums.train += (t2 - t1) / 1000;
    sums.completion += b.lossTokens; // generated tokens: the rows' labelled (completion) positions
    sums.tokens += tokens;
    sums.flops += tokens * (4 * frozen + 6 * trainable + 3 * attentionForwardFlops(cfg, b.time)) + completionTargets * 4 * head.size;
  }
  const result: RlChildResult = {
    method: 'rl', prompts: prompts.length, generations: RL_GENERATIONS, prompt_tokens: shape.prompt, completion_tokens: shape.completion,
    rollout_tokens_per_s: sums.completion / sums.gen, train_tokens_per_s: sums.tokens / sums.train, train_flops_per_token: sums.flops / sums.tokens,
    generation_s: sums.gen / shape.steps, logps_s: sums.logps / shape.steps, train_s: sums.train / shape.steps, peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}
