import type { MetricsUpdatedPayload, NodeModelStatePayload, NodePayload } from '../../events/topics.js';
import { ModelLoadError } from '../../shared/model-load-error.js';
import type { NodeModelStateEntity } from '../entities/node-model-state.entity.js';
import type { NodeEntity } from '../entities/node.entity.js';
import { LifecycleStatus } from '../lifecycle-status.js';
import { metricsPayload, nodePayload } from '../node-events.js';
import { NodeStatus } from '../node-status.js';
import { Gpu, Node, NodeMetrics, NodeModelState } from './node.model.js';

const LOAD_ERRORS = new Set<string>(Object.values(ModelLoadError));

/** The stable id of a node × model (NodeModelState.id): node ids are UUIDs, so the first colon splits it. */
export function nodeModelStateId(nodeId: string, modelId: string): string {
  return `${nodeId}:${modelId}`;
}

export function toNodeModelState(s: NodeModelStateEntity | NodeModelStatePayload): NodeModelState {
  const lifecycleStatus = s.lifecycleStatus as LifecycleStatus;
  const downloading = lifecycleStatus === LifecycleStatus.DOWNLOADING;
  const rate = downloading && s.bytesPerSecond !== null && s.bytesPerSecond > 0 ? s.bytesPerSecond : null;
  return Object.assign(new NodeModelState(), {
    id: nodeModelStateId(s.nodeId, s.modelId),
    nodeId: s.nodeId,
    modelId: s.modelId,
    lifecycleStatus,
    progress:
      s.bytesTotal > 0 ? Math.min(1, s.bytesDone / s.bytesTotal) : lifecycleStatus === LifecycleStatus.READY ? 1 : 0,
    bytesDone: s.bytesDone,
    bytesTotal: s.bytesTotal,
    bytesPerSecond: downloading ? s.bytesPerSecond : null,
    etaSeconds: rate === null ? null : Math.max(0, s.bytesTotal - s.bytesDone) / rate,
    filePath: s.filePath,
    loadError: s.errorCode && LOAD_ERRORS.has(s.errorCode) ? (s.errorCode as ModelLoadError) : null,
    errorCode: s.errorCode,
    errorMessage: s.errorMessage,
    updatedAt: new Date(s.updatedAt),
  });
}

export function toNodeMetrics(m: MetricsUpdatedPayload, timestamp: Date, seq: number | null): NodeMetrics {
  return Object.assign(new NodeMetrics(), { ...m, id: m.nodeId, seq, timestamp });
}

export function toNode(node: NodeEntity): Node {
  return fromNodePayload(nodePayload(node));
}

/** A node from an event's payload; `models`, when given, spares Node.models a query. */
export function fromNodePayload(node: NodePayload, models?: NodeModelStatePayload[]): Node {
  const lastHeartbeatAt = new Date(node.lastHeartbeatAt);
  return Object.assign(new Node(), {
    id: node.id,
    name: node.name,
    url: node.url,
    status: node.status as NodeStatus,
    lastHeartbeatAt,
    registeredAt: new Date(node.registeredAt),
    memoryBytes: node.memoryBytes,
    gpus: node.capacity.gpus.map((g) => Object.assign(new Gpu(), g)),
    cpuCount: node.capacity.cpuCount,
    platform: node.capacity.platform,
    metrics: node.metrics ? toNodeMetrics(metricsPayload(node.id, node.metrics), lastHeartbeatAt, null) : null,
    ...(models ? { preloadedModels: models.map(toNodeModelState) } : {}),
  });
}
