// The serving engine: continuous batching over one base model with adapters as data. Requests wait in a bounded
// queue; each step prefills one chunk of one admitted prompt (long prompts over several steps) and decodes one token
// for every running sequence at once, each row with its own KV cache and adapter slot; n samples share their prompt's
// prefill; finished, cancelled (client gone) and timed-out sequences free their cache at the next step.
import { basename, extname } from 'node:path';
import type { LoadedModel } from '../model/load.ts';
import { KVCache } from '../model/kv-cache.ts';
import { modelContext } from '../model/context.ts';
import { AdapterRouting, wrapForAdapters } from '../adapters/multi-lora.ts';
import { sampleToken } from '../generate/sampling.ts';
import { SequenceText } from '../generate/sequence.ts';
import { StopMatcher } from '../generate/stop.ts';
import { noGrad } from '../tensor/grad-mode.ts';
import { Rng } from '../tensor/random.ts';
import { narrow, reshape } from '../tensor/ops/shape.ts';
import { tidy } from '../tensor/tensor.ts';
import { ServingAdapters } from './registry.ts';
import { ServeError, type ChoiceResult, type EngineStats, type GenerationRequest, type GenerationResult, type ServingEngine, type TokenInfo } from './types.ts';
import { tokenLogprobs } from './token-logprobs.ts';

export interface ServingOptions {
  loaded: LoadedModel;
  /** Adapters served from the start: [name, PEFT folder]. */
  adapters?: [string, string][];
  /** Adapters whose weights stay in memory at once (least recently used evicted). */
  maxAdapters?: number;
  /** Sequences prefilled or decoded together. */
  maxBatch?: number;
  /** Requests waiting for a batch slot before new ones get 429. */
  maxQueue?: number;
  requestTimeoutMs?: number;
  /** Prompt tokens prefilled per step: a long prompt does not stall the others' decoding. */
  prefillChunk?: number;
  /** The base model's id in /v1/models (default: the model file's name). */
  baseId?: string;
}

interface Job {
  req: GenerationRequest;
  /** '' for the base. */
  adapter: string;
  slot: number;
  prompt: number[];
  budget: number;
  /** Prompt tokens already in `cache`. */
  prefilled: number;
  cache: KVCache;
  seqs: Seq[];
  finished: number;
  error?: ServeError;
  resolve: (r: GenerationResult) => void;
  reject: (e: ServeError) => void;
  timer?: ReturnType<typeof setTimeout>;
}

interface Seq {
  job: Job;
  choice: number;
  text: SequenceText;
  cache: KVCache;
  rng: Rng;
  infos: TokenInfo[];
  /** Tokens accepted since the last streamed delta. */
  pending: TokenInfo[];
}

export class Engine implements ServingEngine {
  readonly context: number;
  private readonly queue: Job[] = [];
  private readonly prefilling: Job[] = [];
  private running: Seq[] = [];
  private looping = false;
  private closed = false;
  private generated = 0;
  private readonly recent: [number, number][] = []; // (time ms, tokens) of recent steps
  private readonly requests: Record<string, number> = {};
  private readonly stopTokens: Set<number>;

  constructor(
    private readonly loaded: LoadedModel,
    private readonly routing: AdapterRouting,
    readonly registry: ServingAdapters,
    private readonly opts: { maxBatch: number; maxQueue: number; requestTimeoutMs?: number; prefillChunk: number },
  ) {
    this.context = modelContext(loaded.config);
    this.stopTokens = new Set(loaded.tokenizer.eosIds);
  }

  generate(req: GenerationRequest): Promise<GenerationResult> {
    if (this.closed) return Promise.reject(new ServeError(503, 'server_error', 'the server is shutting down'));
    if (this.queue.length >= this.opts.maxQueue)
      return Promise.reject(new ServeError(429, 'rate_limit_error', `the queue is full (${this.opts.maxQueue} requests waiting); retry shortly`, 'queue_full'));
    if (req.prompt.length === 0) return Promise.reject(new ServeError(400, 'invalid_request_error', 'the prompt has no tokens', null, 'prompt'));
    if (req.prompt.length >= this.context)
      return Promise.reject(new ServeError(400, 'invalid_request_error', `the prompt has ${req.prompt.length} tokens; the model's context is ${this.context}`, 'context_length_exceeded', 'messages'));
    if (req.n > this.opts.maxBatch) return Promise.reject(new ServeError(400, 'invalid_request_error', `n = ${req.n} exceeds the batch of ${this.opts.maxBatch} sequences`, null, 'n'));
    const adapter = req.adapter ?? '';
    let slot = -1;
    try {
      if (adapter !== '') slot = this.registry.acquire(adapter);
    } catch (e) {
      return Promise.reject(e);
    }
    this.requests[adapter] = (this.requests[adapter] ?? 0) + 1;
    return new Promise((resolve, reject) => {
      const job: Job = {
        req, adapter, slot, prompt: req.prompt, budget: Math.min(req.maxTokens, this.context - req.prompt.length), prefilled: 0,
        cache: new KVCache(this.loaded.config, Math.min(this.context, req.prompt.length + req.maxTokens)), seqs: [], finished: 0, resolve, reject,
      };
      const timeout = req.timeoutMs ?? this.opts.requestTimeoutMs;
      if (timeout !== undefined) job.timer = setTimeout(() => this.cancel(job, new ServeError(408, 'timeout_error', `the request took longer than ${timeout} ms`, 'timeout')), timeout);
      req.signal?.addEventListener('abort', () => this.cancel(job, new ServeError(499, 'cancelled', 'the client closed the request')), { once: true });
      this.queue.push(job);
      this.kick();
    });
  }

  stats(): EngineStats {
    const now = performance.now();
    while (this.recent.length > 0 && now - this.recent[0]![0] > 5000) this.recent.shift();
    const span = this.recent.length > 1 ? (now - this.recent[0]![0]) / 1000 : 0;
    const tokens = this.recent.reduce((a, [, n]) => a + n, 0);
    return {
      queued: this.queue.length,
      running: this.running.length + this.prefilling.reduce((a, j) => a + j.req.n, 0),
      tokensPerSecond: span > 0 ? tokens / span : 0,
      generatedTokens: this.generated,
      requestsByAdapter: { ...this.requests },
    };
  }

  /** Stops taking requests, fails those not finished, frees every cache and adapter. */
  close(): void {
    this.closed = true;
    for (const job of [...this.queue, ...this.prefilling, ...new Set(this.running.map((s) => s.job))]) this.cancel(job, new ServeError(503, 'server_error', 'the server is shutting down'));
    this.reap();
    this.registry.close();
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (this.queue.length > 0 || this.prefilling.length > 0 || this.running.length > 0) {
        this.reap();
        this.admit();
        noGrad(() => {
          this.prefillStep();
          this.decodeStep();
        });
        this.reap();
        // Let HTTP I/O (new requests, streamed chunks, disconnects) run between steps.
        await new Promise((r) => setImmediate(r));
      }
    } catch (e) {
      const error = new ServeError(500, 'server_error', `generation failed: ${(e as Error).message}`);
      for (const job of [...this.queue, ...this.prefilling, ...new Set(this.running.map((s) => s.job))]) this.cancel(job, error);
      this.reap();
    } finally {
      this.looping = false;
    }
  }

  /** Moves queued requests into the batch while their samples fit. */
  private admit(): void {
    while (this.queue.length > 0) {
      const inBatch = this.running.length + this.prefilling.reduce((a, j) => a + j.req.n, 0);
      if (inBatch + this.queue[0]!.req.n > this.opts.maxBatch) return;
      this.prefilling.push(this.queue.shift()!);
    }
  }

  /**
   * Prefill of admitted prompts, prefillChunk tokens a step in all: short prompts arriving together all start in
   * one step (a burst of requests joins the decode batch at once); a long one goes on over several steps.
   */
  private prefillStep(): void {
    let budget = this.opts.prefillChunk;
    while (budget > 0 && this.prefilling.length > 0) budget -= this.prefillChunkOf(this.prefilling[0]!, budget);
  }

  /** Up to `budget` tokens of a job's prompt; a finished prefill starts its n samples. Returns the tokens run. */
  private prefillChunkOf(job: Job, budget: number): number {
    const end = Math.min(job.prompt.length, job.prefilled + budget);
    const ids = Int32Array.from(job.prompt.slice(job.prefilled, end));
    this.routing.route(new Int32Array(ids.length).fill(job.slot));
    const logits = tidy(() => {
      const h = this.loaded.model.forward(ids, 1, { caches: [job.cache] }); // (1, T, D)
      if (end < job.prompt.length) return undefined;
      const last = narrow(reshape(h, [ids.length, this.loaded.config.hiddenSize]), 0, ids.length - 1, 1); // (1, D)
      return Float32Array.from(this.loaded.model.logits(last).f); // (V)
    });
    const ran = end - job.prefilled;
    job.prefilled = end;
    if (logits === undefined) return ran;
    this.prefilling.shift();
    const seed = job.req.seed ?? Math.floor(Math.random() * 2 ** 32);
    const stops = new StopMatcher(job.req.stop);
    for (let choice = 0; choice < job.req.n; choice++) {
      const seq: Seq = {
        job, choice, cache: choice === 0 ? job.cache : job.cache.clone(this.loaded.config), rng: new Rng(seed + choice * 0x9e3779b1), infos: [], pending: [],
        text: new SequenceText(this.loaded.tokenizer, job.prompt, this.stopTokens, stops, job.budget, (text) => {
          job.req.onDelta?.(choice, text, seq.pending);
          seq.pending = [];
        }),
      };
      job.seqs.push(seq);
      this.sample(seq, choice === job.req.n - 1 ? logits : Float32Array.from(logits));
      if (seq.text.done === undefined) this.running.push(seq);
      else {
        seq.cache.dispose(); // done at its first token: it never joins the batch
        this.finishSeq(seq);
      }
    }
    this.count(job.req.n);
    return ran;
  }

  /** One token for every running sequence: one forward over all of them, each row its own cache and adapter. */
  private decodeStep(): void {
    const seqs = this.running.filter((s) => s.text.done === undefined && s.job.error === undefined);
    if (seqs.length === 0) return;
    const ids = Int32Array.from(seqs, (s) => s.text.tokens[s.text.tokens.length - 1]!);
    this.routing.route(Int32Array.from(seqs, (s) => s.job.slot));
    const logits = tidy(() => Float32Array.from(this.loaded.model.logits(this.loaded.model.forward(ids, seqs.length, { caches: seqs.map((s) => s.cache) })).f)); // (B·V)
    const vocab = this.loaded.config.vocabSize;
    seqs.forEach((s, i) => {
      this.sample(s, logits.subarray(i * vocab, (i + 1) * vocab));
      if (s.text.done !== undefined) this.finishSeq(s);
    });
    this.count(seqs.length);
  }

  /** Records a step's generated tokens for tokens/s over the last 5 seconds. */
  private count(tokens: number): void {
    const now = performance.now();
    this.generated += tokens;
    this.recent.push([now, tokens]);
    while (now - this.recent[0]![0] > 5000) this.recent.shift();
  }

  /** Samples a sequence's next token from its logits (modified in place), with log-probs when asked. */
  private sample(seq: Seq, logits: Float32Array): void {
    const req = seq.job.req;
    const probs = req.logprobs === undefined ? undefined : tokenLogprobs(logits, req.logprobs);
    const id = sampleToken(logits, { temperature: req.temperature, topP: req.topP }, seq.rng, seq.text.context);
    const info: TokenInfo = { id, text: this.loaded.tokenizer.decode([id]) };
    if (probs !== undefined) {
      info.logprob = probs.of(id);
      if (req.logprobs! > 0) info.top = probs.top.map((t) => ({ id: t.id, text: this.loaded.tokenizer.decode([t.id]), logprob: t.logprob }));
    }
    if (!this.stopTokens.has(id)) {
      seq.infos.push(info);
      seq.pending.push(info);
    }
    // The token's text in context, set before it streams (decoded alone, a SentencePiece token loses its space).
    seq.text.onPiece = (piece) => (info.text = piece);
    seq.text.accept(id);
  }

  private finishSeq(seq: Seq): void {
    const job = seq.job;
    job.finished++;
    if (job.finished < job.req.n || job.error !== undefined) return;
    const choices: ChoiceResult[] = job.seqs.map((s) => ({ index: s.choice, text: s.text.text, finishReason: s.text.done ?? 'length', tokens: s.infos }));
    this.settle(job);
    job.resolve({ choices, promptTokens: job.prompt.length, completionTokens: job.seqs.reduce((a, s) => a + s.text.tokens.length, 0) });
  }

  /** Ends a job early: its sequences leave at the next reap, its promise rejects with the reason. */
  private cancel(job: Job, error: ServeError): void {
    if (job.error !== undefined || (job.finished === job.req.n && job.seqs.length === job.req.n)) return;
    job.error = error;
    const queued = this.queue.indexOf(job);
    if (queued !== -1) this.queue.splice(queued, 1);
    const prefilling = this.prefilling.indexOf(job);
    if (prefilling !== -1) this.prefilling.splice(prefilling, 1);
    if (job.seqs.length === 0) job.cache.dispose(); // never started: no sequence owns the cache
    this.settle(job);
    job.reject(error);
  }

  private settle(job: Job): void {
    if (job.timer !== undefined) clearTimeout(job.timer);
    if (job.adapter !== '') this.registry.release(job.adapter);
  }

  /** Drops finished and cancelled sequences from the batch and frees their caches. */
  private reap(): void {
    const keep: Seq[] = [];
    for (const s of this.running) {
      if (s.text.done === undefined && s.job.error === undefined) keep.push(s);
      else s.cache.dispose();
    }
    this.running = keep;
  }
}

/** A model made servable: its Linear layers wrapped for adapters, the registry with the starting adapters, the engine. */
export function createServing(opts: ServingOptions): { engine: Engine; registry: ServingAdapters; close(): void } {
  const routing = new AdapterRouting();
  const layers = wrapForAdapters(opts.loaded.model, routing);
  const baseId = opts.baseId ?? basename(opts.loaded.path, extname(opts.loaded.path));
  const registry = new ServingAdapters(layers, baseId, opts.maxAdapters ?? 16);
  for (const [name, path] of opts.adapters ?? []) registry.add(name, path);
  const engine = new Engine(opts.loaded, routing, registry, {
    maxBatch: opts.maxBatch ?? 32,
    maxQueue: opts.maxQueue ?? 256,
    requestTimeoutMs: opts.requestTimeoutMs,
    prefillChunk: opts.prefillChunk ?? 256,
  });
  return { engine, registry, close: () => engine.close() };
}
