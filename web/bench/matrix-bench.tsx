import { ApolloClient, ApolloLink } from '@apollo/client';
import { ApolloProvider, useQuery } from '@apollo/client/react';
import { useLayoutEffect } from 'react';
import { createRoot } from 'react-dom/client';
import { createCache } from '../src/apollo';
import type { FleetQuery as FleetData } from '../src/gql/graphql';
import { FleetQuery } from '../src/ops/operations';
import { Matrix } from '../src/pages/FleetPage';
import { SessionContext } from '../src/session-context';
import '../src/styles.css';

/**
 * The fleet matrix at 200 nodes × 100 models, rendered from Apollo's cache as the Fleet page does, then fed progress
 * events (cache.modify, as live.ts applies them) at 50 per second. Results land in window.__bench for bench/.
 */
const params = new URLSearchParams(location.search);
const NODES = Number(params.get('nodes') ?? 200);
const MODELS = Number(params.get('models') ?? 100);
const RATE = Number(params.get('rate') ?? 50);
const SECONDS = Number(params.get('seconds') ?? 5);
const SIZE = 4_000_000_000;

function fleet(): FleetData {
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
    availableNodes: 0,
    downloadProgress: 0.5,
    model: { __typename: 'SupportedModel' as const, id: `m${j}`, name: `Model ${j}`, sizeBytes: SIZE },
    nodes: nodes.map((n, i) => ({
      __typename: 'NodeModelState' as const,
      nodeId: n.id,
      modelId: `m${j}`,
      lifecycleStatus: (i + j) % 3 === 0 ? ('READY' as const) : ('DOWNLOADING' as const),
      progress: (i + j) % 3 === 0 ? 1 : 0.25,
      bytesDone: (i + j) % 3 === 0 ? SIZE : SIZE / 4,
      bytesTotal: SIZE,
      errorCode: null,
      errorMessage: null,
      loadError: null,
      updatedAt: new Date(0).toISOString(),
    })),
  }));
  return { nodes, models };
}

const client = new ApolloClient({ link: ApolloLink.empty(), cache: createCache() });
let rendered: (() => void) | null = null;

function Bench() {
  const { data } = useQuery(FleetQuery, { fetchPolicy: 'cache-only' });
  useLayoutEffect(() => {
    if (data?.models.length) rendered?.();
  }, [data]);
  if (!data) return null;
  return (
    <Matrix models={data.models} nodes={data.nodes} repairing={new Set()} selected={null} onSelect={() => undefined} />
  );
}

const frame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function run() {
  const session = {
    principal: { keyId: null, name: 'bench', role: 'VIEWER' as const },
    canOperate: false,
    isAdmin: false,
    features: { cancelDownload: false, apiKeys: false },
  };
  const data = fleet();
  const t0 = performance.now();
  client.cache.writeQuery({ query: FleetQuery, data });
  const tWritten = performance.now();
  const done = new Promise<void>((r) => (rendered = r));
  createRoot(document.getElementById('root')!).render(
    <ApolloProvider client={client}>
      <SessionContext.Provider value={session}>
        <Bench />
      </SessionContext.Provider>
    </ApolloProvider>,
  );
  await done;
  await frame();
  await frame();
  const tPainted = performance.now();
  const cells = document.querySelectorAll('[data-cell]').length;

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
    const e0 = performance.now();
    client.cache.modify({
      id: client.cache.identify({ __typename: 'NodeModelState', nodeId: node, modelId: model }),
      fields: {
        lifecycleStatus: () => 'DOWNLOADING',
        progress: () => progress,
        bytesDone: () => Math.round(progress * SIZE),
      },
    });
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
    cacheWriteMs: tWritten - t0,
    renderMs: tPainted - tWritten,
    totalMs: tPainted - t0,
    events: latencies.length,
    achievedRate: latencies.length / elapsed,
    latencies,
  };
}

void run();
