/** Where one model stands on one node (seed 000's NodeModelState). */
export enum LifecycleStatus {
  PENDING = 'PENDING',
  DOWNLOADING = 'DOWNLOADING',
  LOADING = 'LOADING',
  READY = 'READY',
  ERROR = 'ERROR',
  /** Stopped by cancelDownload: the partial file is kept, a later downloadModel resumes it. */
  CANCELLED = 'CANCELLED',
}
