import type { SupportedModelDef } from '../catalog/supported-model.js';
import type { ManifestFile } from '../registry/manifest.js';
import type { NodeCapacity, NodeMetricsReport } from '../shared/agent-protocol.js';

/**
 * Every PubSub topic and the payload it carries. Payloads are plain data (no class instances): they cross Redis as JSON,
 * so dates travel as ISO strings and are revived by the subscription resolvers.
 */
export enum Topic {
  MODEL_STATUS_CHANGED = 'modelStatusChanged',
  NODE_STATUS_CHANGED = 'nodeStatusChanged',
  METRICS_UPDATED = 'metricsUpdated',
  REPAIR_STATUS_CHANGED = 'repairStatusChanged',
  FLEET_PROGRESS_CHANGED = 'fleetProgressChanged',
}

/**
 * What every event carries so a client can tell it missed one and re-query: `seq` counts the events of one entity
 * stream (see streamOf), taken and published in one atomic step, so it grows by exactly one per event of that stream.
 */
export interface EventEnvelope {
  seq: number;
  timestamp: string;
}

/** A model as events carry it: ModelWithStatus without its node states (loaded when asked) and Hub figures. */
export interface ModelSnapshotPayload {
  id: string;
  model: SupportedModelDef;
  source: string;
  status: string;
  errorMessage: string | null;
  downloadProgress: number | null;
  availableNodes: number;
  revision: string | null;
  files: ManifestFile[];
  selectionNote: string | null;
  registeredAt: string | null;
  /** Orders two snapshots of this model (the database's aggregate version); not shown to clients. */
  version: number;
}

export interface ModelStatusChangedPayload {
  modelId: string;
  status: string;
  progress: number | null;
  nodeId: string | null;
  lifecycleStatus: string | null;
  errorMessage: string | null;
  model: ModelSnapshotPayload;
  /** The node × model state that changed, when the change is about one node (the last of `states`). */
  state: NodeModelStatePayload | null;
  /**
   * Every node × model state of this model that changed since its previous event from this replica (progress is
   * coalesced: the latest of each node), `state` included; empty for a registration change. Absent from events of
   * older replicas: then `state` alone.
   */
  states?: NodeModelStatePayload[];
}

/** A model's rollout progress (registry/fleet-progress.ts), as fleetProgressChanged carries it. */
export interface FleetProgressPayload {
  modelId: string;
  nodesTotal: number;
  pending: number;
  downloading: number;
  loading: number;
  ready: number;
  failed: number;
  cancelled: number;
  /** Over the nodes in flight and the ready ones. */
  bytesDone: number;
  bytesTotal: number;
  /** Sum of the smoothed rates of the nodes downloading. */
  bytesPerSecond: number;
}

/** A node × model state as it travels in events. */
export interface NodeModelStatePayload {
  nodeId: string;
  modelId: string;
  lifecycleStatus: string;
  bytesDone: number;
  bytesTotal: number;
  bytesPerSecond: number | null;
  filePath: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  updatedAt: string;
  /** Orders two snapshots of this state (grows with every write of the row); not shown to clients. */
  revision: number;
}

/** A node as events carry it (Node without its model states). */
export interface NodePayload {
  id: string;
  name: string;
  url: string;
  status: string;
  lastHeartbeatAt: string;
  registeredAt: string;
  memoryBytes: number;
  capacity: NodeCapacity;
  metrics: NodeMetricsReport | null;
}

export interface NodeStatusChangedPayload {
  nodeId: string;
  name: string;
  status: string;
  node: NodePayload;
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
  [Topic.FLEET_PROGRESS_CHANGED]: FleetProgressPayload;
}

export type TopicEvent<T extends Topic> = TopicPayloads[T] & EventEnvelope;

/**
 * The entity stream an event belongs to, which its `seq` counts: one per model (modelStatusChanged), one per node
 * (nodeStatusChanged), one per node's metrics (metricsUpdated: heartbeats must not look like missed status events),
 * one per node × model for repairs, one per model for its rollout progress (fleetProgressChanged).
 */
export function streamOf<T extends Topic>(topic: T, payload: TopicPayloads[T]): string {
  switch (topic) {
    case Topic.MODEL_STATUS_CHANGED:
      return `model:${(payload as ModelStatusChangedPayload).modelId}`;
    case Topic.NODE_STATUS_CHANGED:
      return `node:${(payload as NodeStatusChangedPayload).nodeId}`;
    case Topic.METRICS_UPDATED:
      return `metrics:${(payload as MetricsUpdatedPayload).nodeId}`;
    case Topic.REPAIR_STATUS_CHANGED: {
      const repair = payload as RepairStatusChangedPayload;
      return `repair:${repair.nodeId}:${repair.modelId}`;
    }
    case Topic.FLEET_PROGRESS_CHANGED:
      return `progress:${(payload as FleetProgressPayload).modelId}`;
  }
  throw new Error(`Unknown topic ${String(topic)}`);
}

/** A part of an event that may be overtaken: where it lies, what orders it, and the key its newest version is kept at. */
export interface VersionedPart {
  field: string;
  key: string;
  version: number;
}

/**
 * The parts of an event that another replica may publish a newer snapshot of concurrently: when an older one would be
 * published after a newer one, the newer one is published instead (EventsService), so the last event a client gets
 * always carries the newest model and state.
 */
export function versionedPartsOf<T extends Topic>(topic: T, payload: TopicPayloads[T]): VersionedPart[] {
  if (topic !== Topic.MODEL_STATUS_CHANGED) return [];
  const event = payload as ModelStatusChangedPayload;
  const parts: VersionedPart[] = [{ field: 'model', key: `model:${event.modelId}`, version: event.model.version }];
  if (event.state) {
    parts.push({
      field: 'state',
      key: `state:${event.state.nodeId}:${event.state.modelId}`,
      version: event.state.revision,
    });
  }
  return parts;
}
