import type {
  MetricsUpdatedPayload,
  NodeModelStatePayload,
  NodePayload,
  NodeStatusChangedPayload,
} from '../events/topics.js';
import type { NodeMetricsReport } from '../shared/agent-protocol.js';
import type { NodeModelStateEntity } from './entities/node-model-state.entity.js';
import type { NodeEntity } from './entities/node.entity.js';

export function nodeModelStatePayload(state: NodeModelStateEntity): NodeModelStatePayload {
  return {
    nodeId: state.nodeId,
    modelId: state.modelId,
    lifecycleStatus: state.lifecycleStatus,
    bytesDone: state.bytesDone,
    bytesTotal: state.bytesTotal,
    bytesPerSecond: state.bytesPerSecond,
    filePath: state.filePath,
    errorCode: state.errorCode,
    errorMessage: state.errorMessage,
    updatedAt: state.updatedAt.toISOString(),
    revision: state.revision,
  };
}

export function nodePayload(node: NodeEntity): NodePayload {
  return {
    id: node.id,
    name: node.name,
    url: node.url,
    status: node.status,
    lastHeartbeatAt: node.lastHeartbeatAt.toISOString(),
    registeredAt: node.registeredAt.toISOString(),
    memoryBytes: node.memoryBytes,
    capacity: node.capacity,
    metrics: node.metrics,
  };
}

export function nodeStatusPayload(node: NodeEntity, models: NodeModelStateEntity[]): NodeStatusChangedPayload {
  return {
    nodeId: node.id,
    name: node.name,
    status: node.status,
    node: nodePayload(node),
    models: models.map(nodeModelStatePayload),
  };
}

/** Memory usage in percent of what the node's models live in: VRAM on a GPU node, RAM on a CPU-only one. */
export function memoryUsagePercent(metrics: NodeMetricsReport): number {
  const [used, total] =
    metrics.vramTotalBytes > 0
      ? [metrics.vramUsedBytes, metrics.vramTotalBytes]
      : [metrics.ramUsedBytes, metrics.ramTotalBytes];
  return total > 0 ? Math.min(100, (used / total) * 100) : 0;
}

export function nodeMetricsPayload(node: NodeEntity): MetricsUpdatedPayload {
  return metricsPayload(node.id, node.metrics);
}

export function metricsPayload(nodeId: string, metrics: NodeMetricsReport | null): MetricsUpdatedPayload {
  const m: NodeMetricsReport = metrics ?? {
    gpuUsage: null,
    vramUsedBytes: 0,
    vramTotalBytes: 0,
    cpuUsage: 0,
    ramUsedBytes: 0,
    ramTotalBytes: 0,
    requestCount: 0,
  };
  return { nodeId, ...m, memoryUsage: memoryUsagePercent(m) };
}
