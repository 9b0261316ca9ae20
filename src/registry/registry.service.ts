import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { CatalogService } from '../catalog/catalog.service.js';
import type { SupportedModelDef } from '../catalog/supported-model.js';
import { EventsService } from '../events/events.service.js';
import { Topic } from '../events/topics.js';
import { HfHubClient } from '../hf-stats/hf-hub.client.js';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import { NodeStatesService } from '../nodes/node-states.service.js';
import { RegisteredModelEntity } from './entities/registered-model.entity.js';
import type { ModelManifest } from './manifest.js';
import { deriveModelStatus, ModelSource, ModelStatus, type DerivedModelStatus } from './model-status.js';
import { RegistryError, RegistryErrorReason } from './registry.errors.js';

/** A model as the registry sees it: what it is, whether it is registered, and its derived status. */
export interface ModelView extends DerivedModelStatus {
  id: string;
  model: SupportedModelDef;
  source: ModelSource;
  registration: RegisteredModelEntity | null;
  nodes: NodeModelStateEntity[];
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
    private readonly nodeStates: NodeStatesService,
  ) {}

  /** Catalog models (registered or not) then Hugging Face registrations, filtered; two queries whatever the count. */
  async list(filter: ModelFilter = {}): Promise<ModelView[]> {
    const [registrations, states] = await Promise.all([
      this.models.find({ order: { createdAt: 'ASC' } }),
      this.nodeStates.all(),
    ]);
    const byId = new Map(registrations.map((r) => [r.id, r]));
    const statesById = groupBy(states, (s) => s.modelId);
    const view = (id: string, def: SupportedModelDef, source: ModelSource, reg: RegisteredModelEntity | null) =>
      this.view(id, def, source, reg, statesById.get(id) ?? []);
    const views = this.catalog.list().map((def) => view(def.id, def, ModelSource.CATALOG, byId.get(def.id) ?? null));
    for (const registration of registrations) {
      if (registration.source === ModelSource.HUGGING_FACE) {
        views.push(view(registration.id, registration.model, registration.source, registration));
      }
    }
    const needle = filter.search?.trim().toLowerCase();
    return views.filter((v) => (!filter.status || v.status === filter.status) && (!needle || matches(v, needle)));
  }

  async find(id: string): Promise<ModelView | null> {
    const registration = await this.models.findOneBy({ id });
    if (registration) {
      return this.view(
        id,
        registration.model,
        registration.source,
        registration,
        await this.nodeStates.forModels([id]),
      );
    }
    const def = this.catalog.get(id);
    return def ? this.view(id, def, ModelSource.CATALOG, null, []) : null;
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
    const view = this.view(id, registration.model, registration.source, null, []);
    await this.publishStatus(view);
    return view;
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
    states: readonly NodeModelStateEntity[],
  ): ModelView {
    const nodes = registration ? [...states] : [];
    // A catalog entry that names no projector (seed 000's format) shows the one registration found in the repository.
    const projector = registration?.files.find((f) => f.role === 'PROJECTOR')?.path;
    const shown = model.projectorFilename === null && projector ? { ...model, projectorFilename: projector } : model;
    return { id, model: shown, source, registration, nodes, ...deriveModelStatus(registration !== null, nodes) };
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

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
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
