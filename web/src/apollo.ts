import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache } from '@apollo/client';
import { ErrorLink } from '@apollo/client/link/error';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { getConnectionState, setConnectionState } from './connection';

/** Same origin, relative to the page: works at / and behind a reverse proxy under a prefix. */
export function apiUrl(path: string): string {
  return new URL(path, document.baseURI).toString();
}

function wsUrl(): string {
  const url = new URL('graphql', document.baseURI);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/** Backoff between reconnect attempts: 0.5 s doubling to 5 s, with jitter so a fleet of tabs does not reconnect in step. */
export function retryDelayMs(attempt: number): number {
  const base = Math.min(5000, 500 * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}

/** The normalised cache every page reads (also used by the matrix benchmark). */
export function createCache(): InMemoryCache {
  return new InMemoryCache({
    typePolicies: {
      // A node × model pair is one entity whether or not the server sends its `id` (events contract).
      NodeModelState: { keyFields: ['nodeId', 'modelId'] },
      Node: { fields: { metrics: { merge: true } } },
      ModelWithStatus: { fields: { nodes: { merge: false } } },
      Query: {
        fields: {
          repairs: { keyArgs: ['nodeId', 'modelId', 'status'], merge: false },
        },
      },
    },
  });
}

export interface Api {
  client: ApolloClient;
  ws: Client;
  dispose(): Promise<void>;
}

/**
 * Apollo Client over HTTP (queries, mutations) and graphql-ws (subscriptions). The session cookie travels with both.
 * graphql-ws retries forever (its default gives up after 5 tries, and only after a clean close) and pings to notice a
 * dead link; after every reconnect but the first, every active query is refetched so nothing stays frozen.
 */
export function createApi(onUnauthenticated: (reason: string) => void): Api {
  let connectedOnce = false;
  let attempt = 0;
  // Set below; the socket's `connected` handler needs the client that is built on top of the socket.
  const ref: { client?: ApolloClient } = {};
  const ws = createClient({
    url: wsUrl(),
    lazy: false,
    keepAlive: 10_000,
    retryAttempts: Number.MAX_SAFE_INTEGER,
    shouldRetry: () => true,
    retryWait: async (retries) => {
      attempt = retries + 1;
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(retries)));
    },
    on: {
      connecting: () => {
        if (connectedOnce) {
          const current = getConnectionState();
          const since = current.kind === 'reconnecting' ? current.since : Date.now();
          setConnectionState({ kind: 'reconnecting', since, attempt });
        }
      },
      connected: () => {
        attempt = 0;
        setConnectionState({ kind: 'live' });
        if (connectedOnce) void ref.client?.refetchObservableQueries().catch(() => undefined);
        connectedOnce = true;
      },
      closed: (event) => {
        const code = (event as { code?: number } | undefined)?.code;
        // 4401/4403: the server refused the socket's credentials (session expired or revoked).
        if (code === 4401 || code === 4403) onUnauthenticated(`socket closed with ${code}`);
        if (connectedOnce) {
          const current = getConnectionState();
          if (current.kind !== 'reconnecting') setConnectionState({ kind: 'reconnecting', since: Date.now(), attempt });
        }
      },
    },
  });

  const errors = new ErrorLink(({ error, operation }) => {
    if (CombinedGraphQLErrors.is(error) && error.errors.some((e) => e.extensions?.['code'] === 'UNAUTHENTICATED')) {
      onUnauthenticated(`UNAUTHENTICATED from ${operation.operationName ?? 'an operation'}`);
    }
  });
  const http = new HttpLink({ uri: apiUrl('graphql'), credentials: 'same-origin' });
  const link = ApolloLink.split(
    (op) => op.operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(ws),
    ApolloLink.from([errors, http]),
  );

  const client = new ApolloClient({
    link,
    cache: createCache(),
  });
  ref.client = client;
  return {
    client,
    ws,
    async dispose() {
      await ws.dispose();
      client.stop();
      await client.clearStore();
    },
  };
}
