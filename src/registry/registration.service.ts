import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, Repository } from 'typeorm';
import { CatalogService } from '../catalog/catalog.service.js';
import { ModelCapability, type SupportedModelDef } from '../catalog/supported-model.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { HfHubClient } from '../hf-stats/hf-hub.client.js';
import { HfStatsService } from '../hf-stats/hf-stats.service.js';
import type { HfModelInfo } from '../hf-stats/hf.types.js';
import { RegisteredModelEntity } from './entities/registered-model.entity.js';
import { selectGgufFiles, type GgufSelection } from './gguf-file-selection.js';
import { parseHfReference } from './hf-reference.parser.js';
import { describeHubModel } from './hf-model-description.js';
import type { ManifestFile } from './manifest.js';
import { ModelSource } from './model-status.js';
import { RegistryError, RegistryErrorReason } from './registry.errors.js';
import { RegistryService, type ModelView } from './registry.service.js';

/**
 * Registration from the catalog or from a Hub URL: reads the repository's metadata once, pins the commit, picks the
 * files, and stores metadata and a manifest (never model bytes) in one insert.
 */
@Injectable()
export class RegistrationService {
  constructor(
    @InjectRepository(RegisteredModelEntity) private readonly models: Repository<RegisteredModelEntity>,
    private readonly registry: RegistryService,
    private readonly catalog: CatalogService,
    private readonly hub: HfHubClient,
    private readonly stats: HfStatsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async registerCatalogModel(modelId: string): Promise<ModelView> {
    const def = this.catalog.get(modelId);
    if (!def) {
      throw new RegistryError(
        RegistryErrorReason.MODEL_NOT_FOUND,
        `modelId "${modelId}" is not in the catalog (see supportedModels)`,
        {
          field: 'modelId',
          value: modelId,
        },
      );
    }
    await this.refuseExistingId(modelId);
    const info = await this.hub.modelInfo(def.repo);
    const selection = selectGgufFiles(def.repo, info.files, def.recommendedFilename, {
      vision: def.capabilities.includes(ModelCapability.IMAGE_UNDERSTANDING),
      requested: def.projectorFilename,
    });
    // The projector found in the repository is part of what was registered (seed 000's entries name none).
    const registered = { ...def, projectorFilename: selection.projector?.path ?? null };
    return this.store(modelId, ModelSource.CATALOG, registered, info, selection);
  }

  async registerHubModel(url: string): Promise<ModelView> {
    const ref = parseHfReference(url, this.config.HF_ENDPOINT);
    const requestedId = ref.filename ? `hf/${ref.repo}/${ref.filename}` : `hf/${ref.repo}`;
    await this.refuseExistingId(requestedId);
    const info = await this.hub.modelInfo(ref.repo, ref.revision ?? undefined);
    const selection = selectGgufFiles(info.id, info.files, ref.filename);
    // The Hub's spelling of the repo is canonical; ids follow it.
    const id = ref.filename ? `hf/${info.id}/${ref.filename}` : `hf/${info.id}`;
    if (id !== requestedId) await this.refuseExistingId(id);
    const def = describeHubModel(
      id,
      { repo: info.id, tags: info.tags, pipelineTag: info.pipelineTag, parameterTotal: info.gguf?.total ?? null },
      selection,
    );
    return this.store(id, ModelSource.HUGGING_FACE, def, info, selection);
  }

  private async store(
    id: string,
    source: ModelSource,
    def: SupportedModelDef,
    info: HfModelInfo,
    selection: GgufSelection,
  ): Promise<ModelView> {
    const primary = selection.modelFiles[0]!;
    if (info.gated !== false) await this.hub.checkFileAccess(info.id, info.sha, primary.path);
    const existing = await this.models.findOneBy({ repoKey: info.id.toLowerCase(), primaryFilename: primary.path });
    if (existing) throw conflictWith(existing.id, info.id, primary.path);

    const files: ManifestFile[] = [
      ...selection.modelFiles.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256!, role: 'MODEL' as const })),
      ...(selection.projector
        ? [
            {
              path: selection.projector.path,
              size: selection.projector.size,
              sha256: selection.projector.sha256!,
              role: 'PROJECTOR' as const,
            },
          ]
        : []),
    ];
    const entity = this.models.create({
      id,
      source,
      repo: info.id,
      repoKey: info.id.toLowerCase(),
      revision: info.sha,
      primaryFilename: primary.path,
      files,
      model: def,
      selectionNote: selection.note,
    });
    try {
      await this.models.insert(entity);
    } catch (err) {
      if (err instanceof QueryFailedError && (err.driverError as { code?: string }).code === '23505') {
        const winner = await this.models.findOne({
          where: [{ id }, { repoKey: info.id.toLowerCase(), primaryFilename: primary.path }],
        });
        throw conflictWith(winner?.id ?? id, info.id, primary.path);
      }
      throw err;
    }
    this.stats.prime(info.id, info);
    const view = (await this.registry.find(id))!;
    await this.registry.publishStatus(view);
    return view;
  }

  private async refuseExistingId(id: string): Promise<void> {
    const existing = await this.models.findOneBy({ id });
    if (existing) throw conflictWith(existing.id, existing.repo, existing.primaryFilename);
  }
}

function conflictWith(existingId: string, repo: string, file: string): RegistryError {
  return new RegistryError(
    RegistryErrorReason.ALREADY_REGISTERED,
    `${repo}/${file} is already registered as "${existingId}"; unregister it first to register it again`,
    { existingId, repo, file },
  );
}
