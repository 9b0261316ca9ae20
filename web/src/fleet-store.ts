import { useCallback, useSyncExternalStore } from 'react';
import type { NodeStateFieldsFragment } from './gql/graphql';

export type CellData = NodeStateFieldsFragment;
type Listener = () => void;

const key = (modelId: string, nodeId: string) => `${modelId}|${nodeId}`;

function add(map: Map<string, Set<Listener>>, k: string, l: Listener): () => void {
  let set = map.get(k);
  if (!set) map.set(k, (set = new Set()));
  set.add(l);
  return () => {
    set.delete(l);
    if (!set.size) map.delete(k);
  };
}

/**
 * The fleet matrix's node × model states, kept outside Apollo's normalised cache: at 200 nodes × 100 models that cache
 * takes seconds to write and read 20,000 entities. One immutable entry per pair, replaced on each change; a cell
 * subscribes to its own pair and a row label to its model, so an event re-renders one cell (and, on a lifecycle
 * change, one label), whatever the size of the fleet.
 */
export class FleetStore {
  private states = new Map<string, CellData>();
  private readonly cellListeners = new Map<string, Set<Listener>>();
  private readonly rowListeners = new Map<string, Set<Listener>>();
  private rowVersions = new Map<string, number>();

  /** A full snapshot (the FleetStates query): replaces everything, but an event newer than the snapshot wins. */
  load(models: ReadonlyArray<{ id: string; nodes: ReadonlyArray<CellData> }>): void {
    const next = new Map<string, CellData>();
    for (const m of models) {
      for (const s of m.nodes) {
        const k = key(s.modelId, s.nodeId);
        const held = this.states.get(k);
        next.set(k, held && held.updatedAt > s.updatedAt ? held : s);
      }
    }
    this.states = next;
    for (const [k, set] of this.rowListeners) {
      this.rowVersions.set(k, (this.rowVersions.get(k) ?? 0) + 1);
      set.forEach((l) => l());
    }
    for (const set of this.cellListeners.values()) set.forEach((l) => l());
  }

  /** One changed state (an event, a mutation's answer): O(1), wakes only that cell (and its row on a new lifecycle). */
  apply(state: CellData): void {
    const k = key(state.modelId, state.nodeId);
    const held = this.states.get(k);
    if (held && held.updatedAt > state.updatedAt) return;
    this.states.set(k, state);
    this.cellListeners.get(k)?.forEach((l) => l());
    if (held?.lifecycleStatus !== state.lifecycleStatus) {
      this.rowVersions.set(state.modelId, (this.rowVersions.get(state.modelId) ?? 0) + 1);
      this.rowListeners.get(state.modelId)?.forEach((l) => l());
    }
  }

  get(modelId: string, nodeId: string): CellData | undefined {
    return this.states.get(key(modelId, nodeId));
  }

  subscribeCell(modelId: string, nodeId: string, l: Listener): () => void {
    return add(this.cellListeners, key(modelId, nodeId), l);
  }

  subscribeRow(modelId: string, l: Listener): () => void {
    return add(this.rowListeners, modelId, l);
  }

  /** Changes whenever a state of this model enters, leaves or changes lifecycle. */
  rowVersion(modelId: string): number {
    return this.rowVersions.get(modelId) ?? 0;
  }
}

export const fleetStore = new FleetStore();

export function useCellState(modelId: string, nodeId: string, store = fleetStore): CellData | undefined {
  const subscribe = useCallback((l: Listener) => store.subscribeCell(modelId, nodeId, l), [store, modelId, nodeId]);
  return useSyncExternalStore(subscribe, () => store.get(modelId, nodeId));
}

/** Re-renders the caller when the lifecycle of one of the model's states changes (not on progress). */
export function useRowVersion(modelId: string, store = fleetStore): number {
  const subscribe = useCallback((l: Listener) => store.subscribeRow(modelId, l), [store, modelId]);
  return useSyncExternalStore(subscribe, () => store.rowVersion(modelId));
}
