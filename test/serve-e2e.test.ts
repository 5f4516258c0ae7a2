// `whet serve`'s engine behind its HTTP server on the real stories260K model, driven by the official `openai` client:
// 64 concurrent streaming requests over four adapters and the base each give the text they give alone (nothing mixed
// between rows) and the text `whet generate --adapter` gives; a client that leaves mid-stream frees its sequence;
// adapters load, unload (after their running requests finish) and come back after LRU eviction; a bad adapter is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { loadModel } from '../src/model/load.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { applyLora, loraLayers, unloadLora, type LoraConfig } from '../src/adapters/apply.ts';
import { saveAdapter } from '../src/adapters/peft.ts';
import { Rng } from '../src/tensor/random.ts';
import { createServing } from '../src/serve/engine.ts';
import { buildServer } from '../src/serve/server.ts';
import { chatTemplateOf } from '../src/tokenizer/chat-template.ts';
import { sharedSkip, STORIES_GGUF } from './helpers/shared-data.ts';

/** Four adapters on stories260K that each change its text: ranks 2–16, one on q/v only. */
function writeAdapters(dir: string): [string, string][] {
  const model: LlamaModel = loadModel(STORIES_GGUF).model;
  const specs: [string, LoraConfig][] = [
    ['tales', { r: 8, alpha: 16, dropout: 0, targetModules: 'all-linear', seed: 1 }],
    ['poems', { r: 4, alpha: 4, dropout: 0, targetModules: 'all-linear', seed: 2 }],
    ['codes', { r: 16, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj'], seed: 3 }],
    ['short', { r: 2, alpha: 8, dropout: 0, targetModules: 'all-linear', seed: 4 }],
  ];
  const out = specs.map(([name, cfg]): [string, string] => {
    applyLora(model, cfg);
    const rng = new Rng(cfg.seed + 10);
    for (const { layer } of loraLayers(model)) layer.lora_B.weight.f.forEach((_, i, b) => (b[i] = (rng.uniform() - 0.5) * 0.4));
    const dir2 = path.join(dir, name);
    saveAdapter(dir2, model, cfg, STORIES_GGUF);
    unloadLora(model);
    return [name, dir2];
  });
  model.dispose();
  return out;
}

async function start(adapters: [string, string][], opts: { maxAdapters?: number; adapterDir?: string; maxBatch?: number } = {}) {
  const loaded = loadModel(STORIES_GGUF);
  const serving = createServing({ loaded, adapters, maxAdapters: opts.maxAdapters ?? 8, maxBatch: opts.maxBatch ?? 32, baseId: 'stories' });
  const app = buildServer({
    engine: serving.engine, registry: serving.registry, tokenizer: loaded.tokenizer, chatTemplate: chatTemplateOf(loaded.tokenizer.chatTemplate), apiKey: 'k',
    allowAdapterLoading: opts.adapterDir !== undefined, adapterDir: opts.adapterDir, bodyLimit: 1 << 20,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  const client = new OpenAI({ apiKey: 'k', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
  return { client, serving, port, close: async () => (await app.close(), serving.close()) };
}

const PROMPTS = ['Once upon a time', 'The little dog', 'Lily and her mom', 'One day, a big', 'Tom wanted to'];

async function streamText(client: OpenAI, model: string, prompt: string, maxTokens: number): Promise<string> {
  const stream = await client.completions.create({ model, prompt, max_tokens: maxTokens, temperature: 0, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  return text;
}

test('64 concurrent streams over four adapters and the base: each text is its single-request text and whet generate\'s', { skip: sharedSkip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-serve-'));
  const server = await start(writeAdapters(dir).slice(0, 4)).catch((e) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  try {
    const models = ['stories', 'tales', 'poems', 'codes', 'short'];
    const listed = await server.client.models.list();
    assert.deepEqual(listed.data.map((m) => m.id).sort(), [...models].sort());
    // Alone, one at a time: the reference text of every (model, prompt).
    const alone = new Map<string, string>();
    for (const m of models) for (const p of PROMPTS) alone.set(`${m}|${p}`, await streamText(server.client, m, p, 24));
    assert.ok(new Set(models.map((m) => alone.get(`${m}|${PROMPTS[0]}`))).size >= 4, 'the adapters change the text');

    const jobs = Array.from({ length: 64 }, (_, i) => {
      const [m, p] = [models[i % models.length]!, PROMPTS[(i * 3) % PROMPTS.length]!];
      return streamText(server.client, m, p, 24).then((text) => ({ m, p, text }));
    });
    const results = await Promise.all(jobs);
    const mixed = results.filter((r) => r.text !== alone.get(`${r.m}|${r.p}`));
    assert.deepEqual(mixed, [], 'batched text equals the text of the same request alone');
    const stats = server.serving.engine.stats();
    assert.equal(stats.running, 0);
    assert.ok(stats.requestsByAdapter.tales! >= 13);

    // whet generate --adapter gives the same text at temperature 0.
    for (const [m, p] of [['tales', PROMPTS[0]!], ['codes', PROMPTS[1]!], ['stories', PROMPTS[2]!]] as const) {
      const args = ['bin/whet.js', 'generate', '--model', STORIES_GGUF, '--prompt', p, '--temperature', '0', '--max-tokens', '24', ...(m === 'stories' ? [] : ['--adapter', path.join(dir, m)])];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, WHET_NO_PROGRESS: '1' } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, alone.get(`${m}|${p}`), `${m}: whet generate and the server agree`);
    }
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a client that disconnects mid-stream frees its sequence; n = 2 shares one prefill; chat through the template', { skip: sharedSkip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-serve-'));
  const server = await start(writeAdapters(dir).slice(0, 1));
  try {
    const controller = new AbortController();
    const stream = await server.client.completions.create({ model: 'tales', prompt: 'Once upon a time', max_tokens: 400, temperature: 0.8, stream: true }, { signal: controller.signal });
    let chunks = 0;
    let runningAtAbort = 0;
    try {
      for await (const _ of stream) {
        if (++chunks < 3) continue;
        runningAtAbort = server.serving.engine.stats().running;
        controller.abort();
      }
    } catch (e) {
      assert.equal((e as Error).name, 'APIUserAbortError');
    }
    assert.equal(chunks, 3, 'no chunk after the abort');
    assert.equal(runningAtAbort, 1, 'the sequence was still generating when its client left');
    const deadline = Date.now() + 10_000;
    while (server.serving.engine.stats().running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.serving.engine.stats().running, 0, 'the sequence left the batch');

    const two = await server.client.completions.create({ model: 'tales', prompt: 'The cat', max_tokens: 12, temperature: 1, seed: 3, n: 2 });
    assert.equal(two.choices.length, 2);
    assert.equal(two.usage!.prompt_tokens, loadModel(STORIES_GGUF).tokenizer.encode('The cat', { addBos: true }).length);
    assert.ok(two.choices[0]!.text !== two.choices[1]!.text, 'two samples differ');
    const chat = await server.client.chat.completions.create({ model: 'stories', messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 8, temperature: 0 });
    assert.equal(chat.choices[0]!.message.role, 'assistant');
    assert.ok(chat.usage!.completion_tokens >= 1);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('adapters load and unload at run time (an unload waits for its running request), come back after LRU eviction, and a wrong one is refused', { skip: sharedSkip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'whet-serve-'));
  const adapters = writeAdapters(dir);
  const server = await start([], { maxAdapters: 2, adapterDir: dir });
  const post = (route: string, body: unknown) =>
    fetch(`http://127.0.0.1:${server.port}/v1/${route}`, { method: 'POST', headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, body: JSON.stringify(body) });
  try {
    for (const [name] of adapters) assert.equal((await post('load_lora_adapter', { lora_name: name, lora_path: name })).status, 200);
    // Four adapters, two slots: every request still gets its adapter, read again when evicted.
    const first = new Map<string, string>();
    for (const [name] of adapters) first.set(name, await streamText(server.client, name, 'Once upon a time', 16));
    for (const [name] of adapters) assert.equal(await streamText(server.client, name, 'Once upon a time', 16), first.get(name), `${name} after eviction`);
    assert.ok(server.serving.registry.resident().length <= 2);

    // Unloading an adapter in use: the running request finishes; new ones get 404.
    const running = streamText(server.client, 'tales', 'Once upon a time', 200);
    await new Promise((r) => setTimeout(r, 50));
    const unloaded = post('unload_lora_adapter', { lora_name: 'tales' });
    const text = await running;
    assert.ok(text.length > 0);
    assert.equal((await unloaded).status, 200);
    await assert.rejects(server.client.completions.create({ model: 'tales', prompt: 'x', max_tokens: 2 }), (e: { status?: number }) => e.status === 404);

    // An adapter for another model's shapes is refused with the reason.
    const wrong = mkdtempSync(path.join(dir, 'wrong-'));
    const other = LlamaModel.random({ ...loadModel(STORIES_GGUF).config, hiddenSize: 32, headDim: 4 }, new Rng(1));
    applyLora(other, { r: 2, alpha: 2, dropout: 0, targetModules: ['q_proj'], seed: 1 });
    saveAdapter(wrong, other, { r: 2, alpha: 2, dropout: 0, targetModules: ['q_proj'], seed: 1 }, null);
    const refused = await post('load_lora_adapter', { lora_name: 'wrong', lora_path: path.basename(wrong) });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /has shape \[2, 32\], expected \[r, 64\]/);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
