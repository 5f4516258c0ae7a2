// Renders a conversation with the model's own Jinja chat template (@huggingface/jinja), or with ChatML for models that ship none.
import { Template } from '@huggingface/jinja';
import { WhetError } from '../errors.ts';

export interface ChatMessage {
  role: string;
  /** Text; templates of multimodal or tool-calling models also accept lists of parts or null. */
  content: unknown;
  /** Other fields templates read: tool_calls, reasoning_content, name, ... */
  [field: string]: unknown;
}

export interface RenderChatOptions {
  /** End with the header of an assistant turn, for generation (HF's add_generation_prompt). */
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  padToken?: string;
  unkToken?: string;
  tools?: unknown[];
  /** Further template variables, e.g. `{ enable_thinking: false }` for Qwen3. */
  variables?: Record<string, unknown>;
}

export interface ChatTemplate {
  source: string;
  /** True when the model shipped no template and the ChatML default stands in for it. */
  isDefault: boolean;
}

/** ChatML (`<|im_start|>role\n...<|im_end|>\n`), the format most chat fine-tunes use when nothing else is given. */
export const CHATML_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/** The model's template, or ChatML flagged as a default when it has none. */
export function chatTemplateOf(modelTemplate: string | undefined): ChatTemplate {
  return modelTemplate !== undefined && modelTemplate.trim() !== ''
    ? { source: modelTemplate, isDefault: false }
    : { source: CHATML_TEMPLATE, isDefault: true };
}

// Parsing is the costly part and a process renders with few distinct templates.
const compiled = new Map<string, Template>();
const MAX_COMPILED = 16;

function compile(source: string): Template {
  let t = compiled.get(source);
  if (t === undefined) {
    try {
      t = new Template(source);
    } catch (e) {
      throw new WhetError(`chat template does not parse: ${(e as Error).message}`);
    }
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    compiled.set(source, t);
  }
  return t;
}

/** Renders `messages` with a chat template (Jinja source or chatTemplateOf()'s result) to the prompt text. */
export function renderChat(template: string | ChatTemplate, messages: readonly ChatMessage[], opts: RenderChatOptions = {}): string {
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object' || typeof m.role !== 'string') throw new WhetError(`chat message ${i} has no string 'role'`);
  });
  const t = compile(typeof template === 'string' ? template : template.source);
  const variables: Record<string, unknown> = {
    ...opts.variables,
    messages,
    add_generation_prompt: opts.addGenerationPrompt ?? false,
    bos_token: opts.bosToken ?? '',
    eos_token: opts.eosToken ?? '',
    pad_token: opts.padToken ?? '',
    unk_token: opts.unkToken ?? '',
  };
  if (opts.tools !== undefined) variables.tools = opts.tools;
  try {
    return t.render(variables);
  } catch (e) {
    throw new WhetError(`chat template failed to render: ${(e as Error).message}`);
  }
}
