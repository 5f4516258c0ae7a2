// API-key check for the studio: serve's bearer token, or a cookie the page gets by being opened once as /?key=KEY
// (a browser's EventSource and plain links cannot send an Authorization header).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerAuth } from '../serve/auth.ts';

const COOKIE = 'whet_studio';
const hash = (s: string): string => createHash('sha256').update(s).digest('hex');
const same = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

export function studioAuth(apiKey: string): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const bearer = bearerAuth(apiKey);
  const token = hash(`whet studio ${apiKey}`);
  return async (request, reply) => {
    const key = new URL(request.url, 'http://localhost').searchParams.get('key');
    if (key !== null && same(hash(`whet studio ${key}`), token)) {
      reply.header('set-cookie', `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`);
      return;
    }
    const cookie = (request.headers.cookie ?? '').split(/;\s*/).find((c) => c.startsWith(`${COOKIE}=`))?.slice(COOKIE.length + 1);
    if (cookie !== undefined && same(cookie, token)) return;
    await bearer(request);
  };
}
