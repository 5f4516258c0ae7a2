// The page's files (built by esbuild into dist/studio-web at install), read once and served from memory: no request
// path ever reaches the filesystem, and nothing is fetched from elsewhere.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { WhetError } from '../errors.ts';

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml' };

/** dist/studio-web: next to dist/studio when running the build, or under the repository when running src through tsx. */
function assetDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = [join(here, '..', 'studio-web'), join(here, '..', '..', 'dist', 'studio-web')].find((d) => existsSync(join(d, 'index.html')));
  if (dir === undefined) throw new WhetError('the studio page is not built (dist/studio-web is missing): run npm run build');
  return dir;
}

export function assetRoutes(app: FastifyInstance): void {
  const dir = assetDir();
  const files = new Map(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name))]));
  const headers = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:" };
  app.get('/', async (_request, reply) => reply.headers(headers).type(TYPES['.html']!).send(files.get('index.html')));
  app.get('/assets/:name', async (request, reply) => {
    const name = (request.params as { name: string }).name;
    const body = name === 'index.html' ? undefined : files.get(name);
    if (body === undefined) return reply.callNotFound();
    return reply.headers(headers).type(TYPES[extname(name)] ?? 'application/octet-stream').send(body);
  });
}
