import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { sendRestRefusal } from '../auth/auth-responses.js';
import { AuthError } from '../auth/auth.errors.js';
import { DomainError, PublicErrorCode } from '../common/domain-error.js';
import { openAiError } from '../shared/openai/openai-error.js';
import { httpStatusOf, publicCodeOf } from './error-mapper.js';

/** REST answers for domain errors, in the OpenAI error shape that `/v1` clients already parse. */
@Catch(DomainError)
export class DomainExceptionFilter implements ExceptionFilter<DomainError> {
  private readonly logger = new Logger(DomainExceptionFilter.name);

  catch(err: DomainError, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw err;
    const res = host.switchToHttp().getResponse<Response>();
    if (err instanceof AuthError) return sendRestRefusal(res, err);
    const code = publicCodeOf(err);
    if (code === PublicErrorCode.INTERNAL_SERVER_ERROR) {
      this.logger.error(err.stack ?? err.message);
      res.status(500).json(openAiError('Internal server error', { type: 'server_error', code }));
      return;
    }
    res.status(httpStatusOf(code)).json(
      openAiError(err.message, {
        type: code.toLowerCase(),
        code: err.reason.toLowerCase(),
        extra: { details: err.details },
      }),
    );
  }
}
