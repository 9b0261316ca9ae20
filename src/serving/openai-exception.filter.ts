import { ArgumentsHost, Catch, HttpException, Inject, Logger } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { Request, Response } from 'express';
import { sendRestRefusal } from '../auth/auth-responses.js';
import { AuthError } from '../auth/auth.errors.js';
import { DomainError, PublicErrorCode } from '../common/domain-error.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { httpStatusOf, publicCodeOf } from '../errors/error-mapper.js';
import { formatBytes } from '../shared/openai/byte-size.js';
import {
  completeOpenAiError,
  isOpenAiErrorBody,
  openAiError,
  openAiErrorType,
  type OpenAiErrorBody,
} from '../shared/openai/openai-error.js';
import { REQUEST_ID_HEADER } from '../shared/openai/request-id.js';
import { isV1Path } from './v1-http.js';

const OPENAI_CODES: Partial<Record<PublicErrorCode, string>> = {
  [PublicErrorCode.UNAUTHENTICATED]: 'invalid_api_key',
  [PublicErrorCode.FORBIDDEN]: 'insufficient_permissions',
};

/**
 * Every error under `/v1` in OpenAI's shape, `{ error: { message, type, param, code } }`, whatever raised it: a body
 * that is not JSON or is too large (raised by the parser before any route), an unknown route, a route's own error,
 * a crash (500, details logged, never sent). Other paths keep Nest's default answers; GraphQL is left alone.
 */
@Catch()
export class OpenAiExceptionFilter extends BaseExceptionFilter {
  private readonly logger = new Logger('OpenAiApi');

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    super();
  }

  override catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    // Refusals of the auth guard have one shape on every route (401 invalid_api_key / 403, OpenAI's shape).
    if (exception instanceof AuthError) return sendRestRefusal(http.getResponse<Response>(), exception);
    const req = http.getRequest<Request>();
    if (!isV1Path(req.path)) return super.catch(exception, host);
    const res = http.getResponse<Response>();
    const { status, body } = this.describe(exception, req);
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(status).json(body);
  }

  private describe(exception: unknown, req: Request): { status: number; body: OpenAiErrorBody } {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      if (isOpenAiErrorBody(response)) return { status, body: completeOpenAiError(response, status) };
      return { status, body: this.httpError(status, exception, req) };
    }
    if (exception instanceof DomainError) {
      const code = publicCodeOf(exception);
      if (code !== PublicErrorCode.INTERNAL_SERVER_ERROR) {
        const status = httpStatusOf(code);
        return {
          status,
          body: openAiError(exception.message, {
            type: status === 401 ? 'invalid_request_error' : openAiErrorType(status),
            // OpenAI's own codes where clients branch on them; the module's reason otherwise.
            code: OPENAI_CODES[code] ?? exception.reason.toLowerCase(),
            extra: Object.keys(exception.details).length ? { details: exception.details } : {},
          }),
        };
      }
    }
    return { status: 500, body: this.serverError(exception, req) };
  }

  private httpError(status: number, exception: HttpException, req: Request): OpenAiErrorBody {
    if (status === 404) {
      return openAiError(`Unknown request URL: ${req.method} ${req.path}. Please check the URL for typos.`, {
        code: 'unknown_url',
      });
    }
    if (status === 413) {
      return openAiError(
        `Request body too large: the limit is ${formatBytes(this.config.V1_BODY_LIMIT)} (V1_BODY_LIMIT).`,
        { code: 'request_too_large' },
      );
    }
    if (status === 400 && exception.cause instanceof SyntaxError) {
      return openAiError(
        `We could not parse the JSON body of your request: ${exception.cause.message}. The API expects a JSON payload.`,
        { code: 'invalid_json' },
      );
    }
    if (status >= 500) return this.serverError(exception, req);
    if (status === 401) return openAiError(exception.message, { code: 'invalid_api_key' });
    const response = exception.getResponse();
    const message =
      typeof response === 'object' && response !== null && 'message' in response
        ? [response.message].flat().join('; ')
        : exception.message;
    return openAiError(message, { type: openAiErrorType(status) });
  }

  private serverError(exception: unknown, req: Request): OpenAiErrorBody {
    const requestId = req.res?.getHeader(REQUEST_ID_HEADER);
    this.logger.error(
      `${req.method} ${req.path} failed (request ${String(requestId)})`,
      exception instanceof Error ? exception.stack : String(exception),
    );
    return openAiError(
      `The server had an error while processing your request${typeof requestId === 'string' ? ` (request ${requestId})` : ''}.`,
      { type: 'server_error' },
    );
  }
}
