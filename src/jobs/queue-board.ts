import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { INestApplication } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import type { RequestHandler } from 'express';
import { ApiKeyRole } from '../auth/api-key-role.js';
import { guardMount } from '../auth/mount-guard.js';
import { QueueName } from './job-catalog.js';

export const QUEUE_BOARD_PATH = '/admin/queues';

/** Bull Board (queue admin) over every queue of the job catalog. */
export function mountQueueBoard(app: INestApplication): void {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  const queues = Object.values(QueueName).map(
    (name) => new BullMQAdapter(app.get<Queue>(getQueueToken(name), { strict: false })),
  );
  createBullBoard({ queues, serverAdapter });
  // The same keys or session cookie as the API: VIEWER may look, only ADMIN may retry, clean or pause.
  guardMount(
    app,
    { path: QUEUE_BOARD_PATH, read: ApiKeyRole.VIEWER, write: ApiKeyRole.ADMIN },
    serverAdapter.getRouter() as RequestHandler,
  );
}
