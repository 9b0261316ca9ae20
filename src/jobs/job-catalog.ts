/** Every queue, job name and payload in one place, so a wrong payload for a job name does not compile. */
export enum QueueName {
  DOWNLOADS = 'downloads',
}

export enum JobName {
  DOWNLOAD_MODEL = 'download-model',
}

export interface DownloadModelJob {
  nodeId: string;
  modelId: string;
  /** When the user asked: bounds how long the job waits for an offline node. */
  requestedAt: string;
}

export interface JobPayloads {
  [JobName.DOWNLOAD_MODEL]: DownloadModelJob;
}

export const JOB_QUEUE: { [J in JobName]: QueueName } = {
  [JobName.DOWNLOAD_MODEL]: QueueName.DOWNLOADS,
};

/** Deterministic ids: BullMQ refuses a second job with the same id, so a node × model never downloads twice at once. */
export function downloadJobId(nodeId: string, modelId: string): string {
  return `download|${nodeId}|${encodeURIComponent(modelId)}`;
}
