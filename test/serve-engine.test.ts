// The serving engine on a tiny random Llama (no shared data needed): a batch mixing adapters gives each request the
// tokens it gets alone and the tokens training's LoRA layer gives; the queue bound answers 429; timeouts (408) and
// cancellations (499) free their sequences and KV caches; n samples share one prefill; unloading waits for running
// requests; an evicted adapter comes back with the same outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configFromHf } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import type { LoadedModel } from '../src/model/load.ts';
import { applyLora, loraLayers, unloadLora, type LoraConfig } from '../src/adapters/apply.ts';
import { loadAdapter, saveAdapter } from '../src/adapters/peft.ts';
import { generate } from '../src/generate/generate.ts';
import { Rng } from '../src/tensor/random.ts';
import { poolStats } from '../src/tensor/pool.ts';
import { createServing } from '../src/serve/engine.ts';
import { ServeError, type GenerationRequest } from '../src/serve/types.ts';
import type { Tokenizer } from '../src/tokenizer/tokenizer.ts';

const HF = { model_type: 'llama', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 40, max_position_embeddings: 128 };
const EOS = 2;

/** One letter per id; id 2 ends a sequence, unless `endless` (then sequences run to their token limit). */
function letters(endless = false): Tokenizer {
  const text = (id: number): string => String.fromCharCode(97 + (id % 26));
  return {
    vocabSize: 40, bosId: 1, eosId: EOS, eosIds: endless ? [] : [EOS], addBos: true,
    encode: (s: string) => [1, ...[...s].map((c) => (c.charCodeAt(0) % 37) + 3)],
    decode: (ids: readonly number[]) => ids.map(text).join(''),
    idToToken: text, tokenToId: () => undefined, encodeWithOffsets: () => ({ ids: [], offsets: [] }),
    createDecodeStream: () => ({ push: text, flush: () => '' }),
  } as unknown as Tokenizer;
}

const model = (): LlamaModel => LlamaModel.random(configFromHf(HF), new Rng(1), { std: 0.3 });
const loadedModel = (endless = false): LoadedModel => ({ model: model(), tokenizer: letters(endless), config: configFromHf(HF), format: 'gguf', path: 'tiny.gguf' });

/** Three adapters of ranks 2, 4, 8 (one on q/v only) whose B are large enough to change greedy tokens. */
function writeAdapters(dir: string): [string, string][] {
  const m = model();
  const specs: LoraConfig[] = [
    { r: 2, alpha: 4, dropout: 0, targetModules: 'all-linear', seed: 1 },
    { r: 4, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj'], seed: 2 },
    { r: 8, alpha: 16, dropout: 0, targetModules: 'all-linear', seed: 3 },
  ];
  return specs.map((cfg, i): [string, string] => {
    applyLora(m, cfg);
    const rng = new Rng(50 + i);
    for (const { layer } of loraLayers(m)) layer.lora_B.weight.f.forEach((_, k, b) => (b[k] = (rng.uniform() - 0.5) * 0.8));
    const where = path.join(dir, `a${i}`);
    saveAdapter(where, m, cfg, null);
    unloadLora(m);
    return [`a${i}`, where];
  });
}

const PROMPTS = [[1, 5, 9, 12], [1, 7], [1, 20, 21, 22, 23, 24, 25], [1, 3, 3]];
const request = (adapter: string | undefined, prompt: number[], extra: Partial<GenerationRequest> = {}): GenerationRequest => ({
  adapter, prompt, n: 1, maxTokens: 12, temperature: 0, topP: 1, stop: [], ...extra,
});

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-engine-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('a batch mixing three adapters and the base gives each request its tokens alone, and training\'s LoRA layer\'s', () =>
  withDir(async (dir) => {
    const adapters = writeAdapters(dir);
    const { engine, close } = createServing({ loaded: loadedModel(), adapters, maxBatch: 16 });
    const names = [undefined, ...adapters.map(([n]) => n)];
    const alone = new Map<string, number[]>();
    for (const a of names) for (const p of PROMPTS) alone.set(`${a}|${p}`, (await engine.generate(request(a, p))).choices[0]!.tokens.map((t) => t.id));
    assert.ok(new Set(names.map((a) => alone.get(`${a}|${PROMPTS[0]}`)!.join())).size >= 3, 'the adapters change the tokens');
    const together = await Promise.all(Array.from({ length: 32 }, (_, i) => {
      const [a, p] = [names[i % 4], PROMPTS[(i * 3) % 4]!];
      return engine.generate(request(a, p)).then((r) => ({ a, p, ids: r.choices[0]!.tokens.map((t) => t.id) }));
    }));
    for (const { a, p, ids } of together) assert.deepEqual(ids, alone.get(`${a}|${p}`), `${a} on ${p}`);
    close();
    // Training's LoraLinear (what whet generate --adapter runs) gives the same greedy tokens.
    for (const [name, where] of adapters) {
      const loaded = loadedModel();
      loadAdapter(where, loaded.model);
      for (const p of PROMPTS) {
        const g = generate(loaded.model, loaded.tokenizer, [p], { maxTokens: 12, temperature: 0 })[0]!;
        assert.deepEqual(g.tokens, alone.get(`${name}|${p}`)!.filter((id) => id !== EOS), `${name}: generate and the engine agree`);
      }
    }
  }));

test('the queue bound answers 429; a timeout (408) and a cancelled request (499) leave the batch and free their caches', async () => {
  const { engine, close } = createServing({ loaded: loadedModel(true), maxBatch: 1, maxQueue: 1 });
  const live = poolStats().liveBytes;
  const first = engine.generate(request(undefined, PROMPTS[0]!, { maxTokens: 40 }));
  await assert.rejects(engine.generate(request(undefined, PROMPTS[1]!)), (e: ServeError) => e.status === 429 && /queue is full/.test(e.message));
  await first;
  const slow = engine.generate(request(undefined, PROMPTS[2]!, { maxTokens: 100, timeoutMs: 5 }));
  await assert.rejects(slow, (e: ServeError) => e.status === 408);
  const controller = new AbortController();
  const cancelled = engine.generate(request(undefined, PROMPTS[3]!, { maxTokens: 100, signal: controller.signal, onDelta: () => controller.abort() }));
  await assert.rejects(cancelled, (e: ServeError) => e.status === 499);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(engine.stats().running, 0);
  assert.equal(engine.stats().queued, 0);
  assert.equal(poolStats().liveBytes, live, 'every KV cache was freed');
  close();
});

test('n samples share one prefill; the same seed gives the same samples', async () => {
  const loaded = loadedModel();
  let prefills = 0;
  const forward = loaded.model.forward.bind(loaded.model);
  loaded.model.forward = (ids, batch, opts) => {
    if (ids.length / batch > 1) prefills++;
    return forward(ids, batch, opts);
  };
  const { engine, close } = createServing({ loaded });
  const r = await engine.generate(request(undefined, PROMPTS[2]!, { n: 3, temperature: 1.5, seed: 9, maxTokens: 10 }));
  assert.equal(prefills, 1);
  assert.equal(r.choices.length, 3);
  assert.ok(new Set(r.choices.map((c) => c.tokens.map((t) => t.id).join())).size > 1, 'the samples differ');
  assert.equal(r.completionTokens, r.choices.reduce((a, c) => a + c.tokens.length, 0));
  const again = await engine.generate(request(undefined, PROMPTS[2]!, { n: 3, temperature: 1.5, seed: 9, maxTokens: 10 }));
  assert.deepEqual(again.choices.map((c) => c.text), r.choices.map((c) => c.text));
  close();
});

test('unloading waits for the adapter\'s running request; an evicted adapter is read again with the same outputs', () =>
  withDir(async (dir) => {
    const adapters = writeAdapters(dir);
    const { engine, registry, close } = createServing({ loaded: loadedModel(), adapters, maxAdapters: 1 });
    const first = await engine.generate(request('a0', PROMPTS[0]!));
    await engine.generate(request('a2', PROMPTS[0]!)); // evicts a0
    assert.deepEqual(registry.resident(), ['a2']);
    assert.deepEqual((await engine.generate(request('a0', PROMPTS[0]!))).choices[0]!.text, first.choices[0]!.text);

    let unloaded = false;
    const running = engine.generate(request('a1', PROMPTS[1]!, { maxTokens: 60 }));
    const unload = registry.unload('a1').then(() => (unloaded = true));
    await assert.rejects(engine.generate(request('a1', PROMPTS[1]!)), (e: ServeError) => e.status === 404);
    assert.equal(unloaded, false, 'not while its request runs');
    await running;
    await unload;
    assert.equal(registry.has('a1'), false);
    close();
  }));
