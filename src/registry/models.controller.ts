import { Controller, Get, NotFoundException, Param, UseFilters } from '@nestjs/common';
import { InferenceApi } from '../auth/auth-policy.js';
import { ApiKeyRole, RequireRole } from '../auth/require-role.decorator.js';
import { DomainExceptionFilter } from '../errors/domain-exception.filter.js';
import { openAiError } from '../shared/openai/openai-error.js';
import type { ModelManifest } from './manifest.js';
import { ModelStatus } from './model-status.js';
import { RegistryService, type ModelView } from './registry.service.js';

interface OpenAiModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  ready: boolean;
  status: ModelStatus;
}

function openAiModel(v: ModelView): OpenAiModel {
  return {
    id: v.id,
    object: 'model',
    created: Math.floor(v.registration!.createdAt.getTime() / 1000),
    owned_by: v.model.repo.split('/')[0]!,
    ready: v.status === ModelStatus.READY,
    status: v.status,
  };
}

@Controller()
@UseFilters(DomainExceptionFilter)
export class ModelsController {
  constructor(private readonly registry: RegistryService) {}

  /** OpenAI's model list, for OpenAI clients: registered models only, with `ready` and `status` added. */
  @Get('v1/models')
  @InferenceApi()
  async list(): Promise<{ object: 'list'; data: OpenAiModel[] }> {
    const views = (await this.registry.list()).filter((v) => v.registration !== null);
    return { object: 'list', data: views.map(openAiModel) };
  }

  /**
   * OpenAI's `GET /v1/models/{model}` (`client.models.retrieve`). Ids hold slashes (`hf/org/repo/file.gguf`): the SDKs
   * send them %2F-encoded, curl users raw; the wildcard takes both.
   */
  @Get('v1/models/*id')
  @InferenceApi()
  async retrieve(@Param('id') id: string | string[]): Promise<OpenAiModel> {
    const modelId = Array.isArray(id) ? id.join('/') : id;
    const view = await this.registry.find(modelId);
    if (!view?.registration) {
      throw new NotFoundException(
        openAiError(`The model '${modelId}' does not exist or is not registered`, {
          param: 'model',
          code: 'model_not_found',
        }),
      );
    }
    return openAiModel(view);
  }

  /** What a node downloads: each file's Hub URL pinned to the registered commit, its size and sha256. */
  @Get('api/models/registry/*modelId/manifest.json')
  @RequireRole(ApiKeyRole.VIEWER)
  async manifest(@Param('modelId') modelId: string | string[]): Promise<ModelManifest> {
    return this.registry.manifest(Array.isArray(modelId) ? modelId.join('/') : modelId);
  }
}
