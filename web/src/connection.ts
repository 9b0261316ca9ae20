import { useSyncExternalStore } from 'react';

/** What the header shows about the live connection (graphql-ws). */
export type ConnectionState =
  { kind: 'connecting' } | { kind: 'live' } | { kind: 'reconnecting'; since: number; attempt: number };

let state: ConnectionState = { kind: 'connecting' };
const listeners = new Set<() => void>();

export function setConnectionState(next: ConnectionState): void {
  state = next;
  listeners.forEach((l) => l());
}

export function getConnectionState(): ConnectionState {
  return state;
}

export function useConnectionState(): ConnectionState {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => state,
  );
}
