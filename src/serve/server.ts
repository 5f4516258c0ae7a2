// The OpenAI-compatible HTTP server of `whet serve` on Fastify: routes, body limits, auth and OpenAI-shaped errors
// around an engine and adapter registry it only knows through types.ts (tests give it fakes). Not listening yet.
import Fastify, { type FastifyInstance } from 'fastify';
import type { ChatTemplate } from '../tokenizer/chat-template.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { bearerAuth } from './auth.ts';
import { errorBody, logServerError, toServeError } from './errors.ts';
import { chatRoute } from './route-chat.ts';
import { completionsRoute } from './route-completions.ts';
import { loraRoutes } from './route-lora.ts';
import { modelsRoute } from './route-models.ts';
import { opsRoutes } from './route-ops.ts';
import { ServeError, type AdapterRegistry, type ServingEngine } from './types.ts';

export interface ServerOptions {
  engine: ServingEngine;
  registry: AdapterRegistry;
  tokenizer: Tokenizer;
  chatTemplate: ChatTemplate;
  /** Every route but /health then needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Registers /v1/load_lora_adapter and /v1/unload_lora_adapter (vLLM's VLLM_ALLOW_RUNTIME_LORA_UPDATING). */
  allowAdapterLoading: boolean;
  /** The only folder runtime-loaded adapters may come from; required with allowAdapterLoading. */
  adapterDir?: string;
  /** Largest request body in bytes (413 beyond). */
  bodyLimit: number;
}

export function buildServer(opts: ServerOptions): FastifyInstance {
  if (opts.allowAdapterLoading && opts.adapterDir === undefined) throw new Error('buildServer: allowAdapterLoading needs an adapterDir');
  const app = serverBase(opts.bodyLimit);
  const ctx = { engine: opts.engine, registry: opts.registry, tokenizer: opts.tokenizer, chatTemplate: opts.chatTemplate };
  if (opts.apiKey !== undefined) app.addHook('onRequest', bearerAuth(opts.apiKey));
  opsRoutes(app, ctx);
  modelsRoute(app, ctx);
  chatRoute(app, ctx);
  completionsRoute(app, ctx);
  if (opts.allowAdapterLoading) loraRoutes(app, ctx, opts.adapterDir!);
  return app;
}

/** Fastify as whet serve and whet studio both run it: strict JSON bodies, a body limit, OpenAI-shaped errors and 404s. */
export function serverBase(bodyLimit: number): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit,
    // JSON bodies are typed already: "2" is not a number, and nothing is dropped or filled in silently.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, allowUnionTypes: true } },
  });
  app.setErrorHandler((err, request, reply) => {
    const e = toServeError(err);
    // A client that has left is not a server fault, and there is no one to answer.
    if (!request.raw.socket?.destroyed) logServerError(err, e, `${request.method} ${request.url}`);
    return reply.code(e.status).send(errorBody(e));
  });
  app.setNotFoundHandler(async (request) => {
    throw new ServeError(404, 'invalid_request_error', `Invalid URL (${request.method} ${request.url.split('?')[0]})`, 'not_found');
  });
  return app;
}
