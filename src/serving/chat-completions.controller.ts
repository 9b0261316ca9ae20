import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Body, Controller, Inject, Logger, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { APP_CONFIG } from '../config/config.tokens.js';
import type { AppConfig } from '../config/app-config.js';
import { AgentClient } from '../nodes/agent.client.js';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import { LifecycleStatus } from '../nodes/lifecycle-status.js';
import { InferenceApi } from '../auth/auth-policy.js';
import type { ModelView } from '../registry/registry.service.js';
import { RepairStatus } from '../repair/repair-status.js';
import { RepairService } from '../repair/repair.service.js';
import { ModelLoadError } from '../shared/model-load-error.js';
import { validateChatCompletionRequest } from '../shared/openai/chat-completion-request.js';
import { openAiError } from '../shared/openai/openai-error.js';
import { REQUEST_ID_HEADER } from '../shared/openai/request-id.js';
import { ChatRouter } from './chat-router.service.js';

/** Node states after which the model will answer without anyone doing anything (a READY node may come back online). */
const COMING_SOON: ReadonlySet<LifecycleStatus> = new Set([
  LifecycleStatus.PENDING,
  LifecycleStatus.DOWNLOADING,
  LifecycleStatus.LOADING,
  LifecycleStatus.READY,
]);

/**
 * A node that finds its copy broken marks it ERROR (pushed at once) and then reports the failure, which records the
 * repair: a request between the two waits up to this long for the repair rather than hearing "download it again".
 */
const REPORT_IN_FLIGHT_MS = 3_000;
/** Load errors that automatic repair fixes by fetching again (a context failure is a memory problem, not repaired). */
const REPAIRABLE: ReadonlySet<string> = new Set(
  Object.values(ModelLoadError).filter((code) => code !== ModelLoadError.CONTEXT_FAILED),
);

/**
 * OpenAI's `POST /v1/chat/completions`, routed to a node where the model is READY, least busy first. A node that
 * answers 503 (its copy is being repaired, or not loadable) is passed over for the next; the last 503 is returned
 * when none can answer, so the client still gets seed 004's `model_repairing` body and Retry-After.
 */
@Controller('v1/chat')
@InferenceApi()
export class ChatCompletionsController {
  private readonly logger = new Logger(ChatCompletionsController.name);

  constructor(
    private readonly router: ChatRouter,
    private readonly repairs: RepairService,
    private readonly agents: AgentClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Post('completions')
  async complete(@Body() body: unknown, @Res() res: Response): Promise<void> {
    // Refused here, before routing, so that a request no node could serve is a 400 whatever the fleet's state.
    const validated = validateChatCompletionRequest(body);
    if (!validated.ok) {
      res.status(400).json(validated.error);
      return;
    }
    const modelId = validated.request.model!;
    const { model, states, nodes } = await this.router.candidates(modelId);
    if (!model?.registration) {
      res.status(404).json(
        openAiError(`The model '${modelId}' does not exist or is not registered`, {
          param: 'model',
          code: 'model_not_found',
        }),
      );
      return;
    }
    if (nodes.length === 0) {
      if (await this.answerFromRepairs(model, res)) return;
      if ((await this.repairReported(model, states)) && (await this.answerFromRepairs(model, res))) return;
      this.answerNotServable(model, states, res);
      return;
    }
    const requestId = res.getHeader(REQUEST_ID_HEADER);
    // A client that gives up stops the node's generation too, rather than leaving it to run for nobody.
    const clientGone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) clientGone.abort();
    });
    let last: { status: number; headers: Headers; text: string } | null = null;
    for (const node of nodes) {
      let upstream: globalThis.Response;
      try {
        upstream = await this.router.track(node, () =>
          this.agents.fetchAgent(node, '/v1/chat/completions', {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              ...(typeof requestId === 'string' ? { [REQUEST_ID_HEADER]: requestId } : {}),
            },
            body: JSON.stringify(body),
            signal: clientGone.signal,
          }),
        );
      } catch (err) {
        if (clientGone.signal.aborted) return;
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
    res.status(503).json(
      openAiError(`No node holding ${modelId} could be reached`, {
        type: 'service_unavailable',
        code: 'nodes_unreachable',
      }),
    );
  }

  /**
   * No node can answer now. Soon (a download, a load under way, a ready node offline for a moment): 503 with
   * Retry-After, which OpenAI's SDKs wait out. Not without an operator (on no node, or failed everywhere): a 404 that
   * says what to do, since a retried 503 would only make the client wait for nothing.
   */
  private answerNotServable(model: ModelView, states: NodeModelStateEntity[], res: Response): void {
    const modelId = model.id;
    const soon = states.find((s) => COMING_SOON.has(s.lifecycleStatus));
    if (soon) {
      const why =
        soon.lifecycleStatus === LifecycleStatus.READY
          ? 'is ready on no online node'
          : `is still ${soon.lifecycleStatus === LifecycleStatus.LOADING ? 'loading' : 'downloading'}`;
      res.setHeader('Retry-After', '10');
      res.status(503).json(
        openAiError(`Model ${modelId} ${why}, please retry`, {
          type: 'service_unavailable',
          code: 'model_not_ready',
        }),
      );
      return;
    }
    const failed = states.filter((s) => s.lifecycleStatus === LifecycleStatus.ERROR);
    const why = failed.length
      ? `is on no node that can serve it (it failed on ${failed.length} node${failed.length > 1 ? 's' : ''}: ${failed[0]!.errorMessage ?? 'unknown error'})`
      : 'is registered but not downloaded to any node';
    res
      .status(404)
      .json(
        openAiError(
          `Model ${modelId} ${why}. Download it ${failed.length ? 'again' : 'first'}: the downloadModel mutation, or \`llmfleet models download ${modelId}\`.`,
          { param: 'model', code: 'model_not_downloaded' },
        ),
      );
  }

  /**
   * Whether a node that has just marked the model broken gets its repair recorded within REPORT_IN_FLIGHT_MS (its
   * failure report follows its ERROR state). False at once when no state is such a fresh, repairable failure.
   */
  private async repairReported(model: ModelView, states: NodeModelStateEntity[]): Promise<boolean> {
    if (!this.config.AUTO_REPAIR) return false;
    const since = Date.now() - REPORT_IN_FLIGHT_MS;
    const fresh = states.some(
      (s) =>
        s.lifecycleStatus === LifecycleStatus.ERROR &&
        s.errorCode !== null &&
        REPAIRABLE.has(s.errorCode) &&
        new Date(s.updatedAt).getTime() > since,
    );
    if (!fresh) return false;
    for (const until = Date.now() + REPORT_IN_FLIGHT_MS; Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const latest = await this.repairs.latestPerNode(model.id);
      if (latest.some((r) => r.status === RepairStatus.IN_PROGRESS)) return true;
    }
    return false;
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
      res.status(503).json(
        openAiError('Model is being repaired, please retry', {
          type: 'service_unavailable',
          code: 'model_repairing',
          extra: { retry_after: retryAfter },
        }),
      );
      return true;
    }
    if (running.length) {
      res.status(504).json(
        openAiError('Model repair timed out', {
          type: 'repair_timeout',
          code: 'model_repair_timeout',
          extra: { details: { model: modelId } },
        }),
      );
      return true;
    }
    const failed = latest.find((r) => r.status === RepairStatus.FAILED);
    if (failed) {
      const reason = (await this.repairs.failureVerdict(failed)).message;
      res.status(500).json(
        openAiError(reason, {
          type: 'repair_failed',
          code: 'model_repair_error',
          extra: { details: { model: modelId, reason } },
        }),
      );
      return true;
    }
    return false;
  }
}
