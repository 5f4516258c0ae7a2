// The runs API: every run under the runs folder, one run's metrics, its live metrics as server-sent events
// (new lines of metrics.jsonl as they land, and its state when it changes), and its report files.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { tailFile } from './metrics-tail.ts';
import { within } from './paths.ts';
import { findRuns, parseMetricLines, summarizeRun } from './runs.ts';

const run = { type: 'string', minLength: 1, maxLength: 1000 };
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.json': 'application/json; charset=utf-8', '.jsonl': 'text/plain; charset=utf-8', '.md': 'text/plain; charset=utf-8' };
/** How often a live run's state (running → finished) is looked at between metric lines. */
const STATE_POLL_MS = 2000;

export function runsRoutes(app: FastifyInstance, root: string): void {
  const dirOf = (id: string): string => within(root, id);

  app.get('/api/runs', async () => ({ runs: findRuns(root).map((id) => summarizeRun(root, id, dirOf(id))) }));

  app.get('/api/runs/metrics', { schema: { querystring: { type: 'object', required: ['run'], properties: { run } } } }, async (request) => {
    const id = (request.query as { run: string }).run;
    const dir = dirOf(id);
    return { summary: summarizeRun(root, id, dir), metrics: parseMetricLines(readFileSync(within(dir, 'metrics.jsonl'), 'utf8')) };
  });

  app.get('/api/runs/file', { schema: { querystring: { type: 'object', required: ['run', 'name'], properties: { run, name: run } } } }, async (request, reply) => {
    const q = request.query as { run: string; name: string };
    const path = within(dirOf(q.run), q.name);
    return reply.type(TYPES[extname(path)] ?? 'text/plain; charset=utf-8').send(readFileSync(path));
  });

  app.get('/api/runs/events', { schema: { querystring: { type: 'object', required: ['run'], properties: { run } } } }, async (request, reply) => {
    const id = (request.query as { run: string }).run;
    const dir = dirOf(id);
    const metricsPath = within(dir, 'metrics.jsonl');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    let lastState = '';
    const sendState = (): void => {
      try {
        const s = summarizeRun(root, id, dir);
        const key = JSON.stringify([s.state, s.steps, s.bestHoldout, s.reports, s.checkpoints]);
        if (key !== lastState) send('summary', s);
        lastState = key;
      } catch {
        // the folder is being rewritten; the next poll sees it whole
      }
    };
    const tail = tailFile(metricsPath, (lines, reset) => {
      send('metrics', { reset, lines: parseMetricLines(lines.join('\n')) });
      sendState();
    });
    sendState();
    const timer = setInterval(sendState, STATE_POLL_MS);
    res.on('close', () => {
      tail.close();
      clearInterval(timer);
    });
  });
}
