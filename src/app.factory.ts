import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/app-config.js';
import { WsAuth } from './auth/ws-auth.service.js';
import { mountQueueBoard } from './jobs/queue-board.js';
import { mountV1Http } from './serving/v1-http.js';

/** Builds the control plane (used by main.ts and by the end-to-end tests, so both run the same app). */
export async function createApp(config: AppConfig): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  mountV1Http(app, config.V1_BODY_LIMIT);
  if (config.TRUST_PROXY) app.set('trust proxy', true);
  // CORS stays off unless CORS_ORIGINS names origins; credentials so the dashboard's cookie works from them.
  if (config.CORS_ORIGINS.length) app.enableCors({ origin: config.CORS_ORIGINS, credentials: true });
  app.get(WsAuth).protectUpgrades(app.getHttpServer());
  mountQueueBoard(app);
  return app;
}
