// `whet serve`: loads a model, makes it servable with its adapters, and listens for OpenAI-style HTTP requests
// until SIGINT or SIGTERM; one line on stderr when listening, nothing on stdout.
import type { FrozenDType } from '../model/frozen-weights.ts';
import { statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { WhetError } from '../errors.ts';
import { loadModel } from '../model/load.ts';
import { createServing } from '../serve/engine.ts';
import { buildServer } from '../serve/server.ts';
import { ServeError } from '../serve/types.ts';
import { chatTemplateOf } from '../tokenizer/chat-template.ts';
import { UsageError } from './errors.ts';
import { parseCommand } from './options.ts';
import { serveSpec } from './specs.ts';

interface ServeValues {
  model: string; adapter?: string[]; host: string; port: number; 'api-key'?: string; 'allow-adapter-loading': boolean; 'adapter-dir'?: string;
  'max-adapters': number; 'max-batch': number; 'max-queue': number; 'request-timeout': number; 'body-limit': number; dtype: 'f32' | FrozenDType;
}

/** --adapter NAME=DIR pairs, names unique. */
export function parseAdapters(specs: string[]): [string, string][] {
  const pairs = specs.map((s): [string, string] => {
    const at = s.indexOf('=');
    if (at <= 0 || at === s.length - 1) throw new UsageError(`--adapter ${s}: expected NAME=DIR`);
    return [s.slice(0, at), s.slice(at + 1)];
  });
  const names = pairs.map(([n]) => n);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new UsageError(`--adapter: the name '${twice}' is given twice`);
  return pairs;
}

export async function serveCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(serveSpec, argv);
  if (parsed === null) return 0;
  const v = parsed.values as unknown as ServeValues;
  const adapters = parseAdapters(v.adapter ?? []);
  const adapterDir = v['adapter-dir'];
  if (v['allow-adapter-loading'] !== (adapterDir !== undefined)) throw new UsageError('--allow-adapter-loading and --adapter-dir go together: loading is only allowed from that folder');
  if (adapterDir !== undefined && !statSync(adapterDir, { throwIfNoEntry: false })?.isDirectory()) throw new WhetError(`--adapter-dir ${adapterDir}: no such folder`);
  const apiKey = v['api-key'] ?? (process.env.WHET_API_KEY || undefined);
  if (apiKey === '') throw new UsageError('--api-key: the key is empty');

  const loaded = loadModel(v.model, { dtype: v.dtype });
  let serving;
  try {
    serving = createServing({
      loaded,
      // A pulled hub model is served under its hub id, as vLLM names it, rather than its snapshot folder's commit.
      baseId: loaded.path !== v.model ? v.model : undefined,
      adapters,
      maxAdapters: v['max-adapters'],
      maxBatch: v['max-batch'],
      maxQueue: v['max-queue'],
      requestTimeoutMs: v['request-timeout'] > 0 ? v['request-timeout'] * 1000 : undefined,
    });
  } catch (e) {
    // A starting adapter the registry refuses is bad input, said in one line.
    throw e instanceof ServeError ? new WhetError(e.message) : e;
  }
  const { engine, registry } = serving;
  const chatTemplate = chatTemplateOf(loaded.tokenizer.chatTemplate);
  if (chatTemplate.isDefault) process.stderr.write('whet serve: the model ships no chat template; /v1/chat/completions renders ChatML\n');
  const app = buildServer({ engine, registry, tokenizer: loaded.tokenizer, chatTemplate, apiKey, allowAdapterLoading: v['allow-adapter-loading'], adapterDir, bodyLimit: v['body-limit'] });
  try {
    await app.listen({ host: v.host, port: v.port });
  } catch (e) {
    serving.close();
    throw new WhetError(`cannot listen on ${v.host}:${v.port}: ${(e as Error).message}`);
  }
  const { address, port } = app.server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const names = registry.list().map((a) => a.name);
  process.stderr.write(`whet serve: http://${host}:${port} (model ${registry.baseId}, adapters ${names.length > 0 ? names.join(', ') : 'none'})\n`);
  if (apiKey === undefined && !['127.0.0.1', '::1', 'localhost'].includes(v.host)) process.stderr.write(`whet serve: warning: listening on ${v.host} without an API key (--api-key or WHET_API_KEY)\n`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stderr.write(`whet serve: ${signal}, shutting down\n`);
  // Requests still running end with a 503 first, so that closing the server does not wait on them.
  serving.close();
  await app.close();
  return 0;
}
