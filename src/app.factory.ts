import type { Server } from 'node:http';
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

/** How long an idle HTTP connection is kept open (Node's default is 5 s). */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

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
  const server: Server = app.getHttpServer();
  // Idle keep-alive connections outlive the clients' own idle timeouts (agents pushing states between pauses, a load
  // balancer's 60 s): a connection closed by the server just as a client reuses it fails that request ("socket hang
  // up"; the fleet bench saw 5-16 of a rollout's state pushes fail at Node's default of 5 s).
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
  app.get(WsAuth).protectUpgrades(server);
  mountQueueBoard(app);
  return app;
}
