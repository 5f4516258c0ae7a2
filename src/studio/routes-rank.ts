// The ranking API: the next prompt for an annotator, submitting an order (or thumbs), skipping, and agreement.
import type { FastifyInstance } from 'fastify';
import type { RankSession } from './rank-session.ts';

const annotator = { type: 'string', minLength: 1, maxLength: 100, pattern: '\\S' };
const index = { type: 'integer', minimum: 0 };

export function rankRoutes(app: FastifyInstance, session: RankSession): void {
  app.get('/api/rank/next', { schema: { querystring: { type: 'object', required: ['annotator'], properties: { annotator } } } }, async (request) => {
    const who = (request.query as { annotator: string }).annotator;
    const next = await session.next(who);
    const progress = session.assigner.progress(who);
    // Nothing free now: done, or waiting while others hold the prompts still open to this person.
    if (next === undefined) return { done: session.assigner.open(who) === 0, waiting: session.assigner.open(who) > 0, progress };
    return { done: false, waiting: false, index: next.index, prompt: session.prompt(next.index), candidates: next.candidates, error: next.error, progress };
  });

  app.post('/api/rank/submit', {
    schema: {
      body: {
        type: 'object', required: ['annotator', 'index', 'order'], additionalProperties: false,
        properties: { annotator, index, order: { type: 'array', items: { type: 'integer' }, maxItems: 64 }, better: { type: 'string', maxLength: 100_000 } },
      },
    },
  }, async (request) => {
    const b = request.body as { annotator: string; index: number; order: number[]; better?: string };
    const candidates = await session.submit(b.annotator, b.index, b.order, b.better);
    return { saved: true, sources: candidates.map((c) => c.source) };
  });

  app.post('/api/rank/thumbs', {
    schema: {
      body: {
        type: 'object', required: ['annotator', 'index', 'labels'], additionalProperties: false,
        properties: { annotator, index, labels: { type: 'array', items: { type: ['boolean', 'null'] }, maxItems: 64 } },
      },
    },
  }, async (request) => {
    const b = request.body as { annotator: string; index: number; labels: (boolean | null)[] };
    const candidates = await session.thumbs(b.annotator, b.index, b.labels);
    return { saved: true, sources: candidates.map((c) => c.source) };
  });

  app.post('/api/rank/skip', { schema: { body: { type: 'object', required: ['annotator', 'index'], additionalProperties: false, properties: { annotator, index } } } }, async (request) => {
    const b = request.body as { annotator: string; index: number };
    session.skip(b.annotator, b.index);
    return { skipped: true };
  });

  app.get('/api/rank/agreement', async () => session.agreement());
}
