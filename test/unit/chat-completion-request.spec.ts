import { describe, expect, it } from '@jest/globals';
import { fitToContext } from '../../src/agent/inference/context-fit.js';
import { parseChatRequest, type ChatRequest } from '../../src/agent/inference/chat-request.js';
import { validateChatCompletionRequest } from '../../src/shared/openai/chat-completion-request.js';

const user = (content: unknown) => ({ role: 'user', content });
const valid = (body: Record<string, unknown>) => {
  const result = validateChatCompletionRequest({ model: 'm', ...body });
  if (!result.ok) throw new Error(`refused: ${result.error.error.message}`);
  return result.request;
};
const refusal = (body: unknown, options?: { modelRequired?: boolean }) => {
  const result = validateChatCompletionRequest(body, options);
  if (result.ok) throw new Error('accepted');
  return result.error.error;
};

describe('validateChatCompletionRequest', () => {
  it('maps developer to system and joins text content parts', () => {
    const request = valid({
      messages: [
        { role: 'developer', content: [{ type: 'text', text: 'Be brief.' }] },
        { role: 'assistant', content: null },
        user([
          { type: 'text', text: 'hello' },
          { type: 'text', text: 'fleet' },
        ]),
      ],
    });
    expect(request.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'assistant', content: '' },
      { role: 'user', content: 'hello\nfleet' },
    ]);
  });

  it('keeps what the client asked for and null where it did not', () => {
    expect(valid({ messages: [user('hi')] })).toMatchObject({ maxTokens: null, temperature: null, stream: false });
    expect(valid({ messages: [user('hi')], max_completion_tokens: 7, stop: 'x' })).toMatchObject({
      maxTokens: 7,
      stop: ['x'],
    });
  });

  it.each([
    [{ messages: [user('hi')] }, 'model', /you must provide a model parameter/],
    [
      { model: 'm', messages: [user([{ type: 'image_url', image_url: { url: 'x' } }])] },
      'messages[0].content[0].type',
      /image_url/,
    ],
    [{ model: 'm', messages: [user([{ type: 'text', text: 3 }])] }, 'messages[0].content[0].text', /string/],
    [{ model: 'm', messages: [user([])] }, 'messages[0].content', /.+/],
    [
      { model: 'm', messages: [{ role: 'tool', content: 'x' }, user('hi')] },
      'messages[0].role',
      /tools are not supported/,
    ],
    [
      { model: 'm', messages: [{ role: 'assistant', content: null, tool_calls: [{}] }, user('hi')] },
      'messages[0].tool_calls',
      /tools/,
    ],
    [{ model: 'm', messages: [user('hi')], n: 2 }, 'n', /n must be 1/],
    [{ model: 'm', messages: [user('hi')], tools: [{ type: 'function' }] }, 'tools', /tools/],
    [{ model: 'm', messages: [user('hi')], functions: [{ name: 'f' }] }, 'functions', /function calling/],
    [{ model: 'm', messages: [user('hi')], tool_choice: { type: 'function' } }, 'tool_choice', /tools/],
    [
      { model: 'm', messages: [user('hi')], response_format: { type: 'json_object' } },
      'response_format',
      /json_object/,
    ],
    [{ model: 'm', messages: [user('hi')], logprobs: true }, 'logprobs', /log probabilities/],
    [{ model: 'm', messages: [user('hi')], top_logprobs: 3 }, 'top_logprobs', /log probabilities/],
    [{ model: 'm', messages: [user('hi')], modalities: ['text', 'audio'] }, 'modalities', /text/],
  ])('refuses %j naming %s', (body, param, message) => {
    const error = refusal(body);
    expect(error).toMatchObject({ type: 'invalid_request_error', param, code: null });
    expect(error.message).toMatch(message);
  });

  it('lets through what changes nothing', () => {
    expect(() =>
      valid({
        messages: [user('hi')],
        n: 1,
        tools: [],
        tool_choice: 'none',
        response_format: { type: 'text' },
        logprobs: false,
        modalities: ['text'],
        user: 'u',
        metadata: { a: 'b' },
      }),
    ).not.toThrow();
  });

  it('the agent may leave the model out (it knows it), but not send a wrong one', () => {
    expect(validateChatCompletionRequest({ messages: [user('hi')] }, { modelRequired: false }).ok).toBe(true);
    expect(refusal({ model: 3, messages: [user('hi')] }, { modelRequired: false }).param).toBe('model');
  });
});

describe('fitToContext', () => {
  const request = (maxTokens: number | null): ChatRequest => {
    const parsed = parseChatRequest({ messages: [user('hi')], ...(maxTokens ? { max_tokens: maxTokens } : {}) });
    if (!parsed.ok) throw new Error('refused');
    return parsed.request;
  };

  it('refuses a max_tokens that does not fit beside the prompt, naming both counts', () => {
    const fit = fitToContext(request(100), 412, 512);
    expect(fit.ok).toBe(false);
    if (fit.ok) return;
    expect(fit.error.error).toMatchObject({ param: 'messages', code: 'context_length_exceeded' });
    expect(fit.error.error.message).toContain('maximum context length is 512 tokens');
    expect(fit.error.error.message).toContain('512 tokens (412 in the messages, 100 in the completion)');
    expect(fitToContext(request(99), 412, 512)).toMatchObject({ ok: true, promptTokens: 412 });
  });

  it('without max_tokens, gives the answer what is left, up to the default', () => {
    expect(fitToContext(request(null), 500, 512)).toMatchObject({ ok: true, request: { maxTokens: 11 } });
    expect(fitToContext(request(null), 10, 512)).toMatchObject({ ok: true, request: { maxTokens: 256 } });
    const full = fitToContext(request(null), 511, 512);
    expect(full.ok).toBe(false);
    if (!full.ok) expect(full.error.error.message).toContain('your messages resulted in 511 tokens');
  });
});
