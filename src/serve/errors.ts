// Every failure as OpenAI's error object `{error: {message, type, param, code}}` with its HTTP status: ServeErrors
// from the engine, Fastify's own (body too large, bad JSON, schema), and anything else as a 500 without its stack.
import type { FastifyError } from 'fastify';
import { ServeError } from './types.ts';

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function errorBody(e: ServeError): ErrorBody {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

/** A 400 naming the request field at fault. */
export function badRequest(message: string, param: string | null = null, code: string | null = null): ServeError {
  return new ServeError(400, 'invalid_request_error', message, code, param);
}

/** The ServeError an error thrown while handling a request stands for. */
export function toServeError(err: unknown): ServeError {
  if (err instanceof ServeError) return err;
  const e = err as Partial<FastifyError>;
  if (e.validation !== undefined && e.validation.length > 0) {
    const [first] = e.validation;
    const missing = (first!.params as { missingProperty?: string }).missingProperty;
    const path = [...first!.instancePath.split('/').filter((s) => s !== ''), ...(missing !== undefined ? [missing] : [])];
    const param = path.length > 0 ? path.join('.') : null;
    return badRequest(`${param ?? 'body'}: ${first!.message ?? 'is invalid'}${allowed(first!.params)}`, param);
  }
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return new ServeError(415, 'invalid_request_error', 'send the body as JSON with Content-Type: application/json', 'unsupported_media_type');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)
    return new ServeError(e.statusCode, 'invalid_request_error', e.message ?? 'bad request', fastifyCode(e.code));
  return new ServeError(500, 'server_error', 'internal server error');
}

/** An enum's allowed values, which AJV's message leaves out. */
function allowed(params: Record<string, unknown>): string {
  return Array.isArray(params.allowedValues) ? ` (${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')})` : '';
}

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'request_too_large',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
};

function fastifyCode(code: string | undefined): string | null {
  return code === undefined ? null : FASTIFY_CODES[code] ?? null;
}

/** Faults go to stderr as one line (the client only learns that one happened); refusals (4xx, 503 at shutdown) are not logged. */
export function logServerError(err: unknown, e: ServeError, where: string): void {
  if (e.status === 500) process.stderr.write(`whet serve: ${where}: ${err instanceof Error ? err.message : String(err)}\n`);
}
