import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { ModelsQueryCache } from './models-query-cache.service.js';

/**
 * Answers a cached model query before it reaches Apollo: no parsing, no execution, no serialization — the stored
 * bytes go out as they are. Anything not in the cache passes through untouched.
 */
@Injectable()
export class ModelsQueryCacheMiddleware implements NestMiddleware {
  constructor(private readonly cache: ModelsQueryCache) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const body = req.body as { query?: unknown; operationName?: unknown; variables?: unknown } | undefined;
    if (req.method !== 'POST' || !req.is('application/json') || typeof body?.query !== 'string') return next();
    const hit = this.cache.get(ModelsQueryCache.key(body.query, body.operationName, body.variables));
    if (hit === undefined) return next();
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(hit) });
    res.end(hit);
  }
}
