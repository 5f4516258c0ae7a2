// The compare API: the table of answers and scores (or how far its computation is), and picks of the better answer.
import type { FastifyInstance } from 'fastify';
import { ServeError } from '../serve/types.ts';
import { appendPick, type CompareTable } from './compare.ts';

export interface CompareState {
  table?: CompareTable;
  error?: string;
  done: number;
  total: number;
}

export function compareRoutes(app: FastifyInstance, state: CompareState, out: string): void {
  app.get('/api/compare', async () => {
    if (state.table !== undefined) return { status: 'ready', table: state.table };
    if (state.error !== undefined) return { status: 'failed', error: state.error };
    return { status: 'computing', done: state.done, total: state.total };
  });

  app.post('/api/compare/pick', {
    schema: {
      body: {
        type: 'object', required: ['annotator', 'row', 'answer'], additionalProperties: false,
        properties: { annotator: { type: 'string', minLength: 1, maxLength: 100, pattern: '\\S' }, row: { type: 'integer', minimum: 0 }, answer: { type: 'integer', minimum: 0 } },
      },
    },
  }, async (request) => {
    const b = request.body as { annotator: string; row: number; answer: number };
    const table = state.table;
    if (table === undefined) throw new ServeError(409, 'invalid_request_error', 'the answers are still being computed', 'conflict');
    const row = table.rows[b.row];
    if (row === undefined || b.answer >= row.answers.length) throw new ServeError(400, 'invalid_request_error', 'row or answer: out of range', null, 'row');
    return { saved: appendPick(out, b.annotator, row, b.answer) };
  });
}
