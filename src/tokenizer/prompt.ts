// The prompt token ids of plain text and of a conversation, built one way for `whet generate` and `whet serve` alike.
import { renderChat, type ChatMessage, type ChatTemplate, type RenderChatOptions } from './chat-template.ts';
import type { Tokenizer } from './tokenizer.ts';

/** Plain text with BOS in front (when the tokenizer has one), as a base model saw its training documents. */
export function textPromptIds(tokenizer: Tokenizer, text: string): number[] {
  return tokenizer.encode(text, { addBos: true });
}

/**
 * A conversation rendered with the chat template and encoded without adding BOS: the template writes `bos_token`
 * itself when the model wants one, and a second BOS would be a prompt the model never saw in training.
 */
export function chatPromptIds(
  tokenizer: Tokenizer,
  template: ChatTemplate,
  messages: readonly ChatMessage[],
  opts: Pick<RenderChatOptions, 'addGenerationPrompt' | 'variables'> = {},
): number[] {
  const text = renderChat(template, messages, {
    addGenerationPrompt: opts.addGenerationPrompt ?? true,
    variables: opts.variables,
    bosToken: tokenizer.bosId === undefined ? '' : tokenizer.idToToken(tokenizer.bosId) ?? '',
    eosToken: tokenizer.eosId === undefined ? '' : tokenizer.idToToken(tokenizer.eosId) ?? '',
  });
  return tokenizer.encode(text, { addBos: false });
}
