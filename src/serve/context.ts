// What every route of the server is given: the engine, the adapter registry, and how prompts become token ids.
import type { ChatTemplate } from '../tokenizer/chat-template.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import type { AdapterRegistry, ServingEngine } from './types.ts';

export interface ServerContext {
  engine: ServingEngine;
  registry: AdapterRegistry;
  tokenizer: Tokenizer;
  /** The model's own template (chatTemplateOf), so that serving renders chats exactly as training did. */
  chatTemplate: ChatTemplate;
}
