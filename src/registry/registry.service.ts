import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { compareIds, isPaged, pageLimit, unknownCursor, type Page } from '../common/pagination.js';
import { CatalogService } from '../catalog/catalog.service.js';
import type { SupportedModelDef } from '../catalog/supported-model.js';
import { EventsService } from '../events/events.service.js';
import { Topic, type ModelSnapshotPayload } from '../events/topics.js';
import { HfHubClient } from '../hf-stats/hf-hub.client.js';
import { nodeModelStatePayload } from '../nodes/node-events.js';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import { RegisteredModelEntity } from './entities/registered-model.entity.js';
import type { ModelManifest } from './manifest.js';
import { readFleetProgress, type FleetProgress } from './fleet-progress.js';
import {
  readRegisteredPage,
  readRegisteredSnapshots,
  readSnapshots,
  registeredAmong,
  type FleetSnapshot,
} from './model-fleet-aggregates.js';
import {
  deriveFromAggregate,
  ModelSource,
  ModelStatus,
  type DerivedModelStatus,
  type FleetAggregate,
} from './model-status.js';
import { RegistryError, RegistryErrorReason } from './registry.errors.js';

/** A model as the registry sees it: what it is, whether it is registered, and its derived status. */
export interface ModelView extends DerivedModelStatus {
  id: string;
  model: SupportedModelDef;
  source: ModelSource;
  registration: RegisteredModelEntity | null;
  /** Orders two views of the same model (see FleetSnapshot.version); 0 where not read from the database. */
  version: number;
}

export interface ModelFilter extends Page {
  status?: ModelStatus | null;
  search?: string | null;
}

const NO_NODES: FleetAggregate = {
  ready: 0,
  inFlight: 0,
  failed: 0,
  inFlightBytesDone: 0,
  inFlightBytesTotal: 0,
  failures: [],
};

@Injectable()
export class RegistryService {
  constructor(
    @InjectRepository(RegisteredModelEntity) private readonly models: Repository<RegisteredModelEntity>,
    private readonly catalog: CatalogService,
    private readonly hub: HfHubClient,
    private readonly events: EventsService,
  ) {}

  /**
   * Catalog models (registered or not) then Hugging Face registrations, filtered; one query whatever the count. Status
   * comes from each model's maintained aggregate, never from its node states (ModelWithStatus.nodes loads those when
   * asked).
   */
  async list(filter: ModelFilter = {}): Promise<ModelView[]> {
    if (isPaged(filter)) return this.page(filter);
    const snapshots = await readRegisteredSnapshots(this.models.manager);
    const byId = new Map(snapshots.map((s) => [s.id, s]));
    const views = this.catalog.list().map((def) => {
      const snapshot = byId.get(def.id);
      return snapshot ? this.fromSnapshot(snapshot, def) : this.view(def.id, def, ModelSource.CATALOG, null);
    });
    for (const snapshot of snapshots) {
      if (snapshot.registration?.source === ModelSource.HUGGING_FACE) views.push(this.fromSnapshot(snapshot));
    }
    const needle = filter.search?.trim().toLowerCase();
    return views.filter((v) => (!filter.status || v.status === filter.status) && (!needle || matches(v, needle)));
  }

  /**
   * One page in id order, after the cursor, filtered where the rows are: registered models come from one keyset query
   * that filters by derived status and text in the database and stops when the page is full; catalog models not
   * registered (AVAILABLE) are walked in the catalog's id order (sorted once), no further than a full registered page
   * reaches, and checked against the registry a page's worth at a time. The two runs merge by id. Nothing outside the
   * page is read into a view, and a page costs about what it holds (plus what a filter skips), not the registry.
   */
  private async page(filter: ModelFilter): Promise<ModelView[]> {
    const limit = pageLimit(filter.first);
    const status = filter.status ?? null;
    // An unknown status never gets here: the ModelStatus enum refuses it (BAD_USER_INPUT naming $status).
    const after = filter.after ?? null;
    if (
      after !== null &&
      !this.catalog.get(after) &&
      (await registeredAmong(this.models.manager, [after])).size === 0
    ) {
      throw unknownCursor(after, 'model');
    }
    const needle = filter.search?.trim().toLowerCase() || null;
    const index = this.catalogIndex();
    const catalogMatches = needle === null ? null : index.ids.filter((id) => index.text.get(id)!.includes(needle));
    const registered =
      status === ModelStatus.AVAILABLE
        ? []
        : await readRegisteredPage(this.models.manager, {
            after,
            limit,
            status,
            search: needle === null ? null : { needle, catalogIds: catalogMatches! },
          });
    // A full page of registered models ends the page at its last id: no catalog model past it can make the page.
    const until = limit !== null && registered.length === limit ? registered.at(-1)!.id : null;
    const available =
      status === null || status === ModelStatus.AVAILABLE
        ? await this.availablePage(
            catalogMatches ?? index.ids,
            after,
            until,
            limit,
            new Set(registered.map((r) => r.id)),
          )
        : [];
    const views = [
      ...registered.map((snapshot) => this.fromSnapshot(snapshot, this.catalog.get(snapshot.id))),
      ...available,
    ].sort((a, b) => compareIds(a.id, b.id));
    return limit === null ? views : views.slice(0, limit);
  }

  /**
   * Catalog models not registered, in id order after the cursor and up to `until` (inclusive; null: to the end): at
   * most `limit`, a page's worth checked against the registry at a time. `registered`: ids the page's registered query
   * just returned, so known to be registered without asking again (a fully registered catalog asks nothing).
   */
  private async availablePage(
    ids: readonly string[],
    after: string | null,
    until: string | null,
    limit: number | null,
    registered: ReadonlySet<string>,
  ): Promise<ModelView[]> {
    let from = after === null ? 0 : upperBound(ids, after);
    const end = until === null ? ids.length : upperBound(ids, until);
    const found: ModelView[] = [];
    const chunk = Math.max(limit ?? ids.length, 64);
    while (from < end && (limit === null || found.length < limit)) {
      const candidates = ids.slice(from, Math.min(from + chunk, end));
      from += candidates.length;
      const unknown = candidates.filter((id) => !registered.has(id));
      const alsoRegistered =
        unknown.length === 0 ? new Set<string>() : await registeredAmong(this.models.manager, unknown);
      for (const id of candidates) {
        if (registered.has(id) || alsoRegistered.has(id)) continue;
        found.push(this.view(id, this.catalog.get(id)!, ModelSource.CATALOG, null));
        if (limit !== null && found.length === limit) break;
      }
    }
    return found;
  }

  private index: { ids: readonly string[]; text: ReadonlyMap<string, string> } | null = null;

  /** Catalog ids in code-unit order and each entry's lower-cased searchable text (the catalog never changes). */
  private catalogIndex(): { ids: readonly string[]; text: ReadonlyMap<string, string> } {
    if (this.index === null) {
      const defs = this.catalog.list();
      this.index = {
        ids: defs.map((d) => d.id).sort(compareIds),
        text: new Map(defs.map((d) => [d.id, searchText(d.id, d)])),
      };
    }
    return this.index;
  }

  async find(id: string): Promise<ModelView | null> {
    return (await this.findMany([id]))[0] ?? null;
  }

  /**
   * Models by id (null for an unknown id), each from one consistent snapshot of its registration and aggregate: what
   * events carry, at a cost that does not grow with the number of nodes.
   */
  async findMany(ids: readonly string[]): Promise<Array<ModelView | null>> {
    const snapshots = await readSnapshots(this.models.manager, ids);
    return snapshots.map((snapshot) => {
      if (snapshot.registration) return this.fromSnapshot(snapshot);
      const def = this.catalog.get(snapshot.id);
      return def ? { ...this.view(snapshot.id, def, ModelSource.CATALOG, null), version: snapshot.version } : null;
    });
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
    const [after] = await readSnapshots(this.models.manager, [id]);
    const view = { ...this.view(id, registration.model, registration.source, null), version: after!.version };
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
    fleet: FleetAggregate = NO_NODES,
    version = 0,
  ): ModelView {
    // A catalog entry that names no projector (seed 000's format) shows the one registration found in the repository.
    const projector = registration?.files.find((f) => f.role === 'PROJECTOR')?.path;
    const shown = model.projectorFilename === null && projector ? { ...model, projectorFilename: projector } : model;
    return {
      id,
      model: shown,
      source,
      registration,
      version,
      ...deriveFromAggregate(registration !== null, fleet),
    };
  }

  private fromSnapshot(snapshot: FleetSnapshot, def?: SupportedModelDef): ModelView {
    const registration = snapshot.registration!;
    return this.view(
      snapshot.id,
      registration.source === ModelSource.CATALOG ? (def ?? registration.model) : registration.model,
      registration.source,
      registration,
      snapshot.fleet,
      snapshot.version,
    );
  }

  /** A registration change (no node involved): the model as it now stands. */
  async publishStatus(view: ModelView): Promise<void> {
    await this.publishChange(view, null);
  }

  /**
   * Tells subscribers that a model changed, with the model and, when node states changed, the last of them (`state`)
   * and all of them (`states`: coalesced progress of many nodes rides in one event).
   */
  async publishChange(
    view: ModelView,
    state: NodeModelStateEntity | null,
    states: readonly NodeModelStateEntity[] = state ? [state] : [],
  ): Promise<void> {
    await this.events.publishSafely(Topic.MODEL_STATUS_CHANGED, {
      modelId: view.id,
      status: view.status,
      progress: state
        ? state.bytesTotal > 0
          ? Math.min(1, state.bytesDone / state.bytesTotal)
          : null
        : view.downloadProgress,
      nodeId: state?.nodeId ?? null,
      lifecycleStatus: state?.lifecycleStatus ?? null,
      errorMessage: state ? state.errorMessage : view.errorMessage,
      model: modelSnapshotPayload(view),
      state: state ? nodeModelStatePayload(state) : null,
      states: states.map(nodeModelStatePayload),
    });
  }

  /** Rollout progress of these registered models (every one when `ids` is null), in id order. */
  async fleetProgress(ids: readonly string[] | null): Promise<FleetProgress[]> {
    return readFleetProgress(this.models.manager, ids);
  }

  /** fleetProgressChanged for these models, read now from their stripes (one query for all). */
  async publishProgress(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    for (const progress of await this.fleetProgress(ids)) {
      await this.events.publishSafely(Topic.FLEET_PROGRESS_CHANGED, progress);
    }
  }

  /**
   * How many models are in each status (catalog models not registered are AVAILABLE), from the maintained aggregates:
   * one statement over the stripes, whatever the number of nodes.
   */
  async statusCounts(): Promise<Map<ModelStatus, number>> {
    const rows = await this.models.query<Array<{ id: string; ready: number; in_flight: number; failed: number }>>(
      `SELECT k.id, coalesce(sum(s.ready), 0)::int AS ready, coalesce(sum(s.in_flight), 0)::int AS in_flight,
              coalesce(sum(s.failed), 0)::int AS failed
         FROM registered_models k LEFT JOIN model_fleet_stripes s ON s.model_id = k.id
        GROUP BY k.id`,
    );
    const counts = new Map<ModelStatus, number>(Object.values(ModelStatus).map((s) => [s, 0]));
    const registered = new Set<string>();
    for (const r of rows) {
      registered.add(r.id);
      const { status } = deriveFromAggregate(true, {
        ...NO_NODES,
        ready: r.ready,
        inFlight: r.in_flight,
        failed: r.failed,
      });
      counts.set(status, counts.get(status)! + 1);
    }
    const available = this.catalog.list().filter((d) => !registered.has(d.id)).length;
    counts.set(ModelStatus.AVAILABLE, available);
    return counts;
  }

  /** Node × model states in flight across the fleet, by lifecycle, and their summed transfer rate. */
  async downloadTotals(): Promise<{ pending: number; downloading: number; loading: number; bytesPerSecond: number }> {
    const [row] = await this.models.query<
      Array<{ pending: number; downloading: number; in_flight: number; rate: number }>
    >(
      `SELECT coalesce(sum(pending), 0)::int AS pending, coalesce(sum(downloading), 0)::int AS downloading,
              coalesce(sum(in_flight), 0)::int AS in_flight, coalesce(sum(bytes_per_second), 0)::float8 AS rate
         FROM model_fleet_stripes`,
    );
    return {
      pending: row!.pending,
      downloading: row!.downloading,
      loading: Math.max(0, row!.in_flight - row!.pending - row!.downloading),
      bytesPerSecond: Math.max(0, row!.rate),
    };
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

/** A model as events carry it (plain JSON: it crosses Redis). */
export function modelSnapshotPayload(view: ModelView): ModelSnapshotPayload {
  return {
    id: view.id,
    model: view.model,
    source: view.source,
    status: view.status,
    errorMessage: view.errorMessage,
    downloadProgress: view.downloadProgress,
    availableNodes: view.availableNodes,
    revision: view.registration?.revision ?? null,
    files: view.registration?.files ?? [],
    selectionNote: view.registration?.selectionNote ?? null,
    registeredAt: view.registration?.createdAt.toISOString() ?? null,
    version: view.version,
  };
}

function matches(view: ModelView, needle: string): boolean {
  return searchText(view.id, view.model).includes(needle);
}

/** What the text filter searches, lower-cased; fields are joined with a newline, which a trimmed needle never spans. */
function searchText(id: string, m: SupportedModelDef): string {
  return [id, m.name, m.repo, m.description, m.quantization, m.parameterCount, ...m.tags].join('\n').toLowerCase();
}

/** The index of the first id after `after` in ids sorted by compareIds. */
function upperBound(ids: readonly string[], after: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareIds(ids[mid]!, after) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
