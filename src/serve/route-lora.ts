// POST /v1/load_lora_adapter and /v1/unload_lora_adapter with vLLM's bodies and plain-text answers. Registered only
// when runtime loading is allowed (vLLM: VLLM_ALLOW_RUNTIME_LORA_UPDATING), so otherwise they are unknown routes (404).
import type { FastifyInstance } from 'fastify';
import { resolveAdapterPath } from './adapter-path.ts';
import type { ServerContext } from './context.ts';
import { loadLoraSchema, unloadLoraSchema } from './schemas.ts';
import { ServeError } from './types.ts';

export function loraRoutes(app: FastifyInstance, ctx: ServerContext, adapterDir: string): void {
  app.post('/v1/load_lora_adapter', { schema: { body: loadLoraSchema } }, async (request, reply) => {
    const { lora_name: name, lora_path: path } = request.body as { lora_name: string; lora_path: string };
    // The registry refuses a name in use or the base's, with its reason (a 400).
    await ctx.registry.load(name, resolveAdapterPath(adapterDir, path));
    return reply.type('text/plain; charset=utf-8').send(`Success: LoRA adapter '${name}' added successfully.`);
  });

  app.post('/v1/unload_lora_adapter', { schema: { body: unloadLoraSchema } }, async (request, reply) => {
    const { lora_name: name } = request.body as { lora_name: string };
    if (!ctx.registry.has(name)) throw new ServeError(404, 'invalid_request_error', `The lora adapter '${name}' cannot be found.`, 'model_not_found', 'lora_name');
    await ctx.registry.unload(name);
    return reply.type('text/plain; charset=utf-8').send(`Success: LoRA adapter '${name}' removed successfully.`);
  });
}
