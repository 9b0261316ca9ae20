import { z } from 'zod';
import { openAiError, type OpenAiErrorBody } from './openai-error.js';

export const MAX_MAX_TOKENS = 4096;
const MAX_STOP_SEQUENCES = 4;

/** Roles as the model sees them: OpenAI's `developer` is what older models call `system`. */
export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessageText {
  role: ChatRole;
  content: string;
}

/** A chat completion request that llmfleet can serve, messages reduced to plain text. */
export interface ValidChatCompletionRequest {
  /** Null only where the caller did not require it (the agent's inference service knows its model already). */
  model: string | null;
  messages: ChatMessageText[];
  /** As the client asked (`max_tokens` or `max_completion_tokens`); null lets the server choose. */
  maxTokens: number | null;
  temperature: number | null;
  topP: number | null;
  seed: number | null;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
}

export type ChatCompletionValidation =
  { ok: true; request: ValidChatCompletionRequest } | { ok: false; error: OpenAiErrorBody };

const textPart = z.object({ type: z.literal('text'), text: z.string() });

const messageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  // Checked part by part below, so that a non-text part is named precisely.
  content: z.unknown(),
  name: z.string().nullish(),
});

const requestSchema = z.object({
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

/**
 * Validates an OpenAI chat completion body the way OpenAI does: a 400 naming the field at fault in `param`. Parameters
 * llmfleet cannot honour (several choices, tools, structured output, logprobs) are refused by name rather than ignored,
 * since a client that asked for them would otherwise get an answer it did not ask for. Fields that change nothing
 * (`user`, `metadata`, `store`...) are ignored. Used by the control plane (before routing) and by the agent.
 */
export function validateChatCompletionRequest(
  body: unknown,
  { modelRequired = true }: { modelRequired?: boolean } = {},
): ChatCompletionValidation {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return fail('The request body must be a JSON object.', null);
  }
  const model = (body as { model?: unknown }).model;
  if ((model !== undefined || modelRequired) && (typeof model !== 'string' || model === '')) {
    return fail('you must provide a model parameter', 'model');
  }
  const unsupported = unsupportedParameter(body as Record<string, unknown>);
  if (unsupported) return fail(unsupported.message, unsupported.param);

  const parsed = requestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const param = issue ? formatPath(issue.path) : null;
    const roleIssue = issue?.path.length === 3 && issue.path[2] === 'role' ? issue : null;
    if (roleIssue) {
      const role = (body as { messages: Array<{ role?: unknown }> }).messages[roleIssue.path[1] as number]?.role;
      return fail(
        `Invalid value for '${param}': role ${JSON.stringify(role)} is not supported; use system, developer, user or assistant` +
          (role === 'tool' || role === 'function' ? ' (tools are not supported)' : '') +
          '.',
        param,
      );
    }
    return fail(issue ? `Invalid value for '${param ?? 'body'}': ${issue.message}` : 'Invalid request body.', param);
  }

  const data = parsed.data;
  const messages: ChatMessageText[] = [];
  for (const [i, message] of data.messages.entries()) {
    const raw = (body as { messages: Array<Record<string, unknown>> }).messages[i]!;
    if (raw.tool_calls != null || raw.function_call != null) {
      const param = `messages[${i}].${raw.tool_calls != null ? 'tool_calls' : 'function_call'}`;
      return fail(`'${param}' is not supported: llmfleet does not support tools.`, param);
    }
    const content = messageText(message.content, message.role === 'assistant', `messages[${i}].content`);
    if (!content.ok) return fail(content.message, content.param);
    messages.push({ role: message.role === 'developer' ? 'system' : message.role, content: content.text });
  }
  const last = messages.at(-1)!;
  if (last.role !== 'user') {
    const param = `messages[${messages.length - 1}].role`;
    return fail(`Invalid value for '${param}': the last message must be the user's, got '${last.role}'.`, param);
  }
  return {
    ok: true,
    request: {
      model: typeof model === 'string' ? model : null,
      messages,
      maxTokens: data.max_tokens ?? data.max_completion_tokens ?? null,
      temperature: data.temperature ?? null,
      topP: data.top_p ?? null,
      seed: data.seed ?? null,
      stop: (typeof data.stop === 'string' ? [data.stop] : (data.stop ?? [])).filter((s) => s !== ''),
      stream: data.stream ?? false,
      includeUsage: data.stream_options?.include_usage ?? false,
    },
  };
}

/** The first parameter the client set to something llmfleet cannot do; `null` and defaults pass. */
function unsupportedParameter(body: Record<string, unknown>): { param: string; message: string } | null {
  const set = (key: string): boolean => body[key] !== undefined && body[key] !== null;
  if (set('n') && body.n !== 1) {
    return {
      param: 'n',
      message: `Invalid value for 'n': ${JSON.stringify(body.n)}. llmfleet generates one choice per request (n must be 1); send several requests instead.`,
    };
  }
  for (const key of ['tools', 'functions']) {
    if (set(key) && !(Array.isArray(body[key]) && body[key].length === 0)) {
      return { param: key, message: `'${key}' is not supported: llmfleet does not support tools or function calling.` };
    }
  }
  for (const key of ['tool_choice', 'function_call']) {
    if (set(key) && body[key] !== 'none' && body[key] !== 'auto') {
      return { param: key, message: `'${key}' is not supported: llmfleet does not support tools or function calling.` };
    }
  }
  if (set('response_format')) {
    const type = (body.response_format as { type?: unknown } | null)?.type;
    if (type !== 'text') {
      return {
        param: 'response_format',
        message: `Invalid value for 'response_format': type ${JSON.stringify(type)} is not supported; only 'text' is.`,
      };
    }
  }
  if (body.logprobs === true || (set('top_logprobs') && body.top_logprobs !== 0)) {
    const param = body.logprobs === true ? 'logprobs' : 'top_logprobs';
    return { param, message: `'${param}' is not supported: llmfleet does not return log probabilities.` };
  }
  if (set('modalities') && !(Array.isArray(body.modalities) && body.modalities.every((m) => m === 'text'))) {
    return { param: 'modalities', message: `Invalid value for 'modalities': only ["text"] is supported.` };
  }
  return null;
}

/** A message's content as text: a string, or an array of text parts (joined); assistant content may be absent. */
function messageText(
  content: unknown,
  optional: boolean,
  param: string,
): { ok: true; text: string } | { ok: false; message: string; param: string } {
  if (typeof content === 'string') return { ok: true, text: content };
  if (content == null && optional) return { ok: true, text: '' };
  if (!Array.isArray(content)) {
    return {
      ok: false,
      message: `Invalid value for '${param}': expected a string or an array of content parts.`,
      param,
    };
  }
  if (content.length === 0) {
    return { ok: false, message: `Invalid value for '${param}': expected at least one content part.`, param };
  }
  const texts: string[] = [];
  for (const [j, part] of content.entries()) {
    const parsed = textPart.safeParse(part);
    if (parsed.success) {
      texts.push(parsed.data.text);
      continue;
    }
    const type = (part as { type?: unknown } | null)?.type;
    if (type === 'text') {
      return {
        ok: false,
        message: `Invalid value for '${param}[${j}].text': expected a string.`,
        param: `${param}[${j}].text`,
      };
    }
    return {
      ok: false,
      message: `Invalid value for '${param}[${j}].type': content parts of type ${JSON.stringify(type)} are not supported; only 'text' parts are.`,
      param: `${param}[${j}].type`,
    };
  }
  return { ok: true, text: texts.join('\n') };
}

function fail(message: string, param: string | null): ChatCompletionValidation {
  return { ok: false, error: openAiError(message, { type: 'invalid_request_error', param }) };
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
