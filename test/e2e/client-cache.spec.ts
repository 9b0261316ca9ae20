import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql, type TypedDocumentNode } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Kind, OperationTypeNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { AppHarness } from '../support/app-harness.js';
import { writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { tinyGgufBuffer } from '../support/tiny-gguf.js';

const MODEL_ID = 'hf/fleet/tiny-GGUF';
const STATE = 'id nodeId modelId lifecycleStatus progress bytesDone bytesTotal bytesPerSecond etaSeconds errorMessage';

interface StateView {
  id: string;
  nodeId: string;
  modelId: string;
  lifecycleStatus: string;
  progress: number;
  bytesDone: number;
  bytesTotal: number;
  bytesPerSecond: number | null;
  etaSeconds: number | null;
}
interface ModelsData {
  models: Array<{
    id: string;
    status: string;
    downloadProgress: number | null;
    availableNodes: number;
    nodes: StateView[];
  }>;
}
interface NodesData {
  nodes: Array<{ id: string; name: string; status: string; models: StateView[]; metrics: { id: string } | null }>;
}

/** What a dashboard watches: the model list with each model's nodes, and the node list with each node's models. */
const MODELS: TypedDocumentNode<ModelsData> = gql`
  query Models {
    models { id status downloadProgress availableNodes errorMessage nodes { ${STATE} } }
  }
`;
const NODES: TypedDocumentNode<NodesData> = gql`
  query Nodes {
    nodes { id name status models { ${STATE} } metrics { id cpuUsage memoryUsage timestamp } }
  }
`;
/** What it subscribes to: the changed entities with their ids, nothing bespoke. */
const MODEL_EVENTS = gql`
  subscription ModelEvents {
    modelStatusChanged {
      seq
      model { id status downloadProgress availableNodes errorMessage nodes { ${STATE} } }
      state { ${STATE} }
    }
  }
`;
const NODE_EVENTS = gql`
  subscription NodeEvents {
    nodeStatusChanged { seq node { id name status models { ${STATE} } } }
  }
`;
const METRICS_EVENTS = gql`
  subscription MetricsEvents {
    metricsUpdated {
      id
      seq
      cpuUsage
      memoryUsage
      timestamp
    }
  }
`;

/**
 * Apollo Client 4 as a dashboard runs it (InMemoryCache, HttpLink for queries and mutations, GraphQLWsLink for
 * subscriptions), against a control plane, two real agents and the local Hub serving a tiny GGUF.
 */
describe('a normalized client cache follows the fleet from subscriptions alone (Apollo Client 4)', () => {
  let hub: FakeHub;
  let app: AppHarness;
  let a: AgentHandle;
  let b: AgentHandle;
  let ws: Client;
  let client: ApolloClient;
  /** Every operation sent over HTTP, by name: a refetch would show here. */
  const sent: string[] = [];

  beforeAll(async () => {
    hub = await FakeHub.start();
    hub.addRepo({ id: 'fleet/tiny-GGUF', files: [{ path: 'tiny-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 7 }) }] });
    app = await AppHarness.start({
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: await writeCatalog([]),
      NODE_HEARTBEAT_INTERVAL_MS: '300',
      PROGRESS_EVENT_INTERVAL_MS: '100',
    });
    [a, b] = await Promise.all([startAgent(app, 'cache-a'), startAgent(app, 'cache-b')]);
    await waitUntil(
      'both agents joined',
      async () => (await app.data<NodesData>('{ nodes { id } }')).nodes.length === 2,
    );
    await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: 'fleet/tiny-GGUF' });

    // The admin key: a header for HTTP, connectionParams for the socket.
    const headers: Record<string, string> = { ...app.authHeaders() };
    ws = createClient({
      url: `${app.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: headers.authorization ? { authorization: headers.authorization } : {},
      retryAttempts: 0,
    });
    const http = new HttpLink({
      uri: `${app.url}/graphql`,
      headers,
      fetch: async (input, init) => {
        const body = JSON.parse(init?.body as string) as { operationName?: string };
        sent.push(body.operationName ?? '(anonymous)');
        return fetch(input, init);
      },
    });
    const isSubscription = ({ query }: ApolloLink.Operation) =>
      query.definitions.some(
        (d) => d.kind === Kind.OPERATION_DEFINITION && d.operation === OperationTypeNode.SUBSCRIPTION,
      );
    client = new ApolloClient({
      cache: new InMemoryCache(),
      link: ApolloLink.split(isSubscription, new GraphQLWsLink(ws), http),
    });
  });

  afterAll(async () => {
    client?.stop();
    await ws?.dispose();
    await Promise.all([a && removeAgent(a), b && removeAgent(b)]);
    await app?.stop();
    await hub?.stop();
  });

  it('a watched models query and a watched nodes query follow a whole download to READY with no refetch, and agree', async () => {
    const modelViews: ModelsData[] = [];
    const nodeViews: NodesData[] = [];
    const watchers = [
      client.watchQuery({ query: MODELS }).subscribe(({ data }) => data && modelViews.push(data as ModelsData)),
      client.watchQuery({ query: NODES }).subscribe(({ data }) => data && nodeViews.push(data as NodesData)),
    ];
    let metricsEvents = 0;
    const seqs = new Map<string, number[]>();
    const note = (stream: string, seq: number) => seqs.set(stream, [...(seqs.get(stream) ?? []), seq]);
    const subscriptions = [
      client
        .subscribe({ query: MODEL_EVENTS })
        .subscribe(({ data }) => data && note(`model:${MODEL_ID}`, (data as EventSeq).modelStatusChanged.seq)),
      client.subscribe({ query: NODE_EVENTS }).subscribe(({ data }) => {
        const event = (data as EventSeq | undefined)?.nodeStatusChanged;
        if (event) note(`node:${event.node.id}`, event.seq);
      }),
      client.subscribe({ query: METRICS_EVENTS }).subscribe(() => metricsEvents++),
    ];
    try {
      await waitUntil('both queries answered', async () => modelViews.length > 0 && nodeViews.length > 0);
      const model = () => modelViews.at(-1)!.models.find((m) => m.id === MODEL_ID)!;
      expect(model()).toMatchObject({ status: 'REGISTERED', availableNodes: 0, nodes: [] });
      expect(nodeViews.at(-1)!.nodes.every((n) => n.models.length === 0)).toBe(true);
      // Subscribed in order on one socket: once the last one delivers (a heartbeat's metrics), the others are live.
      await waitUntil('subscriptions live', async () => metricsEvents > 0);

      const res = await client.mutate({
        mutation: gql`
          mutation DownloadModel($m: ID!) { downloadModel(modelId: $m) { ${STATE} } }
        `,
        variables: { m: MODEL_ID },
      });
      expect(res.error).toBeUndefined();

      await waitUntil(
        'READY on both nodes in the watched models query',
        async () => model().availableNodes === 2 && model().nodes.every((n) => n.lifecycleStatus === 'READY'),
        30_000,
      );
      await waitUntil('READY on both nodes in the watched nodes query', async () =>
        nodeViews
          .at(-1)!
          .nodes.every((n) => n.models.some((s) => s.modelId === MODEL_ID && s.lifecycleStatus === 'READY')),
      );

      // No refetch: the two queries and the mutation are all that went over HTTP.
      expect(sent.sort()).toEqual(['DownloadModel', 'Models', 'Nodes']);

      // The views went through the download (the model was DOWNLOADING in between) and ended READY.
      expect(modelViews.map((v) => v.models.find((m) => m.id === MODEL_ID)!.status)).toEqual(
        expect.arrayContaining(['REGISTERED', 'DOWNLOADING', 'READY']),
      );
      const final = model();
      expect(final).toMatchObject({ status: 'READY', availableNodes: 2, downloadProgress: null });
      expect(final.nodes).toHaveLength(2);
      for (const state of final.nodes) {
        expect(state).toMatchObject({ lifecycleStatus: 'READY', progress: 1, bytesPerSecond: null, etaSeconds: null });
        expect(state.id).toBe(`${state.nodeId}:${MODEL_ID}`);
      }

      // Both views show the same node × model entities, and they are what the server says now.
      const fromNodes = nodeViews.at(-1)!.nodes.flatMap((n) => n.models.filter((s) => s.modelId === MODEL_ID));
      expect(byId(fromNodes)).toEqual(byId(final.nodes));
      const fresh = await app.data<ModelsData>(`{ models { id status availableNodes nodes { ${STATE} } } }`);
      expect(byId(fresh.models.find((m) => m.id === MODEL_ID)!.nodes)).toEqual(byId(final.nodes));

      // Every stream's events came in order and without a gap.
      for (const [, numbers] of seqs) expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
      expect(seqs.get(`model:${MODEL_ID}`)!.length).toBeGreaterThanOrEqual(6);
    } finally {
      for (const s of [...watchers, ...subscriptions]) s.unsubscribe();
    }
  });
});

interface EventSeq {
  modelStatusChanged: { seq: number };
  nodeStatusChanged: { seq: number; node: { id: string } };
}

/** States by id, without the `__typename` Apollo adds, to compare with a plain answer. */
function byId(states: StateView[]): Record<string, StateView> {
  return Object.fromEntries(
    states.map((s) => {
      const { __typename: _, ...fields } = s as StateView & { __typename?: string };
      return [s.id, fields];
    }),
  );
}
