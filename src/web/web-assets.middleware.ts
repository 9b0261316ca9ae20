import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { webDistDir } from './web-dist.js';

const ASSETS = '/assets/';
const YEAR_S = 365 * 24 * 3600;

/**
 * Serves the dashboard and GraphiQL from local files. Only `/`, `/index.html`, `/assets/*` and a browser's
 * `GET /graphql` are answered here; every other path (the API, /v1, /api, /admin, /health, /metrics) goes on untouched.
 * Hashed assets never change under their name (cached for a year, immutable); the HTML pages are revalidated every
 * time so a new build is picked up at once.
 */
@Injectable()
export class WebAssetsMiddleware implements NestMiddleware {
  private readonly dir = webDistDir();

  use(req: Request, res: Response, next: NextFunction): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const path = req.path;
    if (path === '/' || path === '/index.html') return this.page(res, 'index.html', next);
    if (path === '/graphql' && wantsHtml(req)) return this.page(res, 'graphiql.html', next);
    if (path.startsWith(ASSETS)) return this.asset(res, path.slice(ASSETS.length));
    next();
  }

  private page(res: Response, file: string, next: NextFunction): void {
    if (!existsSync(join(this.dir, file))) {
      if (file === 'graphiql.html') return next();
      res.status(503).type('text/plain').send('The dashboard is not built: run `npm run build`.\n');
      return;
    }
    res.sendFile(file, { root: this.dir, headers: { 'Cache-Control': 'no-cache' }, cacheControl: false }, (err) =>
      this.failed(res, err),
    );
  }

  private asset(res: Response, name: string): void {
    res.sendFile(
      name,
      { root: join(this.dir, 'assets'), maxAge: YEAR_S * 1000, immutable: true, dotfiles: 'deny' },
      (err) => this.failed(res, err),
    );
  }

  private failed(res: Response, err: unknown): void {
    if (!err || res.headersSent) return;
    const status = (err as { status?: number }).status ?? 404;
    res
      .status(status === 403 ? 404 : status)
      .type('text/plain')
      .send('Not found\n');
  }
}

/** A browser navigating to /graphql asks for HTML; GraphQL clients ask for JSON (or send a query string). */
function wantsHtml(req: Request): boolean {
  if (typeof req.query['query'] === 'string') return false;
  const accept = req.headers.accept ?? '';
  return accept.includes('text/html');
}
