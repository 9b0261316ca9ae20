import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Body, Controller, Logger, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ModelStatus } from '../registry/model-status.js';
import type { ModelView } from '../registry/registry.service.js';
import { RepairStatus } from '../repair/repair-status.js';
import { RepairService } from '../repair/repair.service.js';
import { ChatRouter } from './chat-router.service.js';

/**
 * OpenAI's `POST /v1/chat/completions`, routed to a node where the model is READY, least busy first. A node that
 * answers 503 (its copy is being repaired, or not loadable) is passed over for the next; the last 503 is returned
 * when none can answer, so the client still gets seed 004's `model_repairing` body and Retry-After.
 */
@Controller('v1/chat')
export class ChatCompletionsController {
  private readonly logger = new Logger(ChatCompletionsController.name);

  constructor(
    private readonly router: ChatRouter,
    private readonly repairs: RepairService,
  ) {}

  @Post('completions')
  async complete(@Body() body: unknown, @Res() res: Response): Promise<void> {
    const modelId = typeof body === 'object' && body !== null ? (body as { model?: unknown }).model : undefined;
    if (typeof modelId !== 'string' || !modelId) {
      res
        .status(400)
        .json({ error: { message: 'model is required', type: 'invalid_request_error', param: 'model', code: null } });
      return;
    }
    const { model, nodes } = await this.router.candidates(modelId);
    if (!model?.registration) {
      res.status(404).json({
        error: {
          message: `Model ${modelId} is not registered`,
          type: 'invalid_request_error',
          code: 'model_not_found',
        },
      });
      return;
    }
    if (nodes.length === 0) {
      if (await this.answerFromRepairs(model, res)) return;
      const why = model.status === ModelStatus.DOWNLOADING ? 'is still downloading' : 'is ready on no online node';
      res.setHeader('Retry-After', '10');
      res
        .status(503)
        .json({ error: { message: `Model ${modelId} ${why}`, type: 'service_unavailable', code: 'model_not_ready' } });
      return;
    }
    let last: { status: number; headers: Headers; text: string } | null = null;
    for (const node of nodes) {
      let upstream: globalThis.Response;
      try {
        upstream = await this.router.track(node, () =>
          fetch(`${node.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${node.controlToken}` },
            body: JSON.stringify(body),
          }),
        );
      } catch (err) {
        this.logger.warn(`Node ${node.name} unreachable for ${modelId}: ${(err as Error).message}`);
        continue;
      }
      if (upstream.status === 503) {
        last = { status: 503, headers: upstream.headers, text: await upstream.text() };
        continue;
      }
      res.status(upstream.status);
      for (const header of ['content-type', 'retry-after', 'cache-control']) {
        const value = upstream.headers.get(header);
        if (value) res.setHeader(header, value);
      }
      res.setHeader('x-llmfleet-node', node.name);
      if (!upstream.body) {
        res.end();
        return;
      }
      await this.router
        .track(node, () => pipeline(Readable.fromWeb(upstream.body as never), res))
        .catch(() => undefined);
      return;
    }
    if (last) {
      const retryAfter = last.headers.get('retry-after');
      if (retryAfter) res.setHeader('Retry-After', retryAfter);
      res.status(503).type('application/json').send(last.text);
      return;
    }
    res.setHeader('Retry-After', '10');
    res.status(503).json({
      error: {
        message: `No node holding ${modelId} could be reached`,
        type: 'service_unavailable',
        code: 'nodes_unreachable',
      },
    });
  }

  /** No node can answer: if that is because of repairs, say so as seed 004 does (repairing, timed out, failed). */
  private async answerFromRepairs(model: ModelView, res: Response): Promise<boolean> {
    const modelId = model.id;
    const latest = await this.repairs.latestPerNode(modelId);
    const running = latest.filter((r) => r.status === RepairStatus.IN_PROGRESS);
    const now = Date.now();
    const inTime = running.filter((r) => r.startedAt.getTime() + r.timeoutMs > now);
    if (inTime.length) {
      const retryAfter = Math.max(1, Math.min(30, Math.ceil(Math.min(...inTime.map((r) => r.timeoutMs)) / 10_000)));
      res.setHeader('Retry-After', String(retryAfter));
      res.status(503).json({
        error: {
          message: 'Model is being repaired, please retry',
          type: 'service_unavailable',
          code: 'model_repairing',
          retry_after: retryAfter,
        },
      });
      return true;
    }
    if (running.length) {
      res.status(504).json({
        error: {
          message: 'Model repair timed out',
          type: 'repair_timeout',
          code: 'model_repair_timeout',
          details: { model: modelId },
        },
      });
      return true;
    }
    const failed = latest.find((r) => r.status === RepairStatus.FAILED);
    if (failed) {
      const reason = (await this.repairs.failureVerdict(failed)).message;
      res.status(500).json({
        error: {
          message: reason,
          type: 'repair_failed',
          code: 'model_repair_error',
          details: { model: modelId, reason },
        },
      });
      return true;
    }
    return false;
  }
}
