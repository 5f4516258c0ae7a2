// The HTTP layer of `whet serve` against a fake engine: OpenAI's request and response shapes (also through the
// official `openai` client), streaming, prompts encoded as `whet generate` encodes them, adapter routes and their
// path checks, errors in OpenAI's shape, auth, metrics, and a client that leaves mid-stream aborting its request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { buildServer, type ServerOptions } from '../src/serve/server.ts';
import { ServeError } from '../src/serve/types.ts';
import { chatTemplateOf } from '../src/tokenizer/chat-template.ts';
import { chatPromptIds, textPromptIds } from '../src/tokenizer/prompt.ts';
import { BOS, charTokenizer, fakeEngine, fakeRegistry, PIECES, type FakeEngine, type FakeRegistry } from './helpers/fake-serving.ts';

/** A template that writes BOS itself, as Llama's do: the prompt must then start with exactly one. */
const TEMPLATE = "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}";
const ANSWER = PIECES.join('');

function setup(opts: Partial<ServerOptions> = {}) {
  const engine = fakeEngine();
  const registry = fakeRegistry('stories', [{ name: 'sql', path: '/adapters/sql', rank: 8 }]);
  const tokenizer = charTokenizer(TEMPLATE);
  const app = buildServer({ engine, registry, tokenizer, chatTemplate: chatTemplateOf(TEMPLATE), allowAdapterLoading: false, bodyLimit: 4096, ...opts });
  return { app, engine, registry, tokenizer };
}

const post = (app: ReturnType<typeof setup>['app'], url: string, payload: unknown, headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url, payload: payload as object, headers });

/** An OpenAI error body: exactly {error: {message, type, param, code}}. */
function assertError(res: { statusCode: number; json(): unknown; body: string }, status: number, code?: string | null, param?: string | null) {
  assert.equal(res.statusCode, status, res.body);
  const { error } = res.json() as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof error.message, 'string');
  assert.doesNotMatch(res.body, /\bat .*\.ts:\d+/, 'no stack trace');
  if (code !== undefined) assert.equal(error.code, code);
  if (param !== undefined) assert.equal(error.param, param);
  return error;
}

/** The `data:` payloads of an SSE body, which must end with [DONE]. */
function sseEvents(body: string): unknown[] {
  const events = body.split('\n\n').filter((e) => e !== '');
  assert.ok(events.every((e) => e.startsWith('data: ')), body);
  assert.equal(events.at(-1), 'data: [DONE]');
  return events.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
}

async function listen(app: ReturnType<typeof setup>['app']): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

test('chat: the prompt is the chat template rendered with one BOS, exactly as whet generate --chat builds it; OpenAI defaults', async () => {
  const { app, engine, tokenizer } = setup();
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'text', text: 'there' }] }];
  const res = await post(app, '/v1/chat/completions', { model: 'stories', messages, stop: 'END' });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.match(body.id, /^chatcmpl-[0-9a-f]{24}$/);
  assert.equal(body.object, 'chat.completion');
  assert.ok(Math.abs(body.created - Date.now() / 1000) < 5);
  assert.equal(body.model, 'stories');
  assert.deepEqual(body.choices, [{ index: 0, message: { role: 'assistant', content: ANSWER }, logprobs: null, finish_reason: 'stop' }]);
  const [req] = engine.requests;
  const expected = chatPromptIds(tokenizer, chatTemplateOf(TEMPLATE), [messages[0]!, { role: 'user', content: 'Hi\nthere' }]);
  assert.deepEqual(req!.prompt, expected);
  assert.equal(tokenizer.decode(req!.prompt), '<s>[system]Be brief.[user]Hi\nthere[assistant]');
  assert.equal(req!.prompt.filter((id) => id === BOS).length, 1, 'one BOS, from the template');
  assert.deepEqual(body.usage, { prompt_tokens: expected.length, completion_tokens: PIECES.length, total_tokens: expected.length + PIECES.length });
  assert.equal(req!.adapter, undefined);
  assert.deepEqual([req!.n, req!.temperature, req!.topP, req!.stop, req!.logprobs], [1, 1, 1, ['END'], undefined]);
  assert.equal(req!.maxTokens, engine.context - expected.length, 'no max_tokens: what the context leaves');

  // An adapter by name; max_completion_tokens over max_tokens; add_generation_prompt and template kwargs reach the template.
  await post(app, '/v1/chat/completions', { model: 'sql', messages: [{ role: 'user', content: 'q' }], max_tokens: 9, max_completion_tokens: 2, add_generation_prompt: false, temperature: 0, seed: 5 });
  const second = engine.requests[1]!;
  assert.deepEqual([second.adapter, second.maxTokens, second.temperature, second.seed], ['sql', 2, 0, 5]);
  assert.equal(tokenizer.decode(second.prompt), '<s>[user]q');
});

test('completions: a prompt string (or a list of one) is encoded with BOS as whet generate --prompt; finish_reason length', async () => {
  const { app, engine, tokenizer } = setup();
  const res = await post(app, '/v1/completions', { model: 'sql', prompt: 'Once upon', max_tokens: 2, stop: ['x', 'y'], top_p: 0.5 });
  assert.equal(res.statusCode, 200, res.body);
  const body = res.json();
  assert.match(body.id, /^cmpl-[0-9a-f]{24}$/);
  assert.equal(body.object, 'text_completion');
  assert.equal(body.model, 'sql');
  assert.deepEqual(body.choices, [{ index: 0, text: 'Hello', logprobs: null, finish_reason: 'length' }]);
  const req = engine.requests[0]!;
  assert.deepEqual(req.prompt, textPromptIds(tokenizer, 'Once upon'));
  assert.equal(req.prompt[0], BOS);
  assert.deepEqual([req.adapter, req.maxTokens, req.topP, req.stop], ['sql', 2, 0.5, ['x', 'y']]);
  assert.deepEqual(body.usage, { prompt_tokens: req.prompt.length, completion_tokens: 2, total_tokens: req.prompt.length + 2 });
  await post(app, '/v1/completions', { prompt: ['Once upon'] });
  assert.deepEqual(engine.requests[1]!.prompt, req.prompt);
  assert.equal(engine.requests[1]!.adapter, undefined, 'no model field: the base');
  assertError(await post(app, '/v1/completions', { prompt: ['a', 'b'] }), 400, null, 'prompt');
});

test('n=2 gives two choices, indexed, from one engine request', async () => {
  const { app, engine } = setup();
  const body = (await post(app, '/v1/completions', { prompt: 'a', n: 2 })).json();
  assert.deepEqual(body.choices.map((c: { index: number; text: string }) => [c.index, c.text]), [[0, ANSWER], [1, ANSWER]]);
  assert.equal(engine.requests[0]!.n, 2);
  assert.equal(body.usage.completion_tokens, 2 * PIECES.length);
  assertError(await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], n: 17 }), 400, null, 'n');
});

test('streaming chat: role first, one chunk per delta, finish_reason last, then [DONE]; include_usage adds a usage chunk', async () => {
  const { app } = setup();
  const res = await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: true } });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  const chunks = sseEvents(res.body) as { id: string; object: string; choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[]; usage: unknown }[];
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id));
  assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
  const withChoices = chunks.filter((c) => c.choices.length > 0);
  assert.equal(withChoices.map((c) => c.choices[0]!.delta.content ?? '').join(''), ANSWER);
  assert.deepEqual(withChoices.map((c) => c.choices[0]!.finish_reason), [...PIECES.map(() => null), 'stop']);
  const last = chunks.at(-1)!;
  assert.deepEqual(last.choices, []);
  assert.equal((last.usage as { completion_tokens: number }).completion_tokens, PIECES.length);
  assert.ok(chunks.slice(0, -1).every((c) => c.usage === null), 'usage: null on the others');

  const plain = sseEvents((await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], stream: true })).body) as object[];
  assert.ok(plain.every((c) => !('usage' in c)), 'no usage field unless asked');
  assertError(await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], stream_options: { include_usage: true } }), 400, null, 'stream_options');
});

test('streaming completions with n=2 and logprobs: per-choice chunks whose text_offset runs on', async () => {
  const { app } = setup();
  const res = await post(app, '/v1/completions', { prompt: 'a', n: 2, stream: true, logprobs: 1 });
  const chunks = sseEvents(res.body) as { object: string; choices: { index: number; text: string; logprobs: { tokens: string[]; text_offset: number[] } | null; finish_reason: string | null }[] }[];
  for (const index of [0, 1]) {
    const mine = chunks.map((c) => c.choices[0]!).filter((c) => c.index === index);
    assert.equal(mine.map((c) => c.text).join(''), ANSWER);
    assert.deepEqual(mine.flatMap((c) => c.logprobs?.text_offset ?? []), [0, 3, 5, 9]);
    assert.equal(mine.at(-1)!.finish_reason, 'stop');
  }
  assert.ok(chunks.every((c) => c.object === 'text_completion'));
});

test('logprobs: completions as parallel lists (top k plus the chosen token), chat as content entries with bytes', async () => {
  const { app, engine } = setup();
  const comp = (await post(app, '/v1/completions', { prompt: 'a', logprobs: 2 })).json();
  assert.equal(engine.requests[0]!.logprobs, 2);
  const lp = comp.choices[0].logprobs;
  assert.deepEqual(lp.tokens, PIECES);
  assert.deepEqual(lp.token_logprobs, [-0.5, -1.5, -2.5, -3.5]);
  assert.deepEqual(lp.top_logprobs[1], { lo: -1.5, alt1: -2.5 });
  assert.deepEqual(lp.text_offset, [0, 3, 5, 9]);

  const chat = (await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], logprobs: true, top_logprobs: 2 })).json();
  assert.equal(engine.requests[1]!.logprobs, 2);
  const first = chat.choices[0].logprobs.content[0];
  assert.deepEqual(first, { token: 'Hel', logprob: -0.5, bytes: [72, 101, 108], top_logprobs: [{ token: 'Hel', logprob: -0.5, bytes: [72, 101, 108] }, { token: 'alt1', logprob: -1.5, bytes: [97, 108, 116, 49] }] });
  assert.equal(chat.choices[0].logprobs.content.length, PIECES.length);
  await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], logprobs: true });
  assert.equal(engine.requests[2]!.logprobs, 0, 'logprobs alone: the chosen token only');
  assertError(await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], top_logprobs: 2 }), 400, null, 'top_logprobs');
  assertError(await post(app, '/v1/completions', { prompt: 'a', logprobs: 21 }), 400, null, 'logprobs');
});

test('/v1/models lists the base and each adapter with its parent and folder', async () => {
  const { app } = setup();
  const body = (await app.inject({ method: 'GET', url: '/v1/models' })).json();
  assert.equal(body.object, 'list');
  assert.deepEqual(body.data.map((m: Record<string, unknown>) => [m.id, m.object, m.owned_by, m.parent, m.root]), [
    ['stories', 'model', 'whetstone', null, 'stories'],
    ['sql', 'model', 'whetstone', 'stories', '/adapters/sql'],
  ]);
  assert.equal(body.data[0].max_model_len, 64);
});

test('adapter loading is an unknown route unless allowed, as in vLLM without VLLM_ALLOW_RUNTIME_LORA_UPDATING', async () => {
  const { app, registry } = setup();
  assertError(await post(app, '/v1/load_lora_adapter', { lora_name: 'a', lora_path: 'a' }), 404);
  assertError(await post(app, '/v1/unload_lora_adapter', { lora_name: 'sql' }), 404);
  assert.deepEqual(registry.loads, []);
  assert.ok(registry.has('sql'));
});

test('load and unload: vLLM plain-text answers; lora_path must stay inside the adapter folder (.., absolute, symlinks)', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'whet-serve-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, 'adapters');
  mkdirSync(path.join(dir, 'good'), { recursive: true });
  mkdirSync(path.join(root, 'secret'));
  symlinkSync(path.join(root, 'secret'), path.join(dir, 'escape'));
  symlinkSync(path.join(dir, 'good'), path.join(dir, 'alias'));
  const { app, registry } = setup({ allowAdapterLoading: true, adapterDir: dir });
  const load = (lora_name: string, lora_path: string) => post(app, '/v1/load_lora_adapter', { lora_name, lora_path });

  const ok = await load('good', 'good');
  assert.equal(ok.statusCode, 200, ok.body);
  assert.match(String(ok.headers['content-type']), /^text\/plain/);
  assert.equal(ok.body, "Success: LoRA adapter 'good' added successfully.");
  assert.equal((await load('alias', 'alias')).statusCode, 200, 'a link that stays inside is fine');
  assert.equal((await load('abs', path.join(dir, 'good'))).statusCode, 200, 'an absolute path inside is fine');
  const real = path.join(realpathSync(dir), 'good');
  assert.deepEqual(registry.loads, [['good', real], ['alias', real], ['abs', real]]);
  const models = (await app.inject({ method: 'GET', url: '/v1/models' })).json();
  assert.ok(models.data.some((m: { id: string; parent: string }) => m.id === 'good' && m.parent === 'stories'));

  assert.match(assertError(await load('x', '../secret'), 400, null, 'lora_path').message as string, /\.\./);
  assert.match(assertError(await load('x', 'good/../../secret'), 400, null, 'lora_path').message as string, /\.\./);
  assert.match(assertError(await load('x', path.join(root, 'secret')), 400, null, 'lora_path').message as string, /outside/);
  assert.match(assertError(await load('x', 'escape'), 400, null, 'lora_path').message as string, /outside/);
  assert.match(assertError(await load('x', 'missing'), 400, null, 'lora_path').message as string, /no such/);
  assertError(await load('good', 'good'), 400, 'lora_exists', 'lora_name');
  assertError(await post(app, '/v1/load_lora_adapter', { lora_name: 'x' }), 400, null, 'lora_path');
  assert.equal(registry.loads.length, 3, 'no refused path reached the registry');

  const gone = await post(app, '/v1/unload_lora_adapter', { lora_name: 'good' });
  assert.equal(gone.statusCode, 200);
  assert.equal(gone.body, "Success: LoRA adapter 'good' removed successfully.");
  assert.ok(!registry.has('good'));
  assertError(await post(app, '/v1/unload_lora_adapter', { lora_name: 'good' }), 404);
});

test('errors are OpenAI error objects: body too large 413, bad JSON 400, schema 400 naming the field, unknown model and route 404', async () => {
  const { app, engine } = setup();
  assertError(await post(app, '/v1/completions', { prompt: 'x'.repeat(5000) }), 413, 'request_too_large');
  const bad = await app.inject({ method: 'POST', url: '/v1/completions', payload: '{"prompt": ', headers: { 'content-type': 'application/json' } });
  assertError(bad, 400, 'invalid_json');
  // A form or text body (what a browser may send cross-site without a preflight) never reaches the engine.
  assertError(await app.inject({ method: 'POST', url: '/v1/completions', payload: 'prompt=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
  assertError(await app.inject({ method: 'POST', url: '/v1/completions', payload: '{"prompt": "a"}', headers: { 'content-type': 'text/plain' } }), 400);
  assert.match(assertError(await post(app, '/v1/completions', { prompt: 'a', temperature: 3 }), 400, null, 'temperature').message as string, /temperature/);
  assertError(await post(app, '/v1/completions', { prompt: 'a', max_tokens: '5' }), 400, null, 'max_tokens');
  assertError(await post(app, '/v1/chat/completions', { model: 'stories' }), 400, null, 'messages');
  assertError(await post(app, '/v1/chat/completions', { messages: [{ content: 'no role' }] }), 400, null, 'messages.0.role');
  assertError(await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }), 400, null, 'messages.0.content.0');
  assertError(await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function' }] }), 400, null, 'tools');
  const strict = setup({ chatTemplate: chatTemplateOf("{% if messages[0].role != 'user' %}{{ raise_exception('roles must start with user') }}{% endif %}x") });
  const refused = assertError(await post(strict.app, '/v1/chat/completions', { messages: [{ role: 'assistant', content: 'x' }] }), 400, null, 'messages');
  assert.match(refused.message as string, /roles must start with user/);
  assertError(await post(app, '/v1/completions', { prompt: 'a', echo: true }), 400, null, 'echo');
  assertError(await post(app, '/v1/completions', { prompt: 'a', top_k: 40 }), 400, null, 'top_k');
  const unknown = assertError(await post(app, '/v1/completions', { model: 'nope', prompt: 'a' }), 404, 'model_not_found', 'model');
  assert.match(unknown.message as string, /nope/);
  assertError(await app.inject({ method: 'GET', url: '/v1/nothing' }), 404);
  assert.equal(engine.requests.length, 0, 'no refused request reached the engine');
});

test('prompt + max_tokens beyond the context is a 400 with both numbers; a prompt that fills it leaves no room', async () => {
  const { app, engine } = setup();
  const over = assertError(await post(app, '/v1/completions', { prompt: 'x'.repeat(20), max_tokens: 60 }), 400, 'context_length_exceeded', 'prompt');
  assert.match(over.message as string, /maximum context length is 64 tokens.*81 tokens \(21 in the prompt, 60 in the completion\)/);
  assertError(await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x'.repeat(70) }] }), 400, 'context_length_exceeded', 'messages');
  assert.equal((await post(app, '/v1/completions', { prompt: 'x'.repeat(20), max_tokens: 43 })).statusCode, 200, 'exactly the context is fine');
  assert.equal(engine.requests.length, 1);
});

test("the engine's ServeErrors keep their status, type and code (queue full 429, timeout 408); other faults are a bare 500 and one stderr line", async (t) => {
  const { app, engine } = setup();
  engine.failWith = new ServeError(429, 'rate_limit_error', 'the queue is full (64 waiting)', 'queue_full');
  const full = assertError(await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] }), 429, 'queue_full');
  assert.equal(full.type, 'rate_limit_error');
  // Streaming too: nothing was sent yet, so the client gets the status, not an event stream.
  const streamed = await post(app, '/v1/completions', { prompt: 'a', stream: true });
  assertError(streamed, 429, 'queue_full');
  assert.match(String(streamed.headers['content-type']), /json/);
  engine.failWith = new ServeError(408, 'timeout_error', 'the request timed out after 600 s', 'timeout');
  assertError(await post(app, '/v1/completions', { prompt: 'a' }), 408, 'timeout');

  const lines: string[] = [];
  t.mock.method(process.stderr, 'write', (s: string) => lines.push(s));
  engine.failWith = new Error('kernel exploded at /src/x.ts:12');
  const crash = assertError(await post(app, '/v1/completions', { prompt: 'a' }), 500, null);
  assert.equal(crash.message, 'internal server error');
  assert.equal(crash.type, 'server_error');
  t.mock.restoreAll();
  assert.deepEqual(lines, ['whet serve: POST /v1/completions: kernel exploded at /src/x.ts:12\n']);
});

test('API key: 401 without or with a wrong key on every route but /health; the right key passes; no CORS headers', async () => {
  const { app } = setup({ apiKey: 'sekrit' });
  const chat = { messages: [{ role: 'user', content: 'x' }] };
  assertError(await post(app, '/v1/chat/completions', chat), 401, 'invalid_api_key');
  assertError(await post(app, '/v1/chat/completions', chat, { authorization: 'Bearer wrong' }), 401, 'invalid_api_key');
  assertError(await app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'sekrit' } }), 401);
  assertError(await app.inject({ method: 'GET', url: '/metrics' }), 401);
  const ok = await post(app, '/v1/chat/completions', chat, { authorization: 'Bearer sekrit', origin: 'http://evil.example' });
  assert.equal(ok.statusCode, 200);
  assert.ok(!Object.keys(ok.headers).some((h) => h.startsWith('access-control-')), 'CORS is off');
  assert.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer sekrit' } })).statusCode, 200);
  const health = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(health.statusCode, 200);
  const preflight = await app.inject({ method: 'OPTIONS', url: '/v1/chat/completions', headers: { origin: 'http://evil.example', authorization: 'Bearer sekrit' } });
  assert.equal(preflight.statusCode, 404);
  assert.equal(preflight.headers['access-control-allow-origin'], undefined);
});

test('/metrics: Prometheus text with HELP and TYPE lines and the engine statistics', async () => {
  const { app } = setup();
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const lines = res.body.trimEnd().split('\n');
  for (const [name, type, value] of [['whet_queue_length', 'gauge', '3'], ['whet_running_sequences', 'gauge', '2'], ['whet_tokens_per_second', 'gauge', '41.5'], ['whet_generated_tokens_total', 'counter', '1234']]) {
    const at = lines.indexOf(`# TYPE ${name} ${type}`);
    assert.ok(at > 0 && lines[at - 1]!.startsWith(`# HELP ${name} `), name);
    assert.equal(lines[at + 1], `${name} ${value}`);
  }
  assert.ok(lines.includes('# TYPE whet_requests_total counter'));
  assert.ok(lines.includes('whet_requests_total{adapter=""} 7'));
  assert.ok(lines.includes('whet_requests_total{adapter="sql"} 2'));
  assert.ok(lines.includes('whet_requests_total{adapter="we\\"ird"} 1'), 'label values escaped');
});

test('the official openai client: chat, streaming with usage, completions, models, and errors it understands', async (t) => {
  const { app } = setup({ apiKey: 'k' });
  const base = await listen(app);
  t.after(() => app.close());
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'k', maxRetries: 0 });
  const chat = await client.chat.completions.create({ model: 'sql', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 3 });
  assert.equal(chat.choices[0]!.message.content, 'Hello wor');
  assert.equal(chat.choices[0]!.finish_reason, 'length');
  let text = '';
  let usage: OpenAI.CompletionUsage | null | undefined;
  const stream = await client.chat.completions.create({ model: 'stories', messages: [{ role: 'user', content: 'x' }], stream: true, stream_options: { include_usage: true } });
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, ANSWER);
  assert.equal(usage?.completion_tokens, PIECES.length);
  const comp = await client.completions.create({ model: 'stories', prompt: 'Once', logprobs: 1 });
  assert.equal(comp.choices[0]!.text, ANSWER);
  assert.deepEqual(comp.choices[0]!.logprobs?.tokens, PIECES);
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['stories', 'sql']);
  await assert.rejects(client.completions.create({ model: 'nope', prompt: 'x' }), (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  const wrong = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'bad', maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
});

test('a client that disconnects mid-stream aborts its request, so the engine can free the sequence', async (t) => {
  const { app, engine } = setup();
  engine.hang = true;
  const base = await listen(app);
  t.after(() => app.close());
  const firstChunk = await new Promise<string>((resolve, reject) => {
    const req = http.request(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.once('data', (d: Buffer) => {
        resolve(d.toString());
        req.destroy(); // the client leaves before [DONE]
      });
    });
    req.on('error', () => {});
    req.once('error', reject);
    req.end(JSON.stringify({ prompt: 'a', stream: true }));
  });
  assert.match(firstChunk, /^data: \{.*"text":"Hel"/);
  const signal = engine.requests[0]!.signal!;
  await Promise.race([engine.aborted, new Promise((_, reject) => setTimeout(() => reject(new Error('the engine never saw the abort')), 5000))]);
  assert.ok(signal.aborted);
});

test('a non-streaming request whose client leaves is aborted too', async (t) => {
  const { app, engine } = setup();
  engine.hang = true;
  const base = await listen(app);
  t.after(() => app.close());
  const req = http.request(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } });
  req.on('error', () => {});
  req.end(JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }));
  while (engine.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
  assert.equal(engine.requests[0]!.signal!.aborted, false);
  req.destroy();
  await Promise.race([engine.aborted, new Promise((_, reject) => setTimeout(() => reject(new Error('the engine never saw the abort')), 5000))]);
  assert.ok(engine.requests[0]!.signal!.aborted);
});
