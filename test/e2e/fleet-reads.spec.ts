import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';
import { addGgufRepo, catalogEntry, writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { SimulatedNode } from '../support/simulated-node.js';

/** Catalog ids deliberately out of id order: the unpaged list keeps catalog order, pages go by id. */
const CATALOG_IDS = ['zeta', 'alpha', 'mike', 'bravo', 'yankee', 'charlie', 'delta', 'kilo'];
const REGISTERED = ['zeta', 'alpha', 'mike', 'bravo', 'charlie'];
const HF_ID = 'hf/community/hotel-GGUF';
const NODE_NAMES = ['node-e', 'node-a', 'node-d', 'node-b', 'node-c'];
const BYTES = 4_683_073_536;

interface PagedModel {
  id: string;
  status: string;
  nodes: Array<{ nodeId: string; lifecycleStatus: string; bytesDone: number }>;
}

interface PagedNode {
  id: string;
  name: string;
  status: string;
  models: Array<{ modelId: string; lifecycleStatus: string }>;
}

describe('fleet reads: paging, filters and selection-aware loading (simulated nodes on the real protocol)', () => {
  let hub: FakeHub;
  let app: AppHarness;
  const nodes: SimulatedNode[] = [];
  /** What each node reported, per model: the truth every answer is checked against. */
  const reported = new Map<string, Map<string, { lifecycleStatus: string; bytesDone: number }>>();

  beforeAll(async () => {
    hub = await FakeHub.start();
    for (const id of CATALOG_IDS) addGgufRepo(hub, `test-org/${id}-GGUF`, [`${id}-Q4_K_M.gguf`]);
    addGgufRepo(hub, 'community/hotel-GGUF', ['hotel-Q4_K_M.gguf']);
    const catalog = await writeCatalog(
      CATALOG_IDS.map((id) =>
        catalogEntry({ id, repo: `test-org/${id}-GGUF`, recommended_filename: `${id}-Q4_K_M.gguf` }),
      ),
    );
    app = await AppHarness.start({ HF_ENDPOINT: hub.url, SUPPORTED_MODELS_PATH: catalog });
    for (const id of REGISTERED) await app.data('mutation($id: ID!) { registerModel(modelId: $id) { id } }', { id });
    await app.data('mutation { registerHfModel(url: "community/hotel-GGUF") { id } }');
    const onNodes = [...REGISTERED, HF_ID];
    for (const [n, name] of NODE_NAMES.entries()) {
      const node = await SimulatedNode.join(app, name);
      nodes.push(node);
      // Node n holds every model but the n-th: READY for even models, DOWNLOADING (n tenths) for odd ones.
      const states = onNodes
        .filter((_, m) => m !== n)
        .map((modelId, m) => {
          const ready = m % 2 === 0;
          const state = node.state(
            modelId,
            ready ? 'READY' : 'DOWNLOADING',
            ready ? BYTES : Math.floor((BYTES / 10) * n),
            BYTES,
          );
          const perModel = reported.get(modelId) ?? new Map();
          perModel.set(node.id, { lifecycleStatus: state.lifecycleStatus, bytesDone: state.bytesDone });
          reported.set(modelId, perModel);
          return state;
        });
      await node.heartbeat(states);
    }
  });

  afterAll(async () => {
    await app?.stop();
    await hub?.stop();
  });

  const MODEL_PAGE = `query($first: Int, $after: String, $status: ModelStatus) {
    models(first: $first, after: $after, status: $status) { id status nodes { nodeId lifecycleStatus bytesDone } }
  }`;
  const NODE_PAGE = `query($first: Int, $after: String, $status: NodeStatus) {
    nodes(first: $first, after: $after, status: $status) { id name status models { modelId lifecycleStatus } }
  }`;
  const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

  it('lists every model without paging arguments, as before: catalog order, then Hub registrations', async () => {
    const { models } = await app.data<{ models: Array<{ id: string }> }>('{ models { id } }');
    expect(models.map((m) => m.id)).toEqual([...CATALOG_IDS, HF_ID]);
  });

  it('pages through every model with first/after: each once, in id order, with its node states', async () => {
    const seen: PagedModel[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const { models }: { models: PagedModel[] } = await app.data<{ models: PagedModel[] }>(MODEL_PAGE, {
        first: 3,
        after,
      });
      if (models.length === 0) break;
      expect(models.length).toBeLessThanOrEqual(3);
      seen.push(...models);
      after = models.at(-1)!.id;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen.map((m) => m.id)).toEqual([...CATALOG_IDS, HF_ID].sort(byCodeUnit));
    for (const model of seen) {
      const truth = reported.get(model.id) ?? new Map();
      expect(model.nodes).toHaveLength(truth.size);
      for (const state of model.nodes) expect(truth.get(state.nodeId)).toEqual({ ...state, nodeId: undefined });
    }
    expect(seen.find((m) => m.id === 'yankee')).toMatchObject({ status: 'AVAILABLE', nodes: [] });
  });

  it('pages a filtered list: only matching models, in id order, after the cursor', async () => {
    const first = await app.data<{ models: PagedModel[] }>(MODEL_PAGE, { first: 2, status: 'AVAILABLE' });
    expect(first.models.map((m) => m.id)).toEqual(['delta', 'kilo']);
    const next = await app.data<{ models: PagedModel[] }>(MODEL_PAGE, {
      first: 2,
      after: 'kilo',
      status: 'AVAILABLE',
    });
    expect(next.models.map((m) => m.id)).toEqual(['yankee']);
    const { models: searched } = await app.data<{ models: Array<{ id: string }> }>(
      '{ models(search: "GGUF", first: 100, after: "mike") { id } }',
    );
    expect(searched.map((m) => m.id)).toEqual(['yankee', 'zeta']);
  });

  it('refuses an unknown cursor and a page size out of range with BAD_USER_INPUT naming the argument', async () => {
    const unknown = await app.gql(MODEL_PAGE, { first: 2, after: 'no-such-model' });
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    expect(unknown.errors?.[0]?.message).toMatch(/no-such-model/);
    for (const first of [0, -1, 1001]) {
      const res = await app.gql(MODEL_PAGE, { first });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first', value: first });
    }
    const node = await app.gql(NODE_PAGE, { first: 2, after: '00000000-0000-4000-8000-000000000000' });
    expect(node.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    const nodeFirst = await app.gql(NODE_PAGE, { first: 5000 });
    expect(nodeFirst.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });

  it('pages through every node in name order with its models, and keeps the unpaged list as it was', async () => {
    const seen: PagedNode[] = [];
    let after: string | null = null;
    for (;;) {
      const { nodes: page }: { nodes: PagedNode[] } = await app.data<{ nodes: PagedNode[] }>(NODE_PAGE, {
        first: 2,
        after,
      });
      if (page.length === 0) break;
      seen.push(...page);
      after = page.at(-1)!.id;
    }
    expect(seen.map((n) => n.name)).toEqual([...NODE_NAMES].sort());
    for (const node of seen) {
      const held = [...reported.entries()].filter(([, perNode]) => perNode.has(node.id)).map(([modelId]) => modelId);
      expect(node.models.map((m) => m.modelId).sort()).toEqual(held.sort());
    }
    const { nodes: all } = await app.data<{ nodes: PagedNode[] }>('{ nodes { id name status models { modelId } } }');
    expect(all.map((n) => n.name)).toEqual([...NODE_NAMES].sort());
    const { nodes: offline } = await app.data<{ nodes: PagedNode[] }>(NODE_PAGE, { first: 10, status: 'OFFLINE' });
    expect(offline).toEqual([]);
    const { nodes: online } = await app.data<{ nodes: PagedNode[] }>(NODE_PAGE, {
      first: 10,
      after: seen[1]!.id,
      status: 'ONLINE',
    });
    expect(online.map((n) => n.name)).toEqual(['node-c', 'node-d', 'node-e']);
  });
});
