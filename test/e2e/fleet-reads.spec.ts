import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';
import { addGgufRepo, catalogEntry, writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { waitUntil } from '../support/fleet.js';
import { SimulatedNode } from '../support/sim-agents.js';

/** Catalog ids deliberately out of id order: the unpaged list keeps catalog order, pages go by id. */
const CATALOG_IDS = ['zeta', 'alpha', 'mike', 'bravo', 'yankee', 'charlie', 'delta', 'kilo'];
const REGISTERED = ['zeta', 'alpha', 'mike', 'bravo', 'charlie'];
const HF_ID = 'hf/community/hotel-GGUF';
const NODE_NAMES = ['node-e', 'node-a', 'node-d', 'node-b', 'node-c'];
const BYTES = 4_683_073_536;
const EVENT_INTERVAL_MS = 1000;

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
    addGgufRepo(hub, 'community/rollout-GGUF', ['rollout-Q4_K_M.gguf']);
    const catalog = await writeCatalog(
      CATALOG_IDS.map((id) =>
        catalogEntry({ id, repo: `test-org/${id}-GGUF`, recommended_filename: `${id}-Q4_K_M.gguf` }),
      ),
    );
    app = await AppHarness.start({
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: catalog,
      MODEL_EVENT_INTERVAL_MS: String(EVENT_INTERVAL_MS),
    });
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

  it('pages every status and text filter across page boundaries exactly as the unpaged filter lists them', async () => {
    const FILTERED = `query($first: Int, $after: String, $status: ModelStatus, $search: String) {
      models(first: $first, after: $after, status: $status, search: $search) { id status }
    }`;
    const pageAll = async (variables: Record<string, unknown>, first: number) => {
      const ids: string[] = [];
      let after: string | null = null;
      for (let pages = 0; pages < 50; pages++) {
        const { models }: { models: Array<{ id: string; status: string }> } = await app.data<{
          models: Array<{ id: string; status: string }>;
        }>(FILTERED, { ...variables, first, after });
        expect(models.length).toBeLessThanOrEqual(first);
        if (variables.status) for (const m of models) expect(m.status).toBe(variables.status);
        ids.push(...models.map((m) => m.id));
        if (models.length < first) return ids;
        after = models.at(-1)!.id;
      }
      throw new Error('paging never ended');
    };
    let crossed = 0;
    const filters: Array<Record<string, unknown>> = [
      ...['AVAILABLE', 'REGISTERED', 'DOWNLOADING', 'READY', 'ERROR'].map((status) => ({ status })),
      { search: 'gguf' },
      { search: 'HOTEL' },
      { search: 'a' },
      { search: 'a', status: 'AVAILABLE' },
      { search: 'a', status: 'READY' },
    ];
    for (const filter of filters) {
      // The unpaged filter (catalog order) is the truth; pages list the same models in id order.
      const { models: all } = await app.data<{ models: Array<{ id: string }> }>(FILTERED, filter);
      const expected = all.map((m) => m.id).sort(byCodeUnit);
      for (const first of [1, 2, 3]) expect(await pageAll(filter, first)).toEqual(expected);
      if (expected.length > 2) crossed++;
    }
    // Several filters span more than one page of 1 and 2 (the fixture's statuses: AVAILABLE and READY at least).
    expect(crossed).toBeGreaterThanOrEqual(3);
    // A cursor may be a model the filter leaves out: the page starts after it all the same.
    const { models: afterOther } = await app.data<{ models: Array<{ id: string }> }>(FILTERED, {
      first: 10,
      after: 'bravo',
      status: 'AVAILABLE',
    });
    expect(afterOther.map((m) => m.id)).toEqual(['delta', 'kilo', 'yankee']);
  });

  it('refuses an unknown status and a bad cursor of a filtered page with BAD_USER_INPUT naming the argument', async () => {
    const status = await app.gql(MODEL_PAGE, { first: 2, status: 'SOMEWHERE' });
    expect(status.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(status.errors?.[0]?.message).toMatch(/\$status/);
    expect(status.errors?.[0]?.message).toMatch(/SOMEWHERE/);
    const cursor = await app.gql(MODEL_PAGE, { first: 2, after: 'hf/nobody/nothing-GGUF', status: 'READY' });
    expect(cursor.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'after',
      value: 'hf/nobody/nothing-GGUF',
    });
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

  it('coalesces progress of many nodes into a few gap-free model events, every transition its own event, and follows the rollout in fleetProgress', async () => {
    type StateFields = { nodeId: string; lifecycleStatus: string; bytesDone: number };
    type ModelEvent = {
      modelStatusChanged: { seq: number; nodeId: string | null; lifecycleStatus: string | null; states: StateFields[] };
    };
    type Progress = {
      id: string;
      at: string;
      nodesTotal: number;
      pending: number;
      downloading: number;
      loading: number;
      ready: number;
      failed: number;
      cancelled: number;
      bytesDone: number;
      bytesTotal: number;
      bytesPerSecond: number;
      seq: number;
    };
    const PROGRESS_FIELDS =
      'id modelId nodesTotal pending downloading loading ready failed cancelled bytesDone bytesTotal bytesPerSecond seq at';
    const modelId = 'hf/community/rollout-GGUF';
    const events = app.subscribe<ModelEvent>(
      'subscription($m: ID) { modelStatusChanged(modelId: $m) { seq nodeId lifecycleStatus states { nodeId lifecycleStatus bytesDone } } }',
      { m: modelId },
    );
    const progress = app.subscribe<{ fleetProgressChanged: Progress }>(
      `subscription($m: ID) { fleetProgressChanged(modelId: $m) { ${PROGRESS_FIELDS} } }`,
      { m: modelId },
    );
    // A registration change is an event of the model: once one arrives, the subscription is live.
    let registered = false;
    await waitUntil('the subscription is live', async () => {
      if (events.events.length > 0) return registered || undefined;
      await app.data(
        registered
          ? `mutation { unregisterModel(modelId: "${modelId}") { id } }`
          : 'mutation { registerHfModel(url: "community/rollout-GGUF") { id } }',
      );
      registered = !registered;
      return undefined;
    });
    const fleet = await Promise.all(
      Array.from({ length: 20 }, (_, i) => SimulatedNode.join(app, `rollout-${String(i).padStart(2, '0')}`)),
    );
    const total = 1_000_000;
    // 20 transitions to DOWNLOADING, then 10 progress reports from each node, all at once.
    await Promise.all(fleet.map((node) => node.report([node.state(modelId, 'DOWNLOADING', 0, total)])));
    const started = Date.now();
    await Promise.all(
      fleet.map(async (node, n) => {
        for (let k = 1; k <= 10; k++) await node.report([node.state(modelId, 'DOWNLOADING', k * 1000 + n, total)]);
      }),
    );
    const elapsed = Date.now() - started;
    const finalBytes = new Map(fleet.map((node, n) => [node.id, 10 * 1000 + n]));
    // Every node's last progress reaches subscribers (latest wins), within an interval of the last report.
    await waitUntil(
      'every node’s last progress in an event',
      async () => {
        const seen = new Map<string, number>();
        for (const e of events.events) for (const s of e.modelStatusChanged.states) seen.set(s.nodeId, s.bytesDone);
        return [...finalBytes].every(([id, bytes]) => seen.get(id) === bytes);
      },
      60_000,
    );
    const received = events.events.map((e) => e.modelStatusChanged);
    const seqs = received.map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    const transitions = received.filter((e) => e.states.length === 1 && e.states[0]!.bytesDone === 0);
    expect(new Set(transitions.map((e) => e.nodeId)).size).toBe(20);
    // 200 progress writes: one event per model per interval (and one more as the burst ends), not one per write.
    const progressOnly = received.filter((e) => e.states.some((s) => s.bytesDone > 0));
    expect(progressOnly.length).toBeLessThanOrEqual(Math.ceil(elapsed / EVENT_INTERVAL_MS) + 2);
    expect(progressOnly.length).toBeLessThan(200);

    const expectedBytes = [...finalBytes.values()].reduce((a, b) => a + b, 0);
    const query = async () =>
      (
        await app.data<{ fleetProgress: Progress[] }>(
          `query($m: ID) { fleetProgress(modelId: $m) { ${PROGRESS_FIELDS} } }`,
          { m: modelId },
        )
      ).fleetProgress;
    const [during] = await query();
    expect(during).toMatchObject({
      id: modelId,
      nodesTotal: 20,
      pending: 0,
      downloading: 20,
      ready: 0,
      failed: 0,
      cancelled: 0,
      bytesDone: expectedBytes,
      bytesTotal: 20 * total,
    });
    expect(during!.bytesPerSecond).toBeGreaterThan(0);
    // The query names the seq of the last event published so far; the held progress follows within an interval, so
    // an event at or after that seq carries the figures the query read.
    const { at: _at, seq: _seq, ...figures } = during!;
    await waitUntil('a progress event with the figures the query read', async () =>
      progress.events.some(({ fleetProgressChanged: p }) => {
        const { at: _a, seq, ...rest } = p;
        return seq >= during!.seq && JSON.stringify(rest) === JSON.stringify({ ...rest, ...figures });
      }),
    );
    const progressSeqs = progress.events.map((e) => e.fleetProgressChanged.seq);
    expect(progressSeqs).toEqual(progressSeqs.map((_, i) => progressSeqs[0]! + i));
    expect(progressSeqs.length).toBeLessThan(220);

    // Ten finish, two fail: each transition its own event; the figures follow.
    await Promise.all(fleet.slice(0, 10).map((node) => node.report([node.state(modelId, 'READY', total, total)])));
    await Promise.all(
      fleet
        .slice(10, 12)
        .map((node) => node.report([{ ...node.state(modelId, 'ERROR', 0, total), errorMessage: 'disk full' }])),
    );
    await waitUntil('12 transition events', async () =>
      events.events.filter((e) => ['READY', 'ERROR'].includes(e.modelStatusChanged.lifecycleStatus ?? '')).length === 12
        ? true
        : undefined,
    );
    const [after] = await query();
    expect(after).toMatchObject({ nodesTotal: 20, downloading: 8, ready: 10, failed: 2 });
    const rest = [...finalBytes.entries()].slice(12).reduce((sum, [, b]) => sum + b, 0);
    expect(after!.bytesDone).toBe(rest + 10 * total);
    expect(after!.bytesTotal).toBe(18 * total);
    const all = await app.data<{ fleetProgress: Progress[] }>(`{ fleetProgress { id } }`);
    expect(all.fleetProgress.map((p) => p.id)).toEqual([HF_ID, modelId, ...REGISTERED].sort(byCodeUnit));
    events.close();
    progress.close();
  });
});
