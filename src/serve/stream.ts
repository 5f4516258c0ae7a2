// Server-sent events for streaming generations: `data: {chunk}\n\n` per delta, then `data: [DONE]`. Headers go out
// with the first chunk, so that an engine refusal before any token (queue full, timeout) is still a plain JSON error
// with its status; a failure after that is sent as a last `data: {error}` event, as vLLM does.
import type { FastifyReply } from 'fastify';
import { abortOnDisconnect } from './disconnect.ts';
import { errorBody, logServerError, toServeError } from './errors.ts';
import { usageOf, type Usage } from './openai.ts';
import type { GenerationRequest, ServingEngine, TokenInfo } from './types.ts';

export interface ChunkFormat {
  /**
   * One chunk choice: `text` and its `tokens` for choice `index`, after `before` (the text sent for it so far;
   * undefined for its first chunk), and its finish reason on its last chunk (null before).
   */
  choice(index: number, text: string, tokens: readonly TokenInfo[], before: string | undefined, finishReason: string | null): unknown;
  /** The chunk object around choices; usage is present (null until the last chunk) only when the client asked for it. */
  chunk(choices: unknown[], usage?: Usage | null): unknown;
}

/** Runs `request` on the engine and streams its chunks to the client; resolves when the stream has ended. */
export async function streamGeneration(reply: FastifyReply, engine: ServingEngine, request: GenerationRequest, format: ChunkFormat, includeUsage: boolean): Promise<void> {
  const res = reply.raw;
  const signal = abortOnDisconnect(reply);
  const usage = includeUsage ? null : undefined;
  const send = (data: unknown): void => {
    if (!reply.sent) {
      reply.hijack();
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    }
    if (!res.destroyed && !res.writableEnded) res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  };
  const sentText: (string | undefined)[] = [];
  const sentTokens: number[] = [];
  let result;
  try {
    result = await engine.generate({
      ...request,
      signal,
      onDelta: (index, text, tokens) => {
        if (text === '' && tokens.length === 0) return;
        send(format.chunk([format.choice(index, text, tokens, sentText[index], null)], usage));
        sentText[index] = (sentText[index] ?? '') + text;
        sentTokens[index] = (sentTokens[index] ?? 0) + tokens.length;
      },
    });
  } catch (err) {
    if (signal.aborted) return void res.destroy(); // the client has gone: nobody to tell
    if (!reply.sent) throw err; // nothing sent yet: the error handler answers with the status
    const e = toServeError(err);
    logServerError(err, e, `${reply.request.method} ${reply.request.url}`);
    send(errorBody(e));
    send('[DONE]');
    return void res.end();
  }
  if (signal.aborted) return void res.destroy();
  // Each choice's last chunk carries whatever its deltas did not (normally nothing) and its finish reason.
  for (const c of result.choices) {
    const before = sentText[c.index];
    const rest = c.text.startsWith(before ?? '') ? c.text.slice((before ?? '').length) : '';
    send(format.chunk([format.choice(c.index, rest, c.tokens.slice(sentTokens[c.index] ?? 0), before, c.finishReason)], usage));
  }
  if (includeUsage) send(format.chunk([], usageOf(result)));
  send('[DONE]');
  res.end();
}
