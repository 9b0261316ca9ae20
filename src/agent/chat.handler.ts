import type { ServerResponse } from 'node:http';
import { ModelLoadError } from '../shared/model-load-error.js';
import { openAiError } from '../shared/openai/openai-error.js';
import { ModelLoadFailure, type InferenceService } from './inference/inference.service.js';
import { sendJson } from './inference/openai-response.js';
import type { MetricsCollector } from './metrics.collector.js';
import type { ModelManager } from './model-manager.js';
import type { Availability, RepairCoordinator } from './repair-coordinator.js';

/**
 * `POST /v1/chat/completions` on the node: answers from the model when it is sound, and when it is not, says so the
 * way seed 004 does — 503 `model_repairing` with Retry-After while a repair runs, 504 past its deadline, `repair_failed`
 * when it failed — after reporting the failure (once, however many requests hit it) so it gets repaired.
 */
export class ChatHandler {
  constructor(
    private readonly models: ModelManager,
    private readonly repairs: RepairCoordinator,
    private readonly inference: InferenceService,
    private readonly metrics: MetricsCollector,
  ) {}

  async handle(res: ServerResponse, body: unknown): Promise<void> {
    this.metrics.requestCount++;
    const modelId = typeof body === 'object' && body !== null && 'model' in body ? body.model : undefined;
    if (typeof modelId !== 'string' || !modelId) {
      return sendJson(res, 400, openAiError('you must provide a model parameter', { param: 'model' }));
    }
    const state = this.models.get(modelId);
    const files = this.models.filesOf(modelId);
    if (!state || !files) {
      return sendJson(
        res,
        404,
        openAiError(`Model ${modelId} is not on this node`, { param: 'model', code: 'model_not_found' }),
      );
    }
    const availability = this.repairs.availability(modelId);
    if (availability.kind !== 'AVAILABLE') return answerUnavailable(res, modelId, availability);
    if (state.lifecycleStatus === 'ERROR' && isLoadError(state.errorCode)) {
      // Known broken here and no repair running (or its verdict expired): report it again; the policy decides.
      const decided = await this.repairs.report({
        modelId,
        code: state.errorCode,
        message: state.errorMessage ?? 'the model failed here before',
        trigger: 'REQUEST',
        resumable: (state.errorMessage ?? '').includes('truncated'),
      });
      return answerUnavailable(res, modelId, decided);
    }
    if (state.lifecycleStatus !== 'READY') {
      res.setHeader('Retry-After', '5');
      return sendJson(
        res,
        503,
        openAiError(`Model ${modelId} is ${state.lifecycleStatus.toLowerCase()} on this node`, {
          type: 'service_unavailable',
          code: 'model_not_ready',
        }),
      );
    }
    const modelFile = files.request.files.findIndex((f) => f.role === 'MODEL');
    try {
      await this.inference.chat(
        { modelId, modelPath: files.paths[modelFile]!, expectedSize: files.request.files[modelFile]!.size },
        body,
        res,
      );
    } catch (err) {
      if (!(err instanceof ModelLoadFailure) || res.headersSent) throw err;
      const resumable = err.code === ModelLoadError.CORRUPTED && err.detail.startsWith('truncated');
      this.models.markBroken(modelId, err.code, err.detail);
      const decided = await this.repairs.report({
        modelId,
        code: err.code,
        message: err.detail,
        trigger: 'REQUEST',
        resumable,
      });
      answerUnavailable(res, modelId, decided);
    }
  }
}

export function answerUnavailable(res: ServerResponse, modelId: string, availability: Availability): void {
  switch (availability.kind) {
    case 'AVAILABLE':
      return sendJson(
        res,
        503,
        openAiError('Model is not available, please retry', { type: 'service_unavailable', code: 'model_not_ready' }),
      );
    case 'REPAIRING':
      res.setHeader('Retry-After', String(availability.retryAfterSeconds));
      return sendJson(
        res,
        503,
        openAiError('Model is being repaired, please retry', {
          type: 'service_unavailable',
          code: 'model_repairing',
          extra: { retry_after: availability.retryAfterSeconds },
        }),
      );
    case 'REPAIR_TIMED_OUT':
      return sendJson(
        res,
        504,
        openAiError('Model repair timed out', {
          type: 'repair_timeout',
          code: 'model_repair_timeout',
          extra: { details: { model: modelId, reason: availability.reason } },
        }),
      );
    case 'REPAIR_FAILED':
      return sendJson(
        res,
        500,
        openAiError(`Model repair failed: ${availability.reason}`, {
          type: 'repair_failed',
          code: 'model_repair_error',
          extra: { details: { model: modelId, reason: availability.reason } },
        }),
      );
    case 'UNAVAILABLE':
      return sendJson(
        res,
        503,
        openAiError(`Model ${modelId} cannot be loaded: ${availability.reason}`, {
          type: 'service_unavailable',
          code: 'model_load_failed',
          extra: { details: { model: modelId, reason: availability.reason, load_error: availability.code } },
        }),
      );
  }
}

function isLoadError(code: string | null): code is ModelLoadError {
  return code !== null && (Object.values(ModelLoadError) as string[]).includes(code);
}
