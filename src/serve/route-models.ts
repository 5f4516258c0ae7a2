// GET /v1/models: the base model and every adapter, listed as vLLM lists LoRA modules (`parent`: the base, `root`: its folder).
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from './context.ts';
import { unixNow } from './openai.ts';

export function modelsRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/models', async () => {
    const created = unixNow();
    const card = (id: string, root: string, parent: string | null) => ({ id, object: 'model', created, owned_by: 'whetstone', root, parent });
    const { baseId } = ctx.registry;
    return {
      object: 'list',
      data: [
        { ...card(baseId, baseId, null), max_model_len: ctx.engine.context },
        ...ctx.registry.list().map((a) => card(a.name, a.path, baseId)),
      ],
    };
  });
}
