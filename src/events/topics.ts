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

export interface TopicPayloads {
  [Topic.MODEL_STATUS_CHANGED]: ModelStatusChangedPayload;
  [Topic.NODE_STATUS_CHANGED]: Record<string, unknown>;
  [Topic.METRICS_UPDATED]: Record<string, unknown>;
  [Topic.REPAIR_STATUS_CHANGED]: Record<string, unknown>;
}

export type TopicEvent<T extends Topic> = TopicPayloads[T] & EventEnvelope;
