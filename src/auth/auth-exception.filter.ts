import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { sendRestRefusal } from './auth-responses.js';
import { AuthError } from './auth.errors.js';

/** Refusals of the guard on REST routes (GraphQL formats its own: src/errors/format-error.ts). */
@Catch(AuthError)
export class AuthExceptionFilter implements ExceptionFilter<AuthError> {
  catch(err: AuthError, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw err;
    sendRestRefusal(host.switchToHttp().getResponse<Response>(), err);
  }
}
