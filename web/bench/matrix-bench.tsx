import { ApolloClient, ApolloLink } from '@apollo/client';
import { ApolloProvider } from '@apollo/client/react';
import { createRoot } from 'react-dom/client';
import { Observable } from 'rxjs';
import { createCache } from '../src/apollo';
import type { FleetLayoutQuery, FleetStatesQuery } from '../src/gql/graphql';
import { applyModelEvent, type ModelEvent } from '../src/live';
import FleetPage from '../src/pages/FleetPage';
import { SessionContext } from '../src/session-context';
import '../src/styles.css';

/**
 * The Fleet page at 200 nodes × 100 models, as the app renders it: its queries answered by a link that parses the
 * server's JSON (no network), then progress events applied by live.ts's applyModelEvent at 50 per second, each timed
 * from the event to its cell's bar showing it. Results land in window.__bench for bench/.
 */
const params = new URLSearchParams(location.search);
const NODES = Number(params.get('nodes') ?? 200);
const MODELS = Number(params.get('models') ?? 100);
const RATE = Number(params.get('rate') ?? 50);
const SECONDS = Number(params.get('seconds') ?? 5);
const SIZE = 4_000_000_000;
const T0 = new Date(0).toISOString();

function fleet(): { layout: FleetLayoutQuery; states: FleetStatesQuery } {
  const nodes = Array.from({ length: NODES }, (_, i) => ({
    __typename: 'Node' as const,
    id: `n${i}`,
    name: `node-${String(i).padStart(3, '0')}`,
    status: 'ONLINE' as const,
  }));
  const models = Array.from({ length: MODELS }, (_, j) => ({
    __typename: 'ModelWithStatus' as const,
    id: `m${j}`,
    status: 'DOWNLOADING' as const,
    model: { __typename: 'SupportedModel' as const, id: `m${j}`, name: `Model ${j}`, sizeBytes: SIZE },
  }));
  const states = models.map((m, j) => ({
    __typename: 'ModelWithStatus' as const,
    id: m.id,
    nodes: nodes.map((n, i) => ({
      __typename: 'NodeModelState' as const,
      id: `${n.id}:${m.id}`,
      nodeId: n.id,
      modelId: m.id,
      lifecycleStatus: (i + j) % 3 === 0 ? ('READY' as const) : ('DOWNLOADING' as const),
      progress: (i + j) % 3 === 0 ? 1 : 0.25,
      bytesDone: (i + j) % 3 === 0 ? SIZE : SIZE / 4,
      bytesTotal: SIZE,
      bytesPerSecond: (i + j) % 3 === 0 ? null : 50_000_000,
      etaSeconds: (i + j) % 3 === 0 ? null : 60,
      errorCode: null,
      errorMessage: null,
      loadError: null,
      // Every other node copied from a peer (the marker is drawn), the rest from the Hub.
      source: i % 2 ? ('PEER' as const) : ('HUB' as const),
      sourceNodeId: i % 2 ? nodes[i - 1]!.id : null,
      sourceNodeName: i % 2 ? nodes[i - 1]!.name : null,
      peerCopyRefusedReason: null,
      updatedAt: T0,
    })),
  }));
  return { layout: { nodes, models }, states: { models: states } };
}

const data = fleet();
const answers: Record<string, string> = {
  FleetLayout: JSON.stringify(data.layout),
  FleetStates: JSON.stringify(data.states),
  ActiveRepairs: JSON.stringify({ repairs: [] }),
  PeerCopyStats: JSON.stringify({
    peerCopyStats: {
      __typename: 'PeerCopyStats',
      bytesFromHub: MODELS * SIZE,
      bytesFromPeers: 0,
      bytesSavedFromHub: 0,
      peerTransfers: 0,
      reportedPeers: 0,
    },
  }),
};
/** The server's answers, parsed on arrival as HttpLink does. */
const link = new ApolloLink(
  (op) =>
    new Observable((o) => {
      const body = answers[op.operationName ?? ''];
      setTimeout(() => {
        o.next(
          body ? { data: JSON.parse(body) as Record<string, unknown> } : { errors: [{ message: 'not in bench' }] },
        );
        o.complete();
      }, 0);
    }),
);
const client = new ApolloClient({ link, cache: createCache() });

const frame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function run() {
  const session = {
    principal: { keyId: null, name: 'bench', role: 'VIEWER' as const },
    canOperate: false,
    isAdmin: false,
  };
  const t0 = performance.now();
  createRoot(document.getElementById('root')!).render(
    <ApolloProvider client={client}>
      <SessionContext.Provider value={session}>
        <FleetPage />
      </SessionContext.Provider>
    </ApolloProvider>,
  );
  while (!document.querySelector('[data-state=DOWNLOADING]')) await frame();
  const tRendered = performance.now();
  await frame();
  await frame();
  const tPainted = performance.now();
  const cells = document.querySelectorAll('[data-cell]').length;
  const seqs = new Map<string, number>();
  const sink = { refreshModel: () => undefined, refreshLayout: () => undefined, refreshPeerCopyStats: () => undefined };

  // Events for cells on screen (the costly case): one cell's progress moves; wait until its bar shows it.
  const latencies: number[] = [];
  const total = RATE * SECONDS;
  const start = performance.now();
  for (let k = 0; k < total; k++) {
    const due = start + (k * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const model = `m${k % 8}`;
    const node = `n${Math.floor(k / 8) % 6}`;
    const progress = 0.3 + (k % 60) / 100;
    const bar = () =>
      document.querySelector(`[data-cell="${model}|node-${node.slice(1).padStart(3, '0')}"] [role=progressbar]`);
    const target = String(Math.round(progress * 100));
    const event: ModelEvent = {
      seq: k + 1,
      modelId: model,
      nodeId: node,
      status: 'DOWNLOADING',
      progress,
      lifecycleStatus: 'DOWNLOADING',
      errorMessage: null,
      model: {
        id: model,
        status: 'DOWNLOADING',
        errorMessage: null,
        downloadProgress: 0.5,
        availableNodes: 60,
      },
      state: null,
      states: [
        {
          id: `${node}:${model}`,
          nodeId: node,
          modelId: model,
          lifecycleStatus: 'DOWNLOADING',
          progress,
          bytesDone: Math.round(progress * SIZE),
          bytesTotal: SIZE,
          bytesPerSecond: 50_000_000,
          etaSeconds: 30,
          errorCode: null,
          errorMessage: null,
          loadError: null,
          source: 'PEER',
          sourceNodeId: 'n0',
          sourceNodeName: 'node-000',
          peerCopyRefusedReason: null,
          updatedAt: new Date(1000 + k).toISOString(),
        },
      ],
    };
    const e0 = performance.now();
    applyModelEvent(client, event, sink, seqs);
    // Resolved by the DOM change itself (no polling that would compete with React for the main thread).
    await new Promise<void>((resolve) => {
      const check = () => bar()?.getAttribute('aria-valuenow') === target;
      if (check()) return resolve();
      const timer = setTimeout(() => {
        observer.disconnect();
        resolve();
      }, 5000);
      const observer = new MutationObserver(() => {
        if (!check()) return;
        clearTimeout(timer);
        observer.disconnect();
        resolve();
      });
      observer.observe(document.getElementById('root')!, { subtree: true, attributes: true, childList: true });
    });
    latencies.push(performance.now() - e0);
  }
  const elapsed = (performance.now() - start) / 1000;
  (window as unknown as { __bench: unknown }).__bench = {
    nodes: NODES,
    models: MODELS,
    cellsInDom: cells,
    firstCellsMs: tRendered - t0,
    renderMs: tPainted - tRendered,
    totalMs: tPainted - t0,
    events: latencies.length,
    achievedRate: latencies.length / elapsed,
    latencies,
  };
}

void run();
