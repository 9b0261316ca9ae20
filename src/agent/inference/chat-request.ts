import type { ChatHistoryItem } from 'node-llama-cpp';
import { validateChatCompletionRequest, type ChatMessageText } from '../../shared/openai/chat-completion-request.js';
import type { OpenAiErrorBody } from '../../shared/openai/openai-error.js';

export { MAX_MAX_TOKENS } from '../../shared/openai/chat-completion-request.js';
export const DEFAULT_MAX_TOKENS = 256;

export interface ChatRequest {
  /** Every message but the last, in node-llama-cpp's shape. */
  history: ChatHistoryItem[];
  /** The last message, which must be the user's. */
  prompt: string;
  /** What the client asked for; DEFAULT_MAX_TOKENS (or what is left of the context) when it did not. */
  maxTokens: number;
  /** Whether the client chose maxTokens: then a prompt that leaves no room for it is refused rather than cut short. */
  maxTokensRequested: boolean;
  temperature: number;
  topP: number;
  seed: number | undefined;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
}

export type ChatRequestParse = { ok: true; request: ChatRequest } | { ok: false; error: OpenAiErrorBody };

/** Validates an OpenAI chat completion body (shared rules, see validateChatCompletionRequest) into a ChatRequest. */
export function parseChatRequest(body: unknown): ChatRequestParse {
  const validated = validateChatCompletionRequest(body, { modelRequired: false });
  if (!validated.ok) return validated;
  const data = validated.request;
  return {
    ok: true,
    request: {
      history: data.messages.slice(0, -1).map(toHistoryItem),
      prompt: data.messages.at(-1)!.content,
      maxTokens: data.maxTokens ?? DEFAULT_MAX_TOKENS,
      maxTokensRequested: data.maxTokens !== null,
      // OpenAI's defaults, not node-llama-cpp's greedy ones: clients expect sampling unless they ask for 0.
      temperature: data.temperature ?? 1,
      topP: data.topP ?? 1,
      // llama.cpp seeds are uint32; fold OpenAI's int64 range onto it deterministically.
      seed: data.seed == null ? undefined : ((data.seed % 2 ** 32) + 2 ** 32) % 2 ** 32,
      stop: data.stop,
      stream: data.stream,
      includeUsage: data.includeUsage,
    },
  };
}

function toHistoryItem(message: ChatMessageText): ChatHistoryItem {
  switch (message.role) {
    case 'system':
      return { type: 'system', text: message.content };
    case 'user':
      return { type: 'user', text: message.content };
    case 'assistant':
      return { type: 'model', response: [message.content] };
  }
}
