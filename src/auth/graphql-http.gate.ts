import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { ApiKeyRole } from './api-key-role.js';
import { sendGraphqlRefusal } from './auth-responses.js';
import { AuthError } from './auth.errors.js';
import { AuthService } from './auth.service.js';

/**
 * In front of Apollo on /graphql: a request without a valid key of at least VIEWER never reaches parsing or
 * validation, so it gets no introspection, no GraphiQL page and no field suggestions — one clear 401/403 instead.
 * Per-field roles are then the guard's (auth.guard.ts).
 */
@Injectable()
export class GraphqlHttpGate implements NestMiddleware {
  constructor(private readonly auth: AuthService) {}

  async use(req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      await this.auth.authorize(req, ApiKeyRole.VIEWER);
    } catch (err) {
      if (err instanceof AuthError) return sendGraphqlRefusal(res, err);
      return next(err);
    }
    next();
  }
}
