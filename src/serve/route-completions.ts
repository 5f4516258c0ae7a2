// POST /v1/completions: a text prompt encoded as `whet generate --prompt` encodes it (BOS first), answered as one
// `text_completion` or streamed as chunks of the same object.
import type { FastifyInstance } from 'fastify';
import { textPromptIds } from '../tokenizer/prompt.ts';
import type { ServerContext } from './context.ts';
import { abortOnDisconnect } from './disconnect.ts';
import { completionLogprobs } from './logprobs.ts';
import { responseId, unixNow, usageOf } from './openai.ts';
import { completionBudget, generationRequest, refuseUnsupported, resolveModel } from './params.ts';
import { completionSchema, type CompletionBody } from './schemas.ts';
import { streamGeneration } from './stream.ts';

export function completionsRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/completions', { schema: { body: completionSchema } }, async (request, reply) => {
    const body = request.body as CompletionBody;
    refuseUnsupported(body);
    const { name, adapter } = resolveModel(ctx.registry, body.model);
    const prompt = textPromptIds(ctx.tokenizer, typeof body.prompt === 'string' ? body.prompt : body.prompt[0]);
    const maxTokens = completionBudget(ctx.engine.context, prompt.length, body.max_tokens, 'prompt');
    const logprobs = body.logprobs ?? undefined;
    const req = generationRequest(body, adapter, prompt, maxTokens, logprobs);
    const head = { id: responseId('cmpl'), object: 'text_completion', created: unixNow(), model: name };

    if (body.stream !== true) {
      const result = await ctx.engine.generate({ ...req, signal: abortOnDisconnect(reply) });
      return {
        ...head,
        choices: result.choices.map((c) => ({
          index: c.index,
          text: c.text,
          logprobs: logprobs === undefined ? null : completionLogprobs(c.tokens),
          finish_reason: c.finishReason,
        })),
        usage: usageOf(result),
      };
    }
    await streamGeneration(reply, ctx.engine, req, {
      choice: (index, text, tokens, before, finishReason) => ({
        index,
        text,
        logprobs: logprobs === undefined || tokens.length === 0 ? null : completionLogprobs(tokens, (before ?? '').length),
        finish_reason: finishReason,
      }),
      chunk: (choices, usage) => ({ ...head, choices, ...(usage === undefined ? {} : { usage }) }),
    }, body.stream_options?.include_usage === true);
  });
}
