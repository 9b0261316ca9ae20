import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { ApiKeyRole } from '../../auth/api-key-role.js';
import { AuthService } from '../../auth/auth.service.js';
import { ModelsQueryCache } from './models-query-cache.service.js';

/**
 * Answers a cached model query before it reaches Apollo: no parsing, no execution, no serialization — the stored
 * bytes go out as they are. Anything not in the cache passes through untouched.
 */
@Injectable()
export class ModelsQueryCacheMiddleware implements NestMiddleware {
  constructor(
    private readonly cache: ModelsQueryCache,
    private readonly auth: AuthService,
  ) {}

  async use(req: Request, res: Response, next: NextFunction): Promise<void> {
    const body = req.body as { query?: unknown; operationName?: unknown; variables?: unknown } | undefined;
    if (req.method !== 'POST' || !req.is('application/json') || typeof body?.query !== 'string') return next();
    const hit = this.cache.get(ModelsQueryCache.key(body.query, body.operationName, body.variables));
    if (hit === undefined) return next();
    // Only for a caller the guard would let read these fields (all VIEWER); anyone else goes on to be refused.
    if (
      !(await this.auth.authorize(req, ApiKeyRole.VIEWER).then(
        () => true,
        () => false,
      ))
    )
      return next();
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(hit) });
    res.end(hit);
  }
}
