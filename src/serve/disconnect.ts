// An AbortSignal that fires when the client goes away before its response is complete, so the engine stops the
// request's sequences and frees their KV cache instead of generating for nobody.
import type { FastifyReply } from 'fastify';

export function abortOnDisconnect(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const res = reply.raw;
  // 'close' also fires after a normal end; only a response that never finished means the client left.
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  if (res.destroyed || reply.request.raw.socket?.destroyed === true) controller.abort();
  return controller.signal;
}
