// The serving step of the demo: the real OpenAI-style server (in-process, on a free local port) with the base model
// and both adapters, one chat request to each, and the cost of switching adapter between requests.
import type { AddressInfo } from 'node:net';
import { loadModel } from '../model/load.ts';
import { createServing } from '../serve/engine.ts';
import { buildServer } from '../serve/server.ts';
import { chatTemplateOf } from '../tokenizer/chat-template.ts';

export interface ServedAnswer {
  /** The request's model field: the base model's id or an adapter's name. */
  model: string;
  answer: string;
  ms: number;
}

export interface ServeCheck {
  answers: ServedAnswer[];
  /** Median latency of a one-token request right after one to another adapter, and after one to the same adapter. */
  switchMs: number;
  sameMs: number;
}

/** Starts the server, asks `question` of the base and of each adapter, times one-token requests, and stops it. */
export async function serveCheck(modelPath: string, adapters: [string, string][], question: string, maxTokens: number): Promise<ServeCheck> {
  const loaded = loadModel(modelPath);
  const serving = createServing({ loaded, adapters, maxBatch: 4 });
  const app = buildServer({ engine: serving.engine, registry: serving.registry, tokenizer: loaded.tokenizer, chatTemplate: chatTemplateOf(loaded.tokenizer.chatTemplate), allowAdapterLoading: false, bodyLimit: 1 << 20 });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/chat/completions`;
    const ask = async (model: string, tokens: number): Promise<ServedAnswer> => {
      const t0 = performance.now();
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: question }], max_tokens: tokens, temperature: 0 }),
      });
      const body = (await res.json()) as { choices?: { message: { content: string } }[]; error?: { message: string } };
      if (!res.ok || body.choices === undefined) throw new Error(`whet serve answered ${res.status} to a request for ${model}: ${body.error?.message ?? 'no choices'}`);
      return { model, answer: body.choices[0]!.message.content.trim(), ms: performance.now() - t0 };
    };
    const models = [serving.registry.baseId, ...adapters.map(([name]) => name)];
    const answers: ServedAnswer[] = [];
    for (const m of models) answers.push(await ask(m, maxTokens));
    // One-token requests alternate between the two adapters (each one a switch), then repeat one adapter.
    const [a, b] = [adapters[0]![0], adapters.at(-1)![0]];
    const switched: number[] = [];
    const same: number[] = [];
    for (let i = 0; i < 6; i++) switched.push((await ask(i % 2 === 0 ? a : b, 1)).ms);
    for (let i = 0; i < 6; i++) same.push((await ask(b, 1)).ms);
    return { answers, switchMs: median(switched.slice(1)), sameMs: median(same.slice(1)) };
  } finally {
    serving.close();
    await app.close();
    loaded.model.dispose();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
