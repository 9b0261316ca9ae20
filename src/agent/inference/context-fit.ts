import { openAiError, type OpenAiErrorBody } from '../../shared/openai/openai-error.js';
import type { ChatRequest } from './chat-request.js';

export type ContextFit =
  { ok: true; request: ChatRequest; promptTokens: number } | { ok: false; error: OpenAiErrorBody };

/**
 * Whether a prompt of `promptTokens` and its answer fit a context of `contextSize` tokens, as OpenAI decides it:
 * a `max_tokens` the client chose must fit beside the prompt; without one the answer gets what is left (up to the
 * default). llama.cpp keeps one token of the context free, so that one is not ours to give.
 */
export function fitToContext(request: ChatRequest, promptTokens: number, contextSize: number): ContextFit {
  const room = contextSize - 1 - promptTokens;
  if (request.maxTokensRequested ? room < request.maxTokens : room < 1) {
    const asked = request.maxTokensRequested
      ? `you requested ${promptTokens + request.maxTokens} tokens (${promptTokens} in the messages, ${request.maxTokens} in the completion). Please reduce the length of the messages or completion.`
      : `your messages resulted in ${promptTokens} tokens. Please reduce the length of the messages.`;
    return {
      ok: false,
      error: openAiError(`This model's maximum context length is ${contextSize} tokens. However, ${asked}`, {
        param: 'messages',
        code: 'context_length_exceeded',
      }),
    };
  }
  return {
    ok: true,
    request: request.maxTokensRequested ? request : { ...request, maxTokens: Math.min(request.maxTokens, room) },
    promptTokens,
  };
}
