// The studio's HTTP server on serve's Fastify base: the page, and the APIs of the modes it was started with
// (ranking, runs, compare), behind the same API-key check as whet serve.
import type { FastifyInstance } from 'fastify';
import { serverBase } from '../serve/server.ts';
import { assetRoutes } from './assets.ts';
import { studioAuth } from './auth.ts';
import { compareRoutes, type CompareState } from './routes-compare.ts';
import { rankRoutes } from './routes-rank.ts';
import { runsRoutes } from './routes-runs.ts';
import type { RankSession } from './rank-session.ts';
import type { GenerationSettings } from './candidates.ts';

export interface StudioOptions {
  rank?: { session: RankSession; settings: GenerationSettings; annotator?: string; out: string; perPrompt: number };
  runsDir?: string;
  compare?: { state: CompareState; out: string };
  /** The model and adapters, shown on the page. */
  models: string[];
  apiKey?: string;
  bodyLimit: number;
}

export function buildStudioServer(o: StudioOptions): FastifyInstance {
  const app = serverBase(o.bodyLimit);
  if (o.apiKey !== undefined) app.addHook('onRequest', studioAuth(o.apiKey));
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/api/info', async () => ({
    models: o.models,
    rank: o.rank === undefined ? null : { mode: o.rank.session.mode, settings: o.rank.settings, annotator: o.rank.annotator ?? null, out: o.rank.out, perPrompt: o.rank.perPrompt },
    runs: o.runsDir !== undefined,
    compare: o.compare !== undefined,
  }));
  assetRoutes(app);
  if (o.rank !== undefined) rankRoutes(app, o.rank.session);
  if (o.runsDir !== undefined) runsRoutes(app, o.runsDir);
  if (o.compare !== undefined) compareRoutes(app, o.compare.state, o.compare.out);
  return app;
}
