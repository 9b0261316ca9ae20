/**
 * OpenAI's error body, `{ error: { message, type, param, code } }`, for everything under `/v1` (control plane and
 * agent alike): the `openai` SDKs read `param` and `code` from it and raise their own error class from the status.
 */
export interface OpenAiErrorBody {
  error: {
    message: string;
    type: string;
    /** The request field at fault (`messages[2].content`), null where none. Always present, as OpenAI sends it. */
    param: string | null;
    code: string | null;
    /** Extra fields (seed 004's `retry_after`, `details`) ride along. */
    [extra: string]: unknown;
  };
}

export interface OpenAiErrorOptions {
  type?: string;
  param?: string | null;
  code?: string | null;
  extra?: Record<string, unknown>;
}

export function openAiError(message: string, options: OpenAiErrorOptions = {}): OpenAiErrorBody {
  return {
    error: {
      ...options.extra,
      message,
      type: options.type ?? 'invalid_request_error',
      param: options.param ?? null,
      code: options.code ?? null,
    },
  };
}

/** OpenAI's `type` for a status when nothing more specific applies. */
export function openAiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return status === 503 ? 'service_unavailable' : 'server_error';
  return 'invalid_request_error';
}

/** True when `body` already has OpenAI's error shape (an error thrown with its final body). */
export function isOpenAiErrorBody(body: unknown): body is OpenAiErrorBody {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const error = body.error;
  return typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string';
}

/** Completes a body that has OpenAI's shape but may lack `type`, `param` or `code`. */
export function completeOpenAiError(body: OpenAiErrorBody, status: number): OpenAiErrorBody {
  const { message, type, param, code, ...extra } = body.error;
  return openAiError(message, {
    type: typeof type === 'string' ? type : openAiErrorType(status),
    param: typeof param === 'string' ? param : null,
    code: typeof code === 'string' ? code : null,
    extra,
  });
}
