import { SupportedModel } from '../../catalog/models/supported-model.model.js';
import { toNodeModelState } from '../../nodes/models/node.mapper.js';
import type { ModelView } from '../registry.service.js';
import { ModelFile } from './model-file.model.js';
import { ModelWithStatus } from './model-with-status.model.js';

export function toModelWithStatus(view: ModelView): ModelWithStatus {
  return Object.assign(new ModelWithStatus(), {
    id: view.id,
    model: SupportedModel.from(view.model),
    source: view.source,
    status: view.status,
    errorMessage: view.errorMessage,
    downloadProgress: view.downloadProgress,
    availableNodes: view.availableNodes,
    revision: view.registration?.revision ?? null,
    files: (view.registration?.files ?? []).map((f) => ModelFile.from(f)),
    selectionNote: view.registration?.selectionNote ?? null,
    registeredAt: view.registration?.createdAt ?? null,
    nodes: view.nodes.map(toNodeModelState),
    hfStats: null,
  });
}
