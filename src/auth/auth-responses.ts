import type { ServerResponse } from 'node:http';
import { PublicErrorCode } from '../common/domain-error.js';
import { httpStatusOf, publicCodeOf } from '../errors/error-mapper.js';
import type { AuthError } from './auth.errors.js';

/**
 * A refusal on a REST route, in OpenAI's error shape (what `/v1` clients parse, and one shape for every route):
 * 401 `invalid_api_key` when the caller is not known, 403 `insufficient_permissions` when the role is too low.
 */
export function sendRestRefusal(res: ServerResponse, err: AuthError): void {
  const code = publicCodeOf(err);
  const status = httpStatusOf(code);
  const error =
    code === PublicErrorCode.UNAUTHENTICATED
      ? { message: err.message, type: 'invalid_request_error', param: null, code: 'invalid_api_key' }
      : code === PublicErrorCode.FORBIDDEN
        ? { message: err.message, type: 'permission_error', param: null, code: 'insufficient_permissions' }
        : { message: err.message, type: code.toLowerCase(), param: null, code: err.reason.toLowerCase() };
  send(res, status, { error: { ...error, reason: err.reason } });
}

/** A refusal of a whole GraphQL request (before Apollo), in GraphQL's response shape. */
export function sendGraphqlRefusal(res: ServerResponse, err: AuthError): void {
  const code = publicCodeOf(err);
  send(res, httpStatusOf(code), {
    errors: [{ message: err.message, extensions: { code, reason: err.reason, ...err.details } }],
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="llmfleet"');
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
