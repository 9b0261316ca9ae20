/** Every queue, job name and payload in one place, so a wrong payload for a job name does not compile. */
export enum QueueName {
  DOWNLOADS = 'downloads',
  REPAIRS = 'repairs',
}

export enum JobName {
  DOWNLOAD_MODEL = 'download-model',
  /** One model to many nodes: one job, bounded parallel calls to their agents (a rollout's first dispatch). */
  DISPATCH_DOWNLOADS = 'dispatch-downloads',
  REPAIR_MODEL = 'repair-model',
}

export interface DownloadModelJob {
  nodeId: string;
  modelId: string;
  /** When the user asked: bounds how long the job waits for an offline node. */
  requestedAt: string;
}

export interface DispatchDownloadsJob {
  modelId: string;
  nodeIds: string[];
  /** When the user asked (as DownloadModelJob's). */
  requestedAt: string;
}

/** Tells the node's agent to run one attempt of a repair (a short job: the agent owns the repair and reports it). */
export interface RepairModelJob {
  repairId: string;
  nodeId: string;
  modelId: string;
  /** Which attempt to start (1 when absent): a checksum mismatch while resuming is tried once more from zero. */
  attempt?: number;
}

export interface JobPayloads {
  [JobName.DOWNLOAD_MODEL]: DownloadModelJob;
  [JobName.DISPATCH_DOWNLOADS]: DispatchDownloadsJob;
  [JobName.REPAIR_MODEL]: RepairModelJob;
}

/** One job per repair task and attempt (the database allows one task in progress per node × model). */
export function repairJobId(repairId: string, attempt = 1): string {
  return attempt === 1 ? `repair|${repairId}` : `repair|${repairId}|${attempt}`;
}

/** Deterministic ids: BullMQ refuses a second job with the same id, so a node × model never downloads twice at once. */
export function downloadJobId(nodeId: string, modelId: string): string {
  return `download|${nodeId}|${encodeURIComponent(modelId)}`;
}

/**
 * A batch's id: unique per enqueue (the database's conditional claim, not the job id, keeps a node × model from being
 * dispatched twice: a batch retried after its replica died only finds the nodes still queued).
 */
export function dispatchBatchJobId(modelId: string, batch: string): string {
  return `dispatch|${encodeURIComponent(modelId)}|${batch}`;
}

/**
 * BullMQ worker options shared by every processor. Worker options are static decorator metadata, so JOB_LOCK_MS is
 * read here from the environment (it is validated with the rest of the configuration at boot).
 */
export const WORKER_OPTIONS = {
  concurrency: 8,
  lockDuration: Number(process.env.JOB_LOCK_MS ?? 30_000),
  stalledInterval: Number(process.env.JOB_LOCK_MS ?? 30_000),
};
