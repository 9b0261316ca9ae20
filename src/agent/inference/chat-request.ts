import type { ChatHistoryItem } from 'node-llama-cpp';
import { z } from 'zod';

export const DEFAULT_MAX_TOKENS = 256;
export const MAX_MAX_TOKENS = 4096;
const MAX_STOP_SEQUENCES = 4;

const messageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
});

/** The subset of OpenAI's chat completion request the agent serves; unknown fields (`model`, `n`, `user`...) are ignored. */
const chatCompletionRequestSchema = z.object({
  messages: z.array(messageSchema).min(1),
  max_tokens: z.number().int().min(1).max(MAX_MAX_TOKENS).nullish(),
  // Newer OpenAI clients send this name instead of max_tokens.
  max_completion_tokens: z.number().int().min(1).max(MAX_MAX_TOKENS).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(MAX_STOP_SEQUENCES)]).nullish(),
  seed: z.number().int().nullish(),
});

export type ChatMessage = z.infer<typeof messageSchema>;

export interface ChatRequest {
  /** Every message but the last, in node-llama-cpp's shape. */
  history: ChatHistoryItem[];
  /** The last message, which must be the user's. */
  prompt: string;
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number | undefined;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
}

export interface OpenAiError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export type ChatRequestParse = { ok: true; request: ChatRequest } | { ok: false; error: OpenAiError };

export function invalidRequest(message: string, param: string | null): OpenAiError {
  return { error: { message, type: 'invalid_request_error', param, code: null } };
}

/** Validates an OpenAI chat completion body; an error names the first offending field the way OpenAI does. */
export function parseChatRequest(body: unknown): ChatRequestParse {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, error: invalidRequest('The request body must be a JSON object.', null) };
  }
  const parsed = chatCompletionRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = issue ? formatPath(issue.path) : null;
    const message = issue ? `Invalid value for '${param ?? 'body'}': ${issue.message}` : 'Invalid request body.';
    return { ok: false, error: invalidRequest(message, param) };
  }
  const data = parsed.data;
  const last = data.messages.at(-1)!;
  if (last.role !== 'user') {
    const param = `messages[${data.messages.length - 1}].role`;
    return {
      ok: false,
      error: invalidRequest(
        `Invalid value for '${param}': the last message must be the user's, got '${last.role}'.`,
        param,
      ),
    };
  }
  return {
    ok: true,
    request: {
      history: data.messages.slice(0, -1).map(toHistoryItem),
      prompt: last.content,
      maxTokens: data.max_tokens ?? data.max_completion_tokens ?? DEFAULT_MAX_TOKENS,
      // OpenAI's defaults, not node-llama-cpp's greedy ones: clients expect sampling unless they ask for 0.
      temperature: data.temperature ?? 1,
      topP: data.top_p ?? 1,
      // llama.cpp seeds are uint32; fold OpenAI's int64 range onto it deterministically.
      seed: data.seed == null ? undefined : ((data.seed % 2 ** 32) + 2 ** 32) % 2 ** 32,
      stop: (typeof data.stop === 'string' ? [data.stop] : (data.stop ?? [])).filter((s) => s !== ''),
      stream: data.stream ?? false,
      includeUsage: data.stream_options?.include_usage ?? false,
    },
  };
}

function toHistoryItem(message: ChatMessage): ChatHistoryItem {
  switch (message.role) {
    case 'system':
      return { type: 'system', text: message.content };
    case 'user':
      return { type: 'user', text: message.content };
    case 'assistant':
      return { type: 'model', response: [message.content] };
  }
}

/** `['messages', 0, 'role']` → `messages[0].role`. */
function formatPath(path: readonly PropertyKey[]): string | null {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? null : out;
}
