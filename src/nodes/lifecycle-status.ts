/** Where one model stands on one node (seed 000's NodeModelState). */
export enum LifecycleStatus {
  PENDING = 'PENDING',
  DOWNLOADING = 'DOWNLOADING',
  LOADING = 'LOADING',
  READY = 'READY',
  ERROR = 'ERROR',
}
