// POST /v1/chat/completions: messages rendered with the model's chat template (as `whet generate --chat` does),
// answered as one `chat.completion` or streamed as `chat.completion.chunk`s.
import type { FastifyInstance } from 'fastify';
import { WhetError } from '../errors.ts';
import type { ChatMessage } from '../tokenizer/chat-template.ts';
import { chatPromptIds } from '../tokenizer/prompt.ts';
import type { ServerContext } from './context.ts';
import { abortOnDisconnect } from './disconnect.ts';
import { badRequest } from './errors.ts';
import { chatLogprobs } from './logprobs.ts';
import { responseId, unixNow, usageOf } from './openai.ts';
import { completionBudget, generationRequest, refuseUnsupported, resolveModel } from './params.ts';
import { chatSchema, type ChatBody } from './schemas.ts';
import { streamGeneration } from './stream.ts';

/** Text-only models take a message's content as one string: text parts are joined as vLLM joins them. */
function toChatMessages(messages: ChatBody['messages']): ChatMessage[] {
  return messages.map((m, i) => {
    if (!Array.isArray(m.content)) return { ...m, content: m.content ?? '' };
    const parts = m.content.map((p, j) => {
      if (p.type !== 'text' || typeof p.text !== 'string') throw badRequest(`only text content parts are supported (got type '${p.type}')`, `messages.${i}.content.${j}`);
      return p.text;
    });
    return { ...m, content: parts.join('\n') };
  });
}

/** The prompt ids; a conversation the template refuses (roles out of order, …) is the request's fault: a 400. */
function chatPrompt(ctx: ServerContext, body: ChatBody): number[] {
  try {
    return chatPromptIds(ctx.tokenizer, ctx.chatTemplate, toChatMessages(body.messages), {
      addGenerationPrompt: body.add_generation_prompt ?? true,
      variables: body.chat_template_kwargs ?? undefined,
    });
  } catch (e) {
    throw e instanceof WhetError ? badRequest(e.message, 'messages') : e;
  }
}

export function chatRoute(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/chat/completions', { schema: { body: chatSchema } }, async (request, reply) => {
    const body = request.body as ChatBody;
    refuseUnsupported(body);
    if (body.top_logprobs !== undefined && body.top_logprobs !== null && body.logprobs !== true)
      throw badRequest('top_logprobs needs logprobs set to true', 'top_logprobs');
    const { name, adapter } = resolveModel(ctx.registry, body.model);
    const prompt = chatPrompt(ctx, body);
    const maxTokens = completionBudget(ctx.engine.context, prompt.length, body.max_completion_tokens ?? body.max_tokens, 'messages');
    const logprobs = body.logprobs === true ? body.top_logprobs ?? 0 : undefined;
    const req = generationRequest(body, adapter, prompt, maxTokens, logprobs);
    const head = { id: responseId('chatcmpl'), created: unixNow(), model: name };

    if (body.stream !== true) {
      const result = await ctx.engine.generate({ ...req, signal: abortOnDisconnect(reply) });
      return {
        ...head,
        object: 'chat.completion',
        choices: result.choices.map((c) => ({
          index: c.index,
          message: { role: 'assistant', content: c.text },
          logprobs: logprobs === undefined ? null : chatLogprobs(c.tokens),
          finish_reason: c.finishReason,
        })),
        usage: usageOf(result),
      };
    }
    await streamGeneration(reply, ctx.engine, req, {
      choice: (index, text, tokens, before, finishReason) => ({
        index,
        // The first chunk of a choice names the role, as OpenAI's does.
        delta: before === undefined ? { role: 'assistant', content: text } : text === '' ? {} : { content: text },
        logprobs: logprobs === undefined || tokens.length === 0 ? null : chatLogprobs(tokens),
        finish_reason: finishReason,
      }),
      chunk: (choices, usage) => ({ ...head, object: 'chat.completion.chunk', choices, ...(usage === undefined ? {} : { usage }) }),
    }, body.stream_options?.include_usage === true);
  });
}
