import type { ApolloClient } from '@apollo/client';
import type { Client } from 'graphql-ws';
import { recordMetrics } from './metrics-history';
import {
  ActiveRepairsQuery,
  MetricsEvents,
  ModelEvents,
  ModelQuery,
  NodeEvents,
  RepairEvents,
  RepairsQuery,
} from './ops/operations';
import { observeBytes } from './transfer-rate';

export const REPAIRS_LIMIT = 200;

/** Runs `fn` at most once per `ms` per key, always with a trailing call so the last change is never lost. */
function throttler(ms: number) {
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  return (key: string, fn: () => void) => {
    if (timers.has(key)) return;
    timers.set(
      key,
      setTimeout(() => {
        timers.delete(key);
        fn();
      }, ms),
    );
  };
}

/**
 * App-wide subscriptions that keep Apollo's cache current, whatever page is open: model and node-state changes,
 * node status, metrics (also kept as history for the charts), repairs. An event about an entity the cache does not
 * hold yet (a new node, a new node × model) refetches what the pages are showing.
 */
export function startLiveUpdates(client: ApolloClient, _ws: Client): () => void {
  const throttle = throttler(500);
  const cache = client.cache;
  const refreshModel = (modelId: string) =>
    throttle(`model:${modelId}`, () => {
      void client
        .query({ query: ModelQuery, variables: { id: modelId }, fetchPolicy: 'network-only' })
        .then(({ data }) => {
          for (const s of data?.model?.nodes ?? []) observeBytes(s.modelId, s.nodeId, s.bytesDone);
        })
        .catch(() => undefined);
    });
  const refreshActive = () => throttle('active', () => void client.refetchObservableQueries().catch(() => undefined));

  const subs = [
    client.subscribe({ query: ModelEvents }).subscribe({
      next: ({ data }) => {
        const e = data?.modelStatusChanged;
        if (!e) return;
        const modelRef = cache.identify({ __typename: 'ModelWithStatus', id: e.modelId });
        if (e.nodeId === null || e.nodeId === undefined) {
          cache.modify({
            id: modelRef,
            fields: { status: () => e.status, downloadProgress: (p) => e.progress ?? p },
          });
        } else if (e.lifecycleStatus) {
          const stateRef = cache.identify({ __typename: 'NodeModelState', nodeId: e.nodeId, modelId: e.modelId });
          cache.modify({
            id: stateRef,
            fields: {
              lifecycleStatus: () => e.lifecycleStatus!,
              progress: (p) => e.progress ?? p,
              errorMessage: () => e.errorMessage ?? null,
            },
          });
          cache.modify({ id: modelRef, fields: { status: () => e.status } });
        }
        // Byte counts and aggregates come with the model: fetch it, a few times a second at most.
        refreshModel(e.modelId);
      },
      error: () => undefined,
    }),
    client.subscribe({ query: NodeEvents }).subscribe({
      next: ({ data }) => {
        const e = data?.nodeStatusChanged;
        if (!e) return;
        const known = cache.modify({
          id: cache.identify({ __typename: 'Node', id: e.nodeId }),
          fields: { status: () => e.status, name: () => e.name },
        });
        if (!known) refreshActive();
      },
      error: () => undefined,
    }),
    client.subscribe({ query: MetricsEvents }).subscribe({
      next: ({ data }) => {
        const m = data?.metricsUpdated;
        if (!m) return;
        recordMetrics(m);
        cache.modify({
          id: cache.identify({ __typename: 'Node', id: m.nodeId }),
          fields: { metrics: () => m, lastHeartbeatAt: () => m.timestamp },
        });
      },
      error: () => undefined,
    }),
    client.subscribe({ query: RepairEvents }).subscribe({
      next: ({ data }) => {
        const r = data?.repairStatusChanged;
        if (!r) return;
        cache.updateQuery({ query: RepairsQuery, variables: { limit: REPAIRS_LIMIT } }, (list) =>
          list && !list.repairs.some((x) => x.id === r.id) ? { repairs: [r, ...list.repairs] } : undefined,
        );
        throttle(
          'active-repairs',
          () => void client.refetchQueries({ include: [ActiveRepairsQuery] }).catch(() => undefined),
        );
        refreshModel(r.modelId);
      },
      error: () => undefined,
    }),
  ];
  return () => subs.forEach((s) => s.unsubscribe());
}
