import type { MetricsUpdatedPayload, NodeModelStatePayload } from '../../events/topics.js';
import { ModelLoadError } from '../../shared/model-load-error.js';
import type { NodeModelStateEntity } from '../entities/node-model-state.entity.js';
import type { NodeEntity } from '../entities/node.entity.js';
import { LifecycleStatus } from '../lifecycle-status.js';
import { nodeMetricsPayload } from '../node-events.js';
import { Gpu, Node, NodeMetrics, NodeModelState } from './node.model.js';

const LOAD_ERRORS = new Set<string>(Object.values(ModelLoadError));

export function toNodeModelState(s: NodeModelStateEntity | NodeModelStatePayload): NodeModelState {
  return Object.assign(new NodeModelState(), {
    nodeId: s.nodeId,
    modelId: s.modelId,
    lifecycleStatus: s.lifecycleStatus as LifecycleStatus,
    progress:
      s.bytesTotal > 0
        ? Math.min(1, s.bytesDone / s.bytesTotal)
        : (s.lifecycleStatus as LifecycleStatus) === LifecycleStatus.READY
          ? 1
          : 0,
    bytesDone: s.bytesDone,
    bytesTotal: s.bytesTotal,
    filePath: s.filePath,
    loadError: s.errorCode && LOAD_ERRORS.has(s.errorCode) ? (s.errorCode as ModelLoadError) : null,
    errorCode: s.errorCode,
    errorMessage: s.errorMessage,
    updatedAt: new Date(s.updatedAt),
  });
}

export function toNodeMetrics(m: MetricsUpdatedPayload, timestamp: Date, seq: number | null): NodeMetrics {
  return Object.assign(new NodeMetrics(), { ...m, seq, timestamp });
}

export function toNode(node: NodeEntity): Node {
  return Object.assign(new Node(), {
    id: node.id,
    name: node.name,
    url: node.url,
    status: node.status,
    lastHeartbeatAt: node.lastHeartbeatAt,
    registeredAt: node.registeredAt,
    memoryBytes: node.memoryBytes,
    gpus: node.capacity.gpus.map((g) => Object.assign(new Gpu(), g)),
    cpuCount: node.capacity.cpuCount,
    platform: node.capacity.platform,
    metrics: node.metrics ? toNodeMetrics(nodeMetricsPayload(node), node.lastHeartbeatAt, null) : null,
  });
}
