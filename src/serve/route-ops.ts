// GET /health (for load balancers: no auth, no body) and GET /metrics (Prometheus).
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from './context.ts';
import { METRICS_CONTENT_TYPE, prometheusText } from './metrics.ts';

export function opsRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/health', async (_request, reply) => reply.code(200).send());
  app.get('/metrics', async (_request, reply) => reply.type(METRICS_CONTENT_TYPE).send(prometheusText(ctx.engine.stats())));
}
