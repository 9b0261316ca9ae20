import { SupportedModel } from '../../catalog/models/supported-model.model.js';
import type { ModelSnapshotPayload } from '../../events/topics.js';
import type { ModelView } from '../registry.service.js';
import { ModelFile } from './model-file.model.js';
import { ModelSource, ModelStatus } from './model-status.enums.js';
import { ModelWithStatus } from './model-with-status.model.js';

/** A model from a view, directly (no detour through the event payload's JSON: this runs for every model of a list). */
export function toModelWithStatus(view: ModelView): ModelWithStatus {
  const registration = view.registration;
  return Object.assign(new ModelWithStatus(), {
    id: view.id,
    model: SupportedModel.from(view.model),
    source: view.source,
    status: view.status,
    errorMessage: view.errorMessage,
    downloadProgress: view.downloadProgress,
    availableNodes: view.availableNodes,
    revision: registration?.revision ?? null,
    files: registration ? registration.files.map((f) => ModelFile.from(f)) : [],
    selectionNote: registration?.selectionNote ?? null,
    registeredAt: registration ? new Date(registration.createdAt) : null,
    hfStats: null,
    fleetVersion: view.version,
  });
}

/** A model from an event's payload (or a view); its `nodes` are resolved when asked, `hfStats` by the query. */
export function fromModelSnapshot(m: ModelSnapshotPayload): ModelWithStatus {
  return Object.assign(new ModelWithStatus(), {
    id: m.id,
    model: SupportedModel.from(m.model),
    source: m.source as ModelSource,
    status: m.status as ModelStatus,
    errorMessage: m.errorMessage,
    downloadProgress: m.downloadProgress,
    availableNodes: m.availableNodes,
    revision: m.revision,
    files: m.files.map((f) => ModelFile.from(f)),
    selectionNote: m.selectionNote,
    registeredAt: m.registeredAt === null ? null : new Date(m.registeredAt),
    hfStats: null,
  });
}
