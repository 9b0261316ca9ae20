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

/** What a model's status is derived from: counts and bytes over its node states (kept current by the database). */
export interface FleetAggregate {
  ready: number;
  inFlight: number;
  failed: number;
  /** Bytes done / total over the nodes in flight. */
  inFlightBytesDone: number;
  inFlightBytesTotal: number;
  /** The failed nodes' reasons, in node order; only needed (and only read) when nothing is ready or in flight. */
  failures: ReadonlyArray<{ nodeId: string; errorMessage: string | null }>;
}

const IN_FLIGHT = new Set<LifecycleStatus>([
  LifecycleStatus.PENDING,
  LifecycleStatus.DOWNLOADING,
  LifecycleStatus.LOADING,
]);

export function isInFlight(status: LifecycleStatus): boolean {
  return IN_FLIGHT.has(status);
}

/** The aggregate computed from the states themselves: what the database's maintained aggregate must always equal. */
export function aggregateStates(nodes: readonly NodeStateFacts[]): FleetAggregate {
  const agg = { ready: 0, inFlight: 0, failed: 0, inFlightBytesDone: 0, inFlightBytesTotal: 0 };
  const failures: Array<{ nodeId: string; errorMessage: string | null }> = [];
  for (const n of nodes) {
    if (n.lifecycleStatus === LifecycleStatus.READY) agg.ready++;
    else if (n.lifecycleStatus === LifecycleStatus.ERROR) {
      agg.failed++;
      failures.push({ nodeId: n.nodeId, errorMessage: n.errorMessage });
    } else if (isInFlight(n.lifecycleStatus)) {
      agg.inFlight++;
      agg.inFlightBytesDone += Math.min(n.bytesDone, n.bytesTotal);
      agg.inFlightBytesTotal += n.bytesTotal;
    }
  }
  return { ...agg, failures };
}

/** deriveFromAggregate over the states themselves. */
export function deriveModelStatus(registered: boolean, nodes: readonly NodeStateFacts[]): DerivedModelStatus {
  return deriveFromAggregate(registered, aggregateStates(nodes));
}

/**
 * The one place a model's status is decided (DESIGN.md, Model status): AVAILABLE unless registered; then READY if any
 * node is ready, DOWNLOADING while any node is on its way (pending, downloading or loading), ERROR when every node
 * attempt failed, REGISTERED when no node holds it yet.
 */
export function deriveFromAggregate(registered: boolean, fleet: FleetAggregate): DerivedModelStatus {
  if (!registered)
    return { status: ModelStatus.AVAILABLE, downloadProgress: null, availableNodes: 0, errorMessage: null };
  const downloadProgress =
    fleet.inFlight > 0
      ? fleet.inFlightBytesTotal > 0
        ? Math.min(1, Math.max(0, fleet.inFlightBytesDone / fleet.inFlightBytesTotal))
        : 0
      : null;
  if (fleet.ready > 0)
    return { status: ModelStatus.READY, downloadProgress, availableNodes: fleet.ready, errorMessage: null };
  if (fleet.inFlight > 0)
    return { status: ModelStatus.DOWNLOADING, downloadProgress, availableNodes: 0, errorMessage: null };
  if (fleet.failed > 0) {
    const reasons = fleet.failures.map((n) => `${n.nodeId}: ${n.errorMessage ?? 'failed'}`);
    return { status: ModelStatus.ERROR, downloadProgress: null, availableNodes: 0, errorMessage: reasons.join('; ') };
  }
  return { status: ModelStatus.REGISTERED, downloadProgress: null, availableNodes: 0, errorMessage: null };
}
