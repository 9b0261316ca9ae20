import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { type NextFunction, type Request, type Response } from 'express';
import { REQUEST_ID_HEADER, requestIdOf } from '../shared/openai/request-id.js';

/** Under OpenAI's API: errors there get OpenAI's shape. */
export function isV1Path(path: string): boolean {
  return path === '/v1' || path.startsWith('/v1/');
}

/**
 * Express middleware installed before Nest's own (see createApp):
 * - every response carries `x-request-id`, the client's own when it sent an acceptable one;
 * - `/v1` bodies are parsed as JSON up to V1_BODY_LIMIT, whatever the content type says (`curl -d` sends form
 *   encoding), so long conversations are not refused at Nest's default 100 kB. Everything else keeps Nest's parsers,
 *   which skip a body already parsed here.
 */
export function mountV1Http(app: NestExpressApplication, bodyLimit: number): void {
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.setHeader(REQUEST_ID_HEADER, requestIdOf(req.headers[REQUEST_ID_HEADER]));
    next();
  });
  const json = express.json({
    limit: bodyLimit,
    type: (req) => !/^multipart\//i.test(req.headers['content-type'] ?? ''),
  });
  // Named so that Nest, which looks for a layer called `jsonParser`, still installs its own for the other routes.
  app.use('/v1', function v1JsonParser(req: Request, res: Response, next: NextFunction) {
    json(req, res, next);
  });
}
