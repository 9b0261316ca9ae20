/**
 * Every PubSub topic and the payload it carries. Payloads are plain data (no class instances): they cross Redis as JSON,
 * so dates travel as ISO strings and are revived by the subscription resolvers.
 */
export enum Topic {
  MODEL_STATUS_CHANGED = 'modelStatusChanged',
  NODE_STATUS_CHANGED = 'nodeStatusChanged',
  METRICS_UPDATED = 'metricsUpdated',
  REPAIR_STATUS_CHANGED = 'repairStatusChanged',
}

/** What every event carries so a client can tell it missed one and re-query. */
export interface EventEnvelope {
  seq: number;
  timestamp: string;
}

export interface ModelStatusChangedPayload {
  modelId: string;
  status: string;
  progress: number | null;
  nodeId: string | null;
  lifecycleStatus: string | null;
  errorMessage: string | null;
}

/** A node × model state as it travels in events. */
export interface NodeModelStatePayload {
  nodeId: string;
  modelId: string;
  lifecycleStatus: string;
  bytesDone: number;
  bytesTotal: number;
  filePath: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  updatedAt: string;
}

export interface NodeStatusChangedPayload {
  nodeId: string;
  name: string;
  status: string;
  models: NodeModelStatePayload[];
}

export interface MetricsUpdatedPayload {
  nodeId: string;
  gpuUsage: number | null;
  memoryUsage: number;
  requestCount: number;
  vramUsedBytes: number;
  vramTotalBytes: number;
  cpuUsage: number;
  ramUsedBytes: number;
  ramTotalBytes: number;
}

export interface RepairStatusChangedPayload {
  id: string;
  nodeId: string;
  modelId: string;
  reason: string;
  detail: string;
  trigger: string;
  status: string;
  fromZero: boolean;
  attempts: number;
  errorMessage: string | null;
  timeoutMs: number;
  startedAt: string;
  finishedAt: string | null;
}

export interface TopicPayloads {
  [Topic.MODEL_STATUS_CHANGED]: ModelStatusChangedPayload;
  [Topic.NODE_STATUS_CHANGED]: NodeStatusChangedPayload;
  [Topic.METRICS_UPDATED]: MetricsUpdatedPayload;
  [Topic.REPAIR_STATUS_CHANGED]: RepairStatusChangedPayload;
}

export type TopicEvent<T extends Topic> = TopicPayloads[T] & EventEnvelope;
