import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/app-config.js';
import { WsAuth } from './auth/ws-auth.service.js';
import { AdmissionLimiter, graphqlAdmission } from './graphql/admission.js';
import { mountQueueBoard } from './jobs/queue-board.js';
import { FleetMetrics } from './metrics/fleet-metrics.service.js';
import { HeartbeatArrivals } from './nodes/heartbeat-arrivals.service.js';
import { bearerOf } from './nodes/node-tokens.js';
import { mountV1Http } from './serving/v1-http.js';

/** Builds the control plane (used by main.ts and by the end-to-end tests, so both run the same app). */
export async function createApp(config: AppConfig): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  // A heartbeat counts from the moment its headers are read, before anything it waits for (node-liveness.service.ts).
  const arrivals = app.get(HeartbeatArrivals);
  app.use('/api/nodes/:nodeId/heartbeat', function heartbeatArrival(req: Request, _res: Response, next: NextFunction) {
    if (req.method === 'PUT') arrivals.arrived(String(req.params.nodeId), bearerOf(req.headers.authorization));
    next();
  });
  // Before anything reads a GraphQL request: bounded executions, the rest queued fairly (src/graphql/admission.ts).
  // The node protocol (/api/nodes) never waits here.
  const metrics = app.get(FleetMetrics);
  const limiter = new AdmissionLimiter(
    {
      maxConcurrent: config.GRAPHQL_MAX_CONCURRENT,
      maxQueued: config.GRAPHQL_MAX_QUEUED,
      queueTimeoutMs: config.GRAPHQL_QUEUE_TIMEOUT_MS,
    },
    metrics.admissionObserver,
  );
  metrics.watchAdmission(limiter);
  app.use('/graphql', graphqlAdmission(limiter));
  mountV1Http(app, config.V1_BODY_LIMIT);
  if (config.TRUST_PROXY) app.set('trust proxy', true);
  // CORS stays off unless CORS_ORIGINS names origins; credentials so the dashboard's cookie works from them.
  if (config.CORS_ORIGINS.length) app.enableCors({ origin: config.CORS_ORIGINS, credentials: true });
  app.get(WsAuth).protectUpgrades(app.getHttpServer());
  mountQueueBoard(app);
  return app;
}
