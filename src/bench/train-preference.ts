// `whet bench train --method reward|dpo`: one preference row of the train bench, run in its own process — a LoRA
// reward model (score head, Bradley–Terry) or LoRA DPO (sigmoid, β 0.1; the reference is the same weights with the
// adapter off) stepping on synthetic pairs through the recipes' own step losses, so that its speed and peak memory
// sit beside LoRA SFT's at the same rows × length (train.ts prints the ratio).
//
// FLOPs per processed token (both answers), counted as the SFT rows count them: 4 per frozen matrix parameter
// (forward and input gradient), 6 per trainable one, causal attention forward and backward. The vocabulary head
// (V, D) only on answer tokens, as the chunked head multiplies no prompt row; the reward model has none (its (1, D)
// score head reads one token a row). DPO adds its reference forward as extra work: 2 per frozen parameter and
// attention's forward on every token, 2 per head parameter on answer tokens; the adapter is off, so no LoRA FLOPs.
import { configFromHf } from '../model/config.ts';
import { LlamaModel } from '../model/llama.ts';
import { applyLora } from '../adapters/apply.ts';
import { nextTokenTargets } from '../data/batch.ts';
import type { TokenizedPair } from '../data/preference-tokenize.ts';
import type { TokenizedExample } from '../data/tokenize.ts';
import { rewardBatch } from '../eval/reward.ts';
import { rewardStepLoss } from '../recipes/reward-steps.ts';
import { dpoStepLoss, loraReference, pairBatch } from '../recipes/dpo-steps.ts';
import { AdamW } from '../optim/adamw.ts';
import { backward } from '../tensor/autograd.ts';
import { IGNORE_INDEX } from '../tensor/ops/loss.ts';
import { Rng } from '../tensor/random.ts';
import { tidy, type Tensor } from '../tensor/tensor.ts';
import { trimPool } from '../tensor/pool.ts';
import { SMOLLM2_135M } from './decode.ts';
import { attentionForwardFlops, BENCH_LORA, PREFERENCE_PROMPT, SEQ, secondsPerStep, type ChildResult } from './train.ts';

const PAD = 0;

/** n pairs of SEQ-token answers after a shared PREFERENCE_PROMPT-token prompt; every answer's ids its own, seeded. */
function syntheticPairs(n: number, vocab: number, rng: Rng): TokenizedPair[] {
  const answer = (prompt: Int32Array): TokenizedExample => {
    const ids = Int32Array.from({ length: SEQ }, (_, t) => (t < PREFERENCE_PROMPT ? prompt[t]! : rng.int(vocab)));
    const labels = Int32Array.from(ids, (id, t) => (t < PREFERENCE_PROMPT ? IGNORE_INDEX : id)); // loss on the answer only
    return { ids, labels, truncated: 0 };
  };
  return Array.from({ length: n }, () => {
    const prompt = Int32Array.from({ length: PREFERENCE_PROMPT }, () => rng.int(vocab));
    return { chosen: answer(prompt), rejected: answer(prompt), promptTokens: PREFERENCE_PROMPT };
  });
}

/** One preference method's measurement at `rows` sequences a step (rows/2 pairs): prints a ChildResult as JSON. */
export async function benchPreferenceChild(method: 'reward' | 'dpo', quick: boolean, rows: number): Promise<void> {
  const cfg = configFromHf(SMOLLM2_135M);
  const rng = new Rng(1);
  const model = LlamaModel.random(cfg, rng, { dtype: 'bf16' });
  if (method === 'reward') model.attachScoreHead(rng); // before LoRA, as the recipe's trainableModel does
  applyLora(model, BENCH_LORA);
  model.score?.weight.requireGrad(true); // the reward head trains whole
  trimPool(); // the f32 buffers random init made the bf16 weights from
  const params = model.parameters();
  const opt = new AdamW(params, { lr: 1e-4 });
  const pairs = syntheticPairs(rows / 2, cfg.vocabSize, rng);

  // the recipes' step losses, with the SFT rows' settings: no checkpointing, activations saved in f32
  let loss: () => Tensor;
  let answerTokens: number; // rows × T targets the vocabulary head multiplies (DPO)
  if (method === 'reward') {
    const batch = rewardBatch(pairs, PAD);
    const stepLoss = rewardStepLoss(model, { checkpoint: false, rngs: [], activations: 'f32', centerCoefficient: 0 });
    loss = () => stepLoss(batch).loss;
    answerTokens = 0;
  } else {
    const batch = { rows: pairBatch(pairs, PAD) };
    const stepLoss = dpoStepLoss(model, { loss: 'sigmoid', beta: 0.1 }, loraReference(model, false));
    loss = () => stepLoss(batch).loss;
    answerTokens = nextTokenTargets(batch.rows).filter((t) => t !== IGNORE_INDEX).length;
  }
  const step = (): void =>
    tidy(() => {
      backward(loss());
      opt.update();
      opt.zeroGrad();
    });
  const secs = secondsPerStep(step, quick);

  // FLOPs of a step (see the header): the embedding is a lookup; DPO's head is the tied embedding's matrix
  const embedding = model.model.embed_tokens.weight;
  const head = method === 'dpo' ? model.headWeight() : undefined;
  const frozen = model.namedTensors().filter(([, t]) => t.rank === 2 && !t.requiresGrad && t !== embedding && t !== head).reduce((s, [, t]) => s + t.size, 0);
  const score = model.score?.weight;
  const trainable = params.filter((p) => p !== score).reduce((s, p) => s + p.size, 0);
  const tokens = rows * SEQ;
  const attention = attentionForwardFlops(cfg, SEQ);
  let flops = tokens * (4 * frozen + 6 * trainable + 3 * attention);
  if (score !== undefined) flops += rows * 6 * score.size; // the score head at each row's last token
  if (head !== undefined) flops += answerTokens * 4 * head.size + tokens * (2 * frozen + attention) + answerTokens * 2 * head.size; // policy head; reference forward
  const result: ChildResult = { method, tokens_per_s: tokens / secs, flops_per_token: flops / tokens, peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(result) + '\n');
}
