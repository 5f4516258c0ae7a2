// Bearer-token check for every route but /health, compared in constant time so a key cannot be guessed byte by byte.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ServeError } from './types.ts';

/** Paths a load balancer or orchestrator probes without credentials. */
const OPEN_PATHS = new Set(['/health']);

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** An onRequest hook that throws a 401 unless the request carries `Authorization: Bearer <apiKey>`. */
export function bearerAuth(apiKey: string): (request: FastifyRequest) => Promise<void> {
  const want = digest(apiKey);
  return async (request) => {
    if (OPEN_PATHS.has(request.url.split('?')[0]!)) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match !== null && timingSafeEqual(digest(match[1]!.trim()), want)) return;
    throw new ServeError(401, 'invalid_request_error', match === null ? 'missing API key: send Authorization: Bearer <key>' : 'incorrect API key provided', 'invalid_api_key');
  };
}
