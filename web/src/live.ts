import type { ApolloClient } from '@apollo/client';
import type { Client } from 'graphql-ws';
import { fleetStore, type FleetStore } from './fleet-store';
import type { ModelEventsSubscription } from './gql/graphql';
import { recordMetrics } from './metrics-history';
import {
  ActiveRepairsQuery,
  FleetLayoutQuery,
  MetricsEvents,
  ModelEvents,
  ModelQuery,
  NodeEvents,
  PeerCopyStatsQuery,
  RepairEvents,
  RepairsQuery,
} from './ops/operations';

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

export type ModelEvent = ModelEventsSubscription['modelStatusChanged'];

export interface ModelEventSink {
  /** Fetch one model again (its byte counts, its node list): called when an event cannot be applied alone. */
  refreshModel(modelId: string): void;
  /** Fetch the matrix's axes again (a model registered or unregistered). */
  refreshLayout(): void;
  /** Fetch the fleet's peer-copy figures again (a transfer ended: its bytes now count). */
  refreshPeerCopyStats(): void;
}

/**
 * Applies one modelStatusChanged event in O(1): the state it carries goes to the matrix's store and, where Apollo's
 * cache holds that node × model, into the cache; the model's aggregates into the cache. A refetch only when the event
 * cannot be applied alone: a gap in the model's seq (an event missed), a registration change, or a state a cached node
 * list lacks.
 */
export function applyModelEvent(
  client: ApolloClient,
  e: ModelEvent,
  sink: ModelEventSink,
  seqs: Map<string, number>,
  store: FleetStore = fleetStore,
): void {
  const cache = client.cache;
  const last = seqs.get(e.modelId);
  seqs.set(e.modelId, e.seq);
  const missed = last !== undefined && e.seq > last + 1;
  const modelRef = cache.identify({ __typename: 'ModelWithStatus', id: e.modelId });
  const m = e.model;
  cache.modify({
    id: modelRef,
    fields: {
      status: () => m.status,
      errorMessage: () => m.errorMessage ?? null,
      downloadProgress: () => m.downloadProgress ?? null,
      availableNodes: () => m.availableNodes,
    },
  });
  // Progress of several nodes may be coalesced into one event: every state in it counts.
  const states = e.states.length ? e.states : e.state ? [e.state] : [];
  for (const s of states) {
    store.apply(s);
    const known = cache.modify({
      id: cache.identify({ __typename: 'NodeModelState', nodeId: s.nodeId, modelId: s.modelId }),
      fields: (value, { fieldName }) => (fieldName in s ? (s as Record<string, unknown>)[fieldName] : value),
    });
    let listed = false;
    if (!known) cache.modify({ id: modelRef, fields: { nodes: (list) => ((listed = true), list) } });
    if (listed) sink.refreshModel(e.modelId);
  }
  // A transfer's bytes are counted when it ends: with READY, ERROR or a cancel, never mid-download.
  if (states.some((s) => s.lifecycleStatus !== 'DOWNLOADING' && s.lifecycleStatus !== 'PENDING'))
    sink.refreshPeerCopyStats();
  if (!states.length) {
    sink.refreshModel(e.modelId);
    sink.refreshLayout();
  }
  if (missed) sink.refreshModel(e.modelId);
}

/**
 * App-wide subscriptions that keep Apollo's cache and the matrix's store current, whatever page is open: model and
 * node-state changes, node status, metrics (also kept as history for the charts), repairs. An event about an entity
 * the cache does not hold yet (a new node, a new node × model) refetches what the pages are showing.
 */
export function startLiveUpdates(client: ApolloClient, _ws: Client): () => void {
  const throttle = throttler(500);
  const cache = client.cache;
  const seqs = new Map<string, number>();
  const refreshModel = (modelId: string) =>
    throttle(`model:${modelId}`, () => {
      void client
        .query({ query: ModelQuery, variables: { id: modelId }, fetchPolicy: 'network-only' })
        .then(({ data }) => data?.model?.nodes.forEach((s) => fleetStore.apply(s)))
        .catch(() => undefined);
    });
  const sink: ModelEventSink = {
    refreshModel,
    refreshLayout: () =>
      throttle('layout', () => void client.refetchQueries({ include: [FleetLayoutQuery] }).catch(() => undefined)),
    refreshPeerCopyStats: () =>
      throttle(
        'peer-copy-stats',
        () => void client.refetchQueries({ include: [PeerCopyStatsQuery] }).catch(() => undefined),
      ),
  };
  const refreshActive = () => throttle('active', () => void client.refetchObservableQueries().catch(() => undefined));

  const subs = [
    client.subscribe({ query: ModelEvents, fetchPolicy: 'no-cache' }).subscribe({
      next: ({ data }) => {
        if (data?.modelStatusChanged) applyModelEvent(client, data.modelStatusChanged, sink, seqs);
      },
      error: () => undefined,
    }),
    client.subscribe({ query: NodeEvents }).subscribe({
      next: ({ data }) => {
        const e = data?.nodeStatusChanged;
        if (!e) return;
        e.models.forEach((s) => fleetStore.apply(s));
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
