import { LifecycleStatus } from '../nodes/lifecycle-status.js';

export enum ModelStatus {
  AVAILABLE = 'AVAILABLE',
  REGISTERED = 'REGISTERED',
  DOWNLOADING = 'DOWNLOADING',
  READY = 'READY',
  ERROR = 'ERROR',
}

export enum ModelSource {
  CATALOG = 'CATALOG',
  HUGGING_FACE = 'HUGGING_FACE',
}

/** What the derivation needs to know of one node's copy of a model. */
export interface NodeStateFacts {
  nodeId: string;
  lifecycleStatus: LifecycleStatus;
  bytesDone: number;
  bytesTotal: number;
  errorMessage: string | null;
}

export interface DerivedModelStatus {
  status: ModelStatus;
  /** 0..1 over the nodes still downloading; null when none is. */
  downloadProgress: number | null;
  availableNodes: number;
  errorMessage: string | null;
}

/**
 * The one place a model's status is decided (DESIGN.md, Model status): AVAILABLE unless registered; then READY if any
 * node is ready, DOWNLOADING while any node is on its way (pending, downloading or loading), ERROR when every node
 * attempt failed, REGISTERED when no node holds it yet.
 */
export function deriveModelStatus(registered: boolean, nodes: readonly NodeStateFacts[]): DerivedModelStatus {
  if (!registered)
    return { status: ModelStatus.AVAILABLE, downloadProgress: null, availableNodes: 0, errorMessage: null };
  const ready = nodes.filter((n) => n.lifecycleStatus === LifecycleStatus.READY).length;
  const inFlight = nodes.filter(
    (n) =>
      n.lifecycleStatus === LifecycleStatus.PENDING ||
      n.lifecycleStatus === LifecycleStatus.DOWNLOADING ||
      n.lifecycleStatus === LifecycleStatus.LOADING,
  );
  const failed = nodes.filter((n) => n.lifecycleStatus === LifecycleStatus.ERROR);
  const downloadProgress = inFlight.length > 0 ? progressOf(inFlight) : null;

  if (ready > 0) return { status: ModelStatus.READY, downloadProgress, availableNodes: ready, errorMessage: null };
  if (inFlight.length > 0)
    return { status: ModelStatus.DOWNLOADING, downloadProgress, availableNodes: 0, errorMessage: null };
  if (failed.length > 0) {
    const reasons = failed.map((n) => `${n.nodeId}: ${n.errorMessage ?? 'failed'}`);
    return { status: ModelStatus.ERROR, downloadProgress: null, availableNodes: 0, errorMessage: reasons.join('; ') };
  }
  return { status: ModelStatus.REGISTERED, downloadProgress: null, availableNodes: 0, errorMessage: null };
}

function progressOf(nodes: readonly NodeStateFacts[]): number {
  const total = nodes.reduce((sum, n) => sum + n.bytesTotal, 0);
  if (total <= 0) return 0;
  const done = nodes.reduce((sum, n) => sum + Math.min(n.bytesDone, n.bytesTotal), 0);
  return Math.min(1, Math.max(0, done / total));
}
