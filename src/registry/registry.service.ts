import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { CatalogService } from '../catalog/catalog.service.js';
import type { SupportedModelDef } from '../catalog/supported-model.js';
import { EventsService } from '../events/events.service.js';
import { Topic } from '../events/topics.js';
import { HfHubClient } from '../hf-stats/hf-hub.client.js';
import { RegisteredModelEntity } from './entities/registered-model.entity.js';
import type { ModelManifest } from './manifest.js';
import {
  deriveModelStatus,
  ModelSource,
  ModelStatus,
  type DerivedModelStatus,
  type NodeStateFacts,
} from './model-status.js';
import { RegistryError, RegistryErrorReason } from './registry.errors.js';

/** A model as the registry sees it: what it is, whether it is registered, and its derived status. */
export interface ModelView extends DerivedModelStatus {
  id: string;
  model: SupportedModelDef;
  source: ModelSource;
  registration: RegisteredModelEntity | null;
  nodes: NodeStateFacts[];
}

export interface ModelFilter {
  status?: ModelStatus | null;
  search?: string | null;
}

@Injectable()
export class RegistryService {
  constructor(
    @InjectRepository(RegisteredModelEntity) private readonly models: Repository<RegisteredModelEntity>,
    private readonly catalog: CatalogService,
    private readonly hub: HfHubClient,
    private readonly events: EventsService,
  ) {}

  /** Catalog models (registered or not) then Hugging Face registrations, filtered; one query whatever the count. */
  async list(filter: ModelFilter = {}): Promise<ModelView[]> {
    const registrations = await this.models.find({ order: { createdAt: 'ASC' } });
    const byId = new Map(registrations.map((r) => [r.id, r]));
    const views: ModelView[] = this.catalog
      .list()
      .map((def) => this.view(def.id, def, ModelSource.CATALOG, byId.get(def.id) ?? null));
    for (const registration of registrations) {
      if (registration.source === ModelSource.HUGGING_FACE) {
        views.push(this.view(registration.id, registration.model, registration.source, registration));
      }
    }
    const needle = filter.search?.trim().toLowerCase();
    return views.filter((v) => (!filter.status || v.status === filter.status) && (!needle || matches(v, needle)));
  }

  async find(id: string): Promise<ModelView | null> {
    const registration = await this.models.findOneBy({ id });
    if (registration) return this.view(id, registration.model, registration.source, registration);
    const def = this.catalog.get(id);
    return def ? this.view(id, def, ModelSource.CATALOG, null) : null;
  }

  async get(id: string): Promise<ModelView> {
    const found = await this.find(id);
    if (!found) throw notFound(id);
    return found;
  }

  async getRegistered(id: string): Promise<RegisteredModelEntity> {
    const registration = await this.models.findOneBy({ id });
    if (registration) return registration;
    if (this.catalog.get(id)) {
      throw new RegistryError(
        RegistryErrorReason.NOT_REGISTERED,
        `Model ${id} is in the catalog but not registered; register it first`,
        {
          field: 'modelId',
          value: id,
        },
      );
    }
    throw notFound(id);
  }

  /** Registered → available: the registration and its manifest go; a catalog model stays listed as AVAILABLE. */
  async unregister(id: string): Promise<ModelView> {
    const registration = await this.getRegistered(id);
    const result = await this.models.delete({ id });
    if (!result.affected) throw notFound(id);
    const view = this.view(id, registration.model, registration.source, null);
    await this.publishStatus(view);
    return view;
  }

  /** Removes the model from every node, then unregisters it. (Nodes hold no files until downloads exist.) */
  async delete(id: string): Promise<ModelView> {
    return this.unregister(id);
  }

  async manifest(id: string): Promise<ModelManifest> {
    const registration = await this.getRegistered(id);
    return {
      modelId: registration.id,
      repo: registration.repo,
      revision: registration.revision,
      files: registration.files.map((f) => ({
        ...f,
        url: this.hub.fileUrl(registration.repo, registration.revision, f.path),
      })),
      totalBytes: registration.files.reduce((sum, f) => sum + f.size, 0),
    };
  }

  view(
    id: string,
    model: SupportedModelDef,
    source: ModelSource,
    registration: RegisteredModelEntity | null,
  ): ModelView {
    const nodes: NodeStateFacts[] = [];
    return { id, model, source, registration, nodes, ...deriveModelStatus(registration !== null, nodes) };
  }

  async publishStatus(view: ModelView): Promise<void> {
    await this.events.publishSafely(Topic.MODEL_STATUS_CHANGED, {
      modelId: view.id,
      status: view.status,
      progress: view.downloadProgress,
      nodeId: null,
      lifecycleStatus: null,
      errorMessage: view.errorMessage,
    });
  }

  /** For each repo (any case), the ids registered from it: one query for the whole list. */
  async registeredIdsByRepo(repos: readonly string[]): Promise<string[][]> {
    const keys = repos.map((r) => r.toLowerCase());
    const rows = await this.models.find({
      select: { id: true, repoKey: true },
      where: { repoKey: In([...new Set(keys)]) },
    });
    return keys.map((key) => rows.filter((r) => r.repoKey === key).map((r) => r.id));
  }
}

function matches(view: ModelView, needle: string): boolean {
  const m = view.model;
  return [view.id, m.name, m.repo, m.description, m.quantization, m.parameterCount, ...m.tags].some((s) =>
    s.toLowerCase().includes(needle),
  );
}

function notFound(id: string): RegistryError {
  return new RegistryError(
    RegistryErrorReason.MODEL_NOT_FOUND,
    `No model with id "${id}" in the catalog or the registry`,
    {
      field: 'modelId',
      value: id,
    },
  );
}
