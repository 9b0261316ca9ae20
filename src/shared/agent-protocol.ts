/**
 * The node agent protocol, shared by the control plane and the agent (the agent imports nothing else from the
 * control plane). Agent → control plane: register, heartbeat (Bearer nodeToken, a node may only speak for itself).
 * Control plane → agent: download (NDJSON progress stream), delete (Bearer controlToken).
 */
import type { ModelLoadError } from './model-load-error.js';

export const AGENT_PROTOCOL_VERSION = 1;

export type AgentLifecycleStatus = 'PENDING' | 'DOWNLOADING' | 'LOADING' | 'READY' | 'ERROR' | 'CANCELLED';

export interface GpuInfo {
  name: string;
  vramTotalBytes: number;
}

export interface NodeCapacity {
  gpus: GpuInfo[];
  vramTotalBytes: number;
  ramTotalBytes: number;
  cpuCount: number;
  platform: string;
  /** What downloads are checked against: VRAM where there is a GPU, RAM on a CPU-only node. */
  memoryBytes: number;
}

export interface RegisterNodeRequest {
  name: string;
  /** Where the control plane reaches this agent. */
  url: string;
  protocolVersion: number;
  capacity: NodeCapacity;
  /** Credentials from an earlier registration: re-registering with them keeps the node's id (idempotent). */
  nodeId?: string;
  nodeToken?: string;
}

export interface RegisterNodeResponse {
  nodeId: string;
  nodeToken: string;
  /** The agent accepts control-plane calls bearing this token only. */
  controlToken: string;
  heartbeatIntervalMs: number;
  /**
   * How long one heartbeat attempt may take, and how soon a failed one is sent again: they agree with the control
   * plane's offline threshold (src/shared/heartbeat-timing.ts). Absent from older control planes.
   */
  heartbeatTimeoutMs?: number;
  heartbeatRetryMs?: number;
  /**
   * Where to send heartbeats, when the control plane runs a heartbeat listener of its own (NODE_HEARTBEAT_PORT);
   * absent: to the control plane's URL, as every other call. After a failed attempt the agent tries its control
   * plane's URL, whose answer names this again.
   */
  heartbeatUrl?: string;
  progressIntervalMs?: number;
}

export interface NodeMetricsReport {
  /** 0..100, null where no GPU utilisation can be read. */
  gpuUsage: number | null;
  vramUsedBytes: number;
  vramTotalBytes: number;
  /** 0..100 over all cores. */
  cpuUsage: number;
  ramUsedBytes: number;
  ramTotalBytes: number;
  requestCount: number;
}

export interface AgentModelState {
  modelId: string;
  lifecycleStatus: AgentLifecycleStatus;
  bytesDone: number;
  bytesTotal: number;
  filePath: string | null;
  errorCode: ModelLoadError | string | null;
  errorMessage: string | null;
  /** Strictly increasing per agent (wall clock µs): the control plane ignores a report older than what it has. */
  version: number;
  /** On ERROR: whether trying again may succeed (network, stall) or not (wrong bytes, no disk space). */
  retryable?: boolean;
  /** Set on every state of a repair the agent runs, its last one included: how the control plane follows repairs. */
  repair?: AgentRepairTag;
}

/**
 * Which repair (and attempt) a state belongs to. On the repair's failure (its last state: ERROR, with the model's own
 * verdict as errorCode) also what the fetch itself failed with, and whether the repair's deadline passed.
 */
export interface AgentRepairTag {
  repairId: string;
  attempt: number;
  /** Set on the state that ends a failed attempt (an ERROR of the fetch before it is not the end: the agent still acts). */
  failed?: boolean;
  failureCode?: string | null;
  failureMessage?: string | null;
  timedOut?: boolean;
}

export interface HeartbeatRequest {
  metrics: NodeMetricsReport;
  models: AgentModelState[];
}

export interface HeartbeatResponse {
  ok: true;
  heartbeatIntervalMs: number;
  /** As in RegisterNodeResponse. */
  heartbeatTimeoutMs?: number;
  heartbeatRetryMs?: number;
  heartbeatUrl?: string;
  /** How often the agent pushes download progress (`POST /api/nodes/{nodeId}/states`); longer in a bigger fleet. */
  progressIntervalMs?: number;
}

/**
 * Agent → control plane (`POST /api/nodes/{nodeId}/states`): model states that changed since the last report. The agent
 * owns its transfers and pushes their progress here: every lifecycle change at once, progress at most once per
 * `progressIntervalMs`. At most one state per model per report.
 */
export interface StatesReportRequest {
  models: AgentModelState[];
}

export interface StatesReportResponse {
  ok: true;
  progressIntervalMs: number;
}

/** Control plane → agent (`POST /v1/agent/downloads` with `Prefer: respond-async`): the download is started (or joined). */
export interface AgentDownloadAccepted {
  accepted: true;
  /** The model's state on the agent right now (READY when it already holds it); null when it has none yet. */
  state: AgentModelState | null;
}

export interface AgentDownloadFile {
  path: string;
  url: string;
  size: number;
  sha256: string;
  role: 'MODEL' | 'PROJECTOR';
}

export interface AgentDownloadRequest {
  modelId: string;
  revision: string;
  files: AgentDownloadFile[];
}

/** One line of the NDJSON stream answering a download request. */
export type AgentDownloadEvent =
  | { type: 'state'; state: AgentModelState }
  | { type: 'done'; state: AgentModelState }
  | { type: 'failed'; state: AgentModelState; retryable: boolean };

export type FailureTrigger = 'REQUEST' | 'STARTUP' | 'SWEEP' | 'VERIFY';

/** Agent → control plane (`POST /api/nodes/{nodeId}/failures`): a model failed a check or a load on this node. */
export interface FailureReport {
  modelId: string;
  code: ModelLoadError;
  message: string;
  trigger: FailureTrigger;
  /** The bytes on disk are a sound prefix (a truncated file): a repair may resume them instead of starting over. */
  resumable?: boolean;
}

/** What the repair policy decided. The agent answers requests for the model accordingly. */
export interface FailureReportResponse {
  action: 'REPAIRING' | 'NO_REPAIR' | 'BREAKER_OPEN';
  repairId: string | null;
  reason: string;
  /** For REPAIRING: when to tell clients to retry; the repair's deadline. */
  retryAfterSeconds: number;
  deadline: string | null;
}

/**
 * Control plane → agent (`POST /v1/agent/models/{modelId}/repair`): fetch again, verify, reload. Answered 202 at once
 * (AgentRepairAccepted); the agent runs the repair and reports it through its model states (`repair` tag).
 */
export interface AgentRepairRequest extends AgentDownloadRequest {
  repairId: string;
  /** 1 for the first try; a new attempt of the same repair (from zero after a checksum mismatch) counts up. */
  attempt?: number;
  reason: ModelLoadError;
  /** The bytes on disk are bad (checksum, format): start from zero; otherwise resume what is there. */
  fromZero: boolean;
  deadline: string;
}

/** The agent's answer to a repair request: started, or joined when that repair's attempt already runs. */
export interface AgentRepairAccepted {
  accepted: true;
  /** The model's state on the agent right now (null when it has none). */
  state: AgentModelState | null;
}

/** Control plane → agent (`POST /v1/agent/models/{modelId}/verify`): full sha256 of the node's copy. */
export interface AgentVerifyResponse {
  ok: boolean;
  state: AgentModelState | null;
  mismatches: Array<{ path: string; expected: string; actual: string | null }>;
}

/**
 * Agent → control plane (`POST /api/nodes/{nodeId}/peer-sources`), before each file and after a source failed: where to
 * fetch this file from. `exclude` names peers that failed this node during this download.
 */
export interface PeerSourceRequest {
  modelId: string;
  path: string;
  sha256: string;
  exclude?: string[];
}

/**
 * `PEER`: fetch from `url` (a peer agent's file, with its grant), and report the outcome under `transferId`.
 * `HUB`: fetch from the Hub (the manifest's URL). `WAIT`: another node is fetching this file and will serve it soon:
 * ask again after `retryAfterMs`.
 */
export type PeerSourceAnswer =
  | { source: 'PEER'; transferId: string; url: string; nodeId: string; nodeName: string; expiresAt: string }
  | { source: 'HUB'; transferId: string | null }
  | { source: 'WAIT'; retryAfterMs: number };

/**
 * Agent → control plane (`POST /api/nodes/{nodeId}/peer-transfers/{transferId}`): how a transfer ended and how many
 * bytes it brought. `BAD_BYTES`: the file's sha256 did not match and this peer supplied bytes of it.
 */
export interface PeerTransferReport {
  outcome: 'DONE' | 'FAILED' | 'BAD_BYTES';
  bytes: number;
  message?: string;
}
