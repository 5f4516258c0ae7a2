// The option spec of every verb, in one light module: main's verb list, --help, parsing and shell completion
// all read these, and loading them loads no model or kernel code.
import { flagOf, TRAIN_DEFAULTS, TRAIN_KEYS, TRAIN_SPEC } from '../recipes/train-config.ts';
import type { CommandSpec, OptionSpec } from './options.ts';

const model: OptionSpec = { type: 'string', arg: 'PATH', help: 'model: a GGUF file, a Hugging Face folder, or ORG/NAME[@REV][/FILE.gguf] fetched by whet pull' };
const adapter: OptionSpec = { type: 'string', arg: 'DIR', help: 'PEFT LoRA adapter folder applied on top of --model' };
const json: OptionSpec = { type: 'boolean', help: 'print results as JSON on stdout' };
const dtype: OptionSpec = {
  type: 'choice', choices: ['f32', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'], default: 'f32',
  help: 'weight storage while running: matrices in bf16 or quantised on load (a GGUF\'s quantised matrices stay as stored)',
};

export const generateSpec: CommandSpec = {
  name: 'generate',
  summary: 'Generate text from a model (GGUF file or HF folder); the text goes to stdout, diagnostics to stderr.',
  options: {
    model: { ...model, required: true },
    adapter,
    prompt: { type: 'string', arg: 'TEXT', help: 'prompt (with --chat: the first user turn; without a prompt, --chat reads turns from stdin)' },
    chat: { type: 'boolean', help: "wrap turns in the model's chat template and keep the conversation" },
    system: { type: 'string', arg: 'TEXT', help: 'system message for --chat' },
    'max-tokens': { type: 'integer', min: 1, default: 256, help: 'most tokens to generate' },
    temperature: { type: 'number', min: 0, default: 0.8, help: 'sampling temperature (0: greedy)' },
    'top-k': { type: 'integer', min: 0, default: 0, help: 'sample among the k most likely tokens (0: all)' },
    'top-p': { type: 'number', min: 0, max: 1, default: 0.95, help: 'nucleus sampling mass' },
    'min-p': { type: 'number', min: 0, max: 1, default: 0, help: 'drop tokens below this share of the top probability' },
    'repetition-penalty': { type: 'number', min: 0, default: 1, help: 'divide logits of tokens already seen by this' },
    seed: { type: 'integer', default: 0, help: 'sampling seed' },
    stop: { type: 'string', multiple: true, arg: 'TEXT', help: 'stop when the text contains this' },
    ctx: { type: 'integer', min: 2, help: "prompt plus generated tokens at most this (default: the model's context)" },
    extrapolate: { type: 'boolean', help: "allow --ctx beyond the model's context (for models known to extrapolate)" },
    truncate: { type: 'choice', choices: ['error', 'left'], default: 'error', help: 'a prompt that fills the context: refuse it, or cut it from the left with a warning' },
    dtype,
  },
  examples: [
    'whet generate --model smollm2.gguf --prompt "Once upon a time" --temperature 0',
    'whet generate --model qwen/ --adapter out/adapter --chat --prompt "Write the SQL for: total sales per region"',
  ],
};

export const serveSpec: CommandSpec = {
  name: 'serve',
  summary: 'Serve a model over the OpenAI HTTP API (chat, completions, models), LoRA adapters chosen per request by the model field; logs go to stderr.',
  options: {
    model: { ...model, required: true },
    adapter: { type: 'string', multiple: true, arg: 'NAME=DIR', help: 'serve a PEFT LoRA adapter under NAME; requests pick it with "model": NAME' },
    host: { type: 'string', arg: 'HOST', default: '127.0.0.1', help: 'address to listen on (0.0.0.0: every interface)' },
    port: { type: 'integer', min: 0, max: 65535, default: 8000, help: 'TCP port (0: any free one)' },
    'api-key': { type: 'string', arg: 'KEY', help: 'require Authorization: Bearer KEY on every route but /health (default: $WHET_API_KEY)' },
    'allow-adapter-loading': { type: 'boolean', help: 'enable POST /v1/load_lora_adapter and /v1/unload_lora_adapter (needs --adapter-dir)' },
    'adapter-dir': { type: 'string', arg: 'DIR', help: 'the only folder runtime-loaded adapters may come from' },
    'max-adapters': { type: 'integer', min: 1, default: 16, help: 'adapters held in memory at once (least recently used evicted)' },
    'max-batch': { type: 'integer', min: 1, default: 32, help: 'sequences decoded together' },
    'max-queue': { type: 'integer', min: 0, default: 256, help: 'requests waiting for a batch slot before new ones get 429' },
    'request-timeout': { type: 'number', arg: 'SECONDS', min: 0, default: 600, help: 'seconds a request may take before it fails with 408 (0: no limit)' },
    'body-limit': { type: 'integer', arg: 'BYTES', min: 1024, default: 1048576, help: 'largest request body in bytes (413 beyond)' },
    dtype: { ...dtype, help: 'weight storage while serving (f32, the default, gives whet generate\'s exact text; bf16: half the memory and faster decoding)' },
  },
  examples: [
    'whet serve --model smollm2.gguf --adapter sql=runs/sql/adapter --port 8000',
    'WHET_API_KEY=secret whet serve --model qwen/ --host 0.0.0.0 --allow-adapter-loading --adapter-dir runs/',
  ],
};

export const studioSpec: CommandSpec = {
  name: 'studio',
  summary: 'A local web app to rank sampled answers into a rankings file (reward/DPO/KTO data), follow training runs live, and compare models on a holdout set.',
  options: {
    model: { ...model, help: 'model that writes the candidate answers (--prompts) or the answers compared (--holdout)' },
    adapter: { type: 'string', multiple: true, arg: 'NAME=DIR', help: 'a PEFT LoRA adapter on --model that also answers, under NAME' },
    prompts: { type: 'string', arg: 'FILE', help: 'prompts to rank answers to (any file whet eval reads prompts from)' },
    out: { type: 'string', arg: 'FILE', help: 'rankings file: rows are appended (and read back to resume); what whet train --method reward|dpo|kto reads' },
    mode: { type: 'choice', choices: ['rank', 'thumbs'], default: 'rank', help: 'rank: order the k answers (rankings rows); thumbs: up or down per answer (KTO rows)' },
    k: { type: 'integer', min: 2, max: 16, default: 4, help: 'answers shown per prompt, taken in turn from the base and each adapter' },
    temperature: { type: 'number', min: 0, default: 0.8, help: 'sampling temperature of the candidates' },
    'top-p': { type: 'number', min: 0, max: 1, default: 0.95, help: 'nucleus sampling mass of the candidates' },
    'max-tokens': { type: 'integer', min: 1, default: 128, help: 'longest answer in tokens' },
    seed: { type: 'integer', default: 0, help: 'sampling seed (the same seed gives the same candidates after a restart)' },
    stop: { type: 'string', multiple: true, arg: 'TEXT', help: "stop answers at this text (default: a newline for one-line prompts, as whet eval)" },
    annotator: { type: 'string', arg: 'NAME', help: 'who is ranking (default: a name typed on the page)' },
    'per-prompt': { type: 'integer', min: 1, default: 1, help: 'people who rank each prompt (overlaps give the agreement, Kendall\'s tau)' },
    lease: { type: 'number', arg: 'SECONDS', min: 1, default: 900, help: 'a prompt shown to one person is held for them this long at most' },
    runs: { type: 'string', arg: 'DIR', help: 'folder of training runs (folders with metrics.jsonl) to list and follow live' },
    holdout: { type: 'string', arg: 'FILE', help: 'compare the base and adapters on this data, answer by answer' },
    metric: { type: 'choice', choices: ['exact', 'normalized', 'sql', 'scorer'], default: 'exact', help: 'task metric of each compared answer' },
    db: { type: 'string', arg: 'PATH', help: 'for --metric sql: a .sqlite file or a folder of <db_id>/<db_id>.sqlite' },
    scorer: { type: 'string', arg: 'MODULE', help: 'for --metric scorer: a module whose default export (prediction, example) returns a number' },
    'reward-model': { type: 'string', arg: 'PATH', help: "with --holdout: also score every answer with this reward model (a folder from --method reward --finetuning full, or the base of --reward-adapter)" },
    'reward-adapter': { type: 'string', arg: 'DIR', help: "a reward model's PEFT adapter (from --method reward) on --reward-model" },
    host: { type: 'string', arg: 'HOST', default: '127.0.0.1', help: 'address to listen on (0.0.0.0: every interface; then give --api-key)' },
    port: { type: 'integer', min: 0, max: 65535, default: 8080, help: 'TCP port (0: any free one)' },
    'api-key': { type: 'string', arg: 'KEY', help: 'require the key: open the page once as /?key=KEY, or send Authorization: Bearer KEY (default: $WHET_API_KEY)' },
    'body-limit': { type: 'integer', arg: 'BYTES', min: 1024, default: 1048576, help: 'largest request body in bytes (413 beyond)' },
    dtype,
  },
  examples: [
    'whet studio --model stories260K.gguf --adapter sft=runs/sft/adapter --prompts prompts.jsonl --out rankings.jsonl',
    'whet studio --runs runs/',
    'whet studio --model base.gguf --adapter a=runs/a/adapter --adapter b=runs/b/adapter --holdout holdout.jsonl --metric exact --out rankings.jsonl',
    'whet studio --model base.gguf --adapter dpo=runs/dpo/adapter --holdout holdout.jsonl --reward-model base.gguf --reward-adapter runs/rm/adapter --out rankings.jsonl',
  ],
};

export const perplexitySpec: CommandSpec = {
  name: 'perplexity',
  summary: 'Mean negative log-likelihood and perplexity of a model on a text file, in sliding windows.',
  options: {
    model: { ...model, required: true },
    adapter,
    text: { type: 'string', arg: 'FILE', required: true, help: 'UTF-8 text file to score' },
    ctx: { type: 'integer', min: 2, help: "window length in tokens (default 512, or the model's context when shorter)" },
    extrapolate: { type: 'boolean', help: "allow --ctx beyond the model's context (for models known to extrapolate)" },
    'max-tokens': { type: 'integer', min: 2, help: 'score only the first N tokens' },
    json,
  },
  examples: ['whet perplexity --model stories260K.gguf --text tinystories_val.txt', 'whet perplexity --model base.gguf --adapter out/adapter --text held-out.txt --json'],
};

export const scoreSpec: CommandSpec = {
  name: 'score',
  summary: "A reward model's score for every row of a file: both answers of each preference pair, or each prompt/response; one row per line on stdout.",
  options: {
    model: { ...model, required: true, help: 'a reward model folder, or the base model of --adapter' },
    adapter: { ...adapter, help: "a reward model's PEFT adapter (task_type SEQ_CLS) on --model" },
    data: { type: 'string', arg: 'FILE', required: true, help: 'preference pairs, thumbs up/down, or prompt/response examples' },
    'chat-template': { type: 'string', arg: 'FILE', help: "Jinja chat template (default: the model's own)" },
    'max-length': { type: 'integer', min: 2, help: "tokens per answer with its prompt (default: the model's context)" },
    'batch-size': { type: 'integer', min: 1, default: 16, help: 'answers scored together' },
    dtype,
    json,
  },
  examples: ['whet score --model smollm2.gguf --adapter runs/rm/adapter --data pairs.jsonl', 'whet score --model runs/rm-full/model --data answers.jsonl --json'],
};

export const mergeSpec: CommandSpec = {
  name: 'merge',
  summary: 'Merge a PEFT LoRA adapter into its base model in full precision, writing a Hugging Face folder.',
  options: {
    model: { ...model, required: true, help: 'the base model the adapter was trained on' },
    adapter: { ...adapter, required: true, help: 'PEFT LoRA adapter folder' },
    out: { type: 'string', arg: 'DIR', required: true, help: 'folder for the merged model' },
    dtype: { ...dtype, choices: ['f32', 'bf16'], help: 'dtype of the written weights' },
  },
  examples: ['whet merge --model base.gguf --adapter out/adapter --out merged/', 'whet merge --model qwen/ --adapter out/adapter --out merged/ --dtype bf16'],
};

export const EVAL_METRICS = ['exact', 'normalized', 'sql', 'ppl', 'scorer', 'reward-accuracy', 'win-rate'] as const;

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: 'Score a model, or its predictions, on a dataset; with --adapter or --base, before and after, and the forgetting check; a reward model on preference pairs; a win rate judged by a reward model.',
  options: {
    model: { ...model, help: 'model to evaluate (required unless --predictions); for --metric reward-accuracy the reward model' },
    adapter: { ...adapter, help: 'adapter: scores --model without it (before) and with it (after); for reward-accuracy it only completes the reward model (its SEQ_CLS adapter)' },
    base: { type: 'string', arg: 'PATH', help: 'the model before fine-tuning, compared with --model; for win-rate the opponent' },
    'base-adapter': { type: 'string', arg: 'DIR', help: 'for --metric win-rate: adapter on the opponent (--base, or --model when no --base), e.g. the SFT adapter a DPO adapter must beat' },
    'reward-model': { type: 'string', arg: 'PATH', help: 'for --metric win-rate: the judge, a reward model folder or the base of --reward-adapter' },
    'reward-adapter': { type: 'string', arg: 'DIR', help: "for --metric win-rate: a reward model's PEFT adapter (task_type SEQ_CLS) on --reward-model" },
    data: { type: 'string', arg: 'FILE', required: true, help: 'evaluation examples (any training data format); preference pairs for reward-accuracy; prompts (any of these, or {prompt}) for win-rate' },
    metric: { type: 'choice', choices: EVAL_METRICS, required: true, help: 'what to score' },
    scorer: { type: 'string', arg: 'MODULE', help: 'for --metric scorer: a module whose default export (prediction, example) returns a number or boolean' },
    db: { type: 'string', arg: 'PATH', help: 'for --metric sql: a .sqlite file or a folder of <db_id>/<db_id>.sqlite' },
    predictions: { type: 'string', arg: 'FILE', help: 'score these predictions (JSONL) instead of generating' },
    'save-predictions': { type: 'string', arg: 'FILE', help: 'write the generated predictions here (win-rate: both answers and their rewards)' },
    'max-tokens': { type: 'integer', min: 1, default: 256, help: 'most tokens generated per example' },
    stop: { type: 'string', multiple: true, arg: 'TEXT', help: 'extra stop string for generation' },
    limit: { type: 'integer', min: 1, help: 'only the first N examples' },
    'batch-size': { type: 'integer', min: 1, default: 8, help: 'prompts generated together (reward metrics: also pairs or answers scored together)' },
    'sql-timeout': { type: 'number', min: 0.001, default: 10, help: 'seconds a query may run (--metric sql)' },
    dtype,
    forgetting: { type: 'string', arg: 'FILE', help: 'general text scored before and after: the forgetting check' },
    'forgetting-threshold': { type: 'number', min: 0, help: 'largest acceptable perplexity increase, as a share (default 0.1)' },
    report: { type: 'string', arg: 'DIR', help: 'write report.md and report.html here (with training curves when DIR is a run folder with metrics.jsonl)' },
    json,
  },
  examples: [
    'whet eval --model base.gguf --adapter out/adapter --data holdout.jsonl --metric exact --forgetting general.txt',
    'whet eval --model base.gguf --adapter out/adapter --data spider_dev.jsonl --metric sql --db spider/database --limit 200',
    'whet eval --predictions preds.jsonl --data holdout.jsonl --metric normalized --json',
    'whet eval --metric reward-accuracy --model base.gguf --adapter runs/rm/adapter --data prefs-holdout.jsonl',
    'whet eval --metric win-rate --model base.gguf --adapter runs/dpo/adapter --base-adapter runs/sft/adapter --reward-model base.gguf --reward-adapter runs/rm/adapter --data prompts.jsonl',
  ],
};

const TRAIN_ARGS: Partial<Record<string, string>> = { model: 'PATH', data: 'FILE', holdout: 'FILE', out: 'DIR', chat_template: 'FILE', adapter: 'DIR' };

/** whet train: every option of the train config is a flag (model_type → --model-type), switches with a --no- form. */
function trainOptions(): Record<string, OptionSpec> {
  const options: Record<string, OptionSpec> = { config: { type: 'string', arg: 'FILE', help: 'YAML file of options (flags override it)' } };
  for (const key of TRAIN_KEYS) {
    const s = TRAIN_SPEC[key];
    const fallback = (TRAIN_DEFAULTS as Record<string, unknown>)[key];
    const shown = Array.isArray(fallback) ? fallback.join(',') : (fallback as string | number | boolean | undefined);
    const help = s.type === 'string' && s.required === true ? `${s.help}; required here or in --config` : s.help;
    const base = { help, default: shown };
    options[flagOf(key)] =
      s.type === 'number' ? { ...base, type: s.integer === true ? 'integer' : 'number', min: s.min, max: s.max }
      : s.type === 'choice' ? { ...base, type: 'choice', choices: s.choices }
      : s.type === 'boolean' ? { ...base, type: 'boolean', negatable: true }
      : s.type === 'list' ? { ...base, type: 'string', multiple: true, arg: 'SPEC' }
      : { ...base, type: 'string', arg: s.type === 'targets' ? 'NAMES' : (TRAIN_ARGS[key] ?? 'TEXT') };
  }
  options.json = json;
  return options;
}

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'Fine-tune a model, fully or with LoRA: SFT on prompt/response data, a reward model, DPO or KTO on preferences, or pretrain on plain text; progress on stderr, the summary on stdout.',
  options: trainOptions(),
  examples: [
    'whet train --model smollm2.gguf --data train.jsonl --out runs/lora1',
    'whet train --config sft.yaml --lr 1e-4 --steps 300',
    'whet train --model qwen/ --data chat.jsonl --out runs/full --finetuning full --gradient-checkpointing',
    'whet train --method pretrain --init arch/config.json --tokenizer tok/ --data books.txt --out runs/base --steps 2000 --lr 2e-3 --batch-size 8',
    'whet train --method pretrain --model runs/base/model --data more.jsonl --out runs/base2',
    'whet train --method reward --model smollm2.gguf --data pairs.jsonl --out runs/rm',
    'whet train --method dpo --model smollm2.gguf --adapter runs/sft/adapter --data pairs.jsonl --out runs/dpo --beta 0.1',
    'whet train --method kto --model smollm2.gguf --adapter runs/sft/adapter --data thumbs.jsonl --out runs/kto',
    "whet train --method rl --model smollm2.gguf --adapter runs/sft/adapter --data prompts.jsonl --reward-fn exact --reward-fn 'regex:^\\d+$@0.2' --out runs/grpo",
    'whet train --method rl --rl-algorithm ppo --model smollm2.gguf --data prompts.jsonl --reward-model runs/rm-full/model --out runs/ppo',
  ],
};

export const convertSpec: CommandSpec = {
  name: 'convert',
  summary: 'Convert a GGUF file to a Hugging Face folder or another GGUF (e.g. quantised), or a Hugging Face folder to GGUF.',
  positionals: [
    { name: 'IN', help: 'a .gguf file or a Hugging Face model folder' },
    { name: 'OUT', help: 'the folder or .gguf file to write (GGUF → GGUF when both are .gguf files)' },
  ],
  options: {
    dtype: {
      type: 'choice', choices: ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k', 'q4_k_m'], arg: 'TYPE',
      help: "weights to write (default: as stored). Quantised types are GGUF only: matrices whose rows split into blocks are quantised (ggml's reference quantisers, from full precision), the rest and 1-D norms stay f32; q4_k_m is llama.cpp's mix, simplified: q6_k for output.weight (or a tied token embedding), attn_v and ffn_down, q4_k for the other matrices",
    },
    calibration: { type: 'string', arg: 'FILE', help: 'with --dtype q4_0: a text file the model reads first; its activations drive GPTQ, which quantises each column and pushes its error onto the columns after it, so the layers change least on text like it' },
    'calibration-tokens': { type: 'integer', min: 1, default: 65536, help: 'tokens of --calibration to read (from its start)' },
    ctx: { type: 'integer', min: 2, help: 'window of the calibration pass (default: 512, or the model context when shorter)' },
  },
  examples: ['whet convert smollm2.gguf smollm2-hf/', 'whet convert merged/ merged.gguf', 'whet convert merged/ merged-q8.gguf --dtype q8_0', 'whet convert smollm2-f16.gguf smollm2-q4km.gguf --dtype q4_k_m', 'whet convert smollm2.gguf smollm2-q4_0.gguf --dtype q4_0 --calibration wiki.txt'],
};

export const exportLoraSpec: CommandSpec = {
  name: 'export-lora',
  summary: "Write a PEFT LoRA adapter as a GGUF LoRA file for llama.cpp (--lora) and Ollama (ADAPTER); each layer keeps its exact scale.",
  positionals: [{ name: 'ADAPTER', help: 'PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)' }],
  options: {
    gguf: { type: 'string', arg: 'FILE', required: true, help: 'the .gguf adapter file to write' },
    model: { ...model, help: "the base model (GGUF or HF folder; only its config is read); default: the adapter's base_model_name_or_path when that is a local path" },
  },
  examples: ['whet export-lora runs/sft/adapter --gguf sft-lora.gguf --model smollm2.gguf', 'whet export-lora out/adapter --gguf adapter.gguf'],
};

export const pullSpec: CommandSpec = {
  name: 'pull',
  summary: "Download a model from the Hugging Face hub into its cache (huggingface_hub's layout, shared with Python), resuming partial files; prints where it landed. Every --model then accepts ORG/NAME.",
  positionals: [{ name: 'MODEL', help: 'ORG/NAME, ORG/NAME@REVISION, or ORG/NAME/FILE for one file (e.g. a .gguf)' }],
  options: {
    revision: { type: 'string', arg: 'REV', help: 'branch, tag or commit (default main)' },
    include: { type: 'string', multiple: true, arg: 'GLOB', help: "only files matching this pattern (fnmatch: * matches across folders), e.g. '*Q8_0.gguf'" },
    'cache-dir': { type: 'string', arg: 'DIR', help: 'the cache folder (default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub; --model ORG/NAME looks only there, so set HF_HUB_CACHE to use another)' },
    json,
  },
  examples: [
    'whet pull HuggingFaceTB/SmolLM2-135M-Instruct',
    "whet pull bartowski/SmolLM2-135M-Instruct-GGUF --include '*Q8_0.gguf'",
    'HF_TOKEN=hf_... whet pull meta-llama/Llama-3.2-1B --revision main',
    'whet generate --model HuggingFaceTB/SmolLM2-135M-Instruct --prompt "Hi" --temperature 0',
  ],
};

const file = { name: 'FILE', help: 'dataset file (JSONL, JSON, CSV or txt, optionally .gz)' };
const tokenizerModel: OptionSpec = { type: 'string', arg: 'PATH', help: 'model whose tokenizer counts tokens and whose context is checked (GGUF, HF folder or pulled ORG/NAME; weights are not read)' };
const template: OptionSpec = { type: 'string', arg: 'FILE', help: "Jinja chat template (default: the model's own)" };

export const dataSpec: CommandSpec = {
  name: 'data',
  summary: 'Look at a fine-tuning dataset, check every row, or write a seeded train/holdout split.',
  options: {},
  examples: ['whet data inspect train.jsonl --model smollm2.gguf --max-len 512', 'whet data validate train.jsonl', 'whet data split all.jsonl --holdout 0.1 --out-dir data/'],
  subcommands: [
    {
      name: 'data inspect',
      summary: 'Formats, duplicates, blank rows, errors and (with --model) token lengths and what truncation cuts.',
      positionals: [file],
      options: { model: tokenizerModel, template, 'max-len': { type: 'integer', min: 1, arg: 'N', help: 'report what truncation to N tokens would cut' }, json },
      examples: ['whet data inspect train.jsonl', 'whet data inspect train.jsonl --model smollm2.gguf --max-len 512 --json'],
    },
    {
      name: 'data validate',
      summary: 'Every bad row as file:line: field: problem; exit 1 when there is one.',
      positionals: [file],
      options: { model: tokenizerModel, template },
      examples: ['whet data validate train.jsonl', 'whet data validate chat.jsonl --model qwen/'],
    },
    {
      name: 'data split',
      summary: 'A deduplicated, deterministic train/holdout split written as JSONL.',
      positionals: [file],
      options: {
        holdout: { type: 'number', min: 0, default: 0.1, help: 'share of examples held out (below 1)' },
        seed: { type: 'integer', default: 0, help: 'shuffle seed' },
        'out-dir': { type: 'string', arg: 'DIR', required: true, help: 'folder for train.jsonl and holdout.jsonl' },
      },
      examples: ['whet data split all.jsonl --out-dir data/', 'whet data split all.jsonl --holdout 0.05 --seed 3 --out-dir data/'],
    },
  ],
};

export const benchSpec: CommandSpec = {
  name: 'bench',
  summary: "Measure kernel, decoding and training speed against the machine's limits; each line prints its ratio.",
  positionals: [{ name: 'WHAT', help: 'gemm | decode | train | serve' }],
  options: {
    json: { type: 'boolean', help: 'one JSON object per result line' },
    quick: { type: 'boolean', help: 'fewer repetitions (a smoke run, noisier figures)' },
    realistic: { type: 'boolean', help: 'bench train: a real run (variable lengths, batch 8, holdout) against fixed shapes and the memory estimate' },
    method: { type: 'choice', choices: ['sft', 'reward', 'dpo', 'rl', 'all'], default: 'sft', help: 'bench train: which training to time (reward, dpo: LoRA, beside LoRA SFT at the same rows × length; rl: LoRA GRPO, rollout and training tok/s; all: every row)' },
    model: { ...model, help: 'bench decode: measure this model file or folder (default: a SmolLM2-135M-shaped model with random weights)' },
    dtype: { type: 'choice', choices: ['f32', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'], help: 'bench decode: the weight type to measure (default: bf16, f32, q8_0, q4_0 and q4_k for the built-in model; a model file as stored)' },
    batch: { type: 'number', min: 1, help: 'bench decode: streams of the batched-decode row (default 16)' },
    anchor: { type: 'string', arg: 'DIR', help: 'bench decode: also run llama.cpp on the same --model GGUF (DIR: a ../shared/bench-anchor setup.sh scratch folder with node-llama-cpp), 3 rounds alternating with ours, and print the ratio of the median rounds' },
    'base-dtype': { type: 'choice', choices: ['bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'], help: 'bench train: LoRA on a base frozen in this type, beside the same run on an f32 base (peak RSS and the loss a toy task reaches)' },
  },
  examples: ['whet bench gemm', 'whet bench train --realistic', 'whet bench train --method dpo', 'whet bench train --base-dtype q8_0', 'whet bench decode --json', 'whet bench decode --model smollm2-135m-q8_0.gguf', 'whet bench decode --model models/smollm2-135m-shape-bf16.gguf --anchor /tmp/anchor'],
};

export const demoSpec: CommandSpec = {
  name: 'demo',
  summary: 'The whole story on this machine, with numbers: a house-dialect SQL task, the base model scored, LoRA SFT, the holdout again, the forgetting check, DPO on style pairs, serving both adapters, an HTML report.',
  options: {
    model: { ...model, help: 'the base model (default: the embedded models/tiny-base of this package)' },
    out: { type: 'string', arg: 'DIR', help: 'keep everything here (data, shop database, adapters, metrics, report); default: a temporary folder of which only the report is kept' },
    quick: { type: 'boolean', help: 'a smoke run of about a minute: few training steps, few holdout requests' },
    seed: { type: 'integer', default: 0, help: 'seed of the generated database, requests, split and training' },
    'forgetting-text': { type: 'string', arg: 'FILE', help: 'general English text for the forgetting check (default: a bundled text)' },
    json: { type: 'boolean', help: 'one JSON object per step on stdout' },
  },
  examples: ['whet demo', 'whet demo --quick', 'whet demo --model /path/to/hf-folder --out runs/demo'],
};

export const completionSpec: CommandSpec = {
  name: 'completion',
  summary: 'Print a shell completion script for whet (add it to your shell start-up).',
  positionals: [{ name: 'SHELL', help: 'bash | zsh | fish' }],
  options: {},
  examples: ['whet completion bash > ~/.local/share/bash-completion/completions/whet', 'whet completion zsh > "${fpath[1]}/_whet"', 'whet completion fish > ~/.config/fish/completions/whet.fish'],
};

/** Every verb, in the order `whet --help` lists them. */
export const COMMANDS: CommandSpec[] = [demoSpec, generateSpec, serveSpec, studioSpec, perplexitySpec, trainSpec, evalSpec, scoreSpec, mergeSpec, exportLoraSpec, convertSpec, pullSpec, dataSpec, benchSpec, completionSpec];
