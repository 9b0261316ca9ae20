import type { INestApplication } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { ApiKeyRole } from './api-key-role.js';
import { sendRestRefusal } from './auth-responses.js';
import { AuthError } from './auth.errors.js';
import { AuthService } from './auth.service.js';

/** The policy of an Express-level mount: reads (GET, HEAD) and writes (anything else) may need different roles. */
export interface MountPolicy {
  path: string;
  read: ApiKeyRole;
  write: ApiKeyRole;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * Mounts an Express handler (something that is not a Nest controller, like Bull Board) behind the same keys and
 * session cookie as everything else, and records its policy for the route test.
 */
export function guardMount(
  app: INestApplication,
  policy: MountPolicy,
  handler: RequestHandler | RequestHandler[],
): void {
  const auth = app.get(AuthService);
  const guard = (req: Request, res: Response, next: NextFunction): void => {
    auth.authorize(req, SAFE_METHODS.has(req.method) ? policy.read : policy.write).then(
      () => next(),
      (err: unknown) => (err instanceof AuthError ? sendRestRefusal(res, err) : next(err)),
    );
  };
  app.use(policy.path, guard, ...(Array.isArray(handler) ? handler : [handler]));
  auth.mounts.push(policy);
}
