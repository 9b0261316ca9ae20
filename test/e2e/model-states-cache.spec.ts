import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { AppHarness } from '../support/app-harness.js';
import { addGgufRepo, catalogEntry, writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { SimulatedNode } from '../support/sim-agents.js';

const MODELS = ['alpha', 'bravo', 'charlie'];
const BYTES = 1_000_000;

interface PageModel {
  id: string;
  status: string;
  nodes: Array<{ nodeId: string; lifecycleStatus: string; bytesDone: number }>;
}

/**
 * A replica keeps each model's node states for list reads while the model's fleet version has not moved: a page read
 * again after any change must show the change, on the replica that wrote it and on another one, whoever wrote it.
 */
describe('node states of model pages are never stale (per-replica states cache)', () => {
  let hub: FakeHub;
  let app: AppHarness;
  let other: AppHarness;
  let nodeA: SimulatedNode;
  let nodeB: SimulatedNode;
  let reads = 0;

  /**
   * A page of every model with its states, sorted by node id; a new operation name each time, so the answer is
   * computed, never taken from the byte cache of model queries (its own invalidation is not what is tested here).
   */
  async function page(on: AppHarness): Promise<Map<string, PageModel>> {
    const { models } = await on.data<{ models: PageModel[] }>(
      `query Page${++reads} { models(first: 10) { id status nodes { nodeId lifecycleStatus bytesDone } } }`,
    );
    for (const m of models) m.nodes.sort((x, y) => (x.nodeId < y.nodeId ? -1 : 1));
    return new Map(models.map((m) => [m.id, m]));
  }

  function states(...s: Array<[SimulatedNode, string, number]>) {
    return s
      .map(([node, lifecycleStatus, bytesDone]) => ({ nodeId: node.id, lifecycleStatus, bytesDone }))
      .sort((x, y) => (x.nodeId < y.nodeId ? -1 : 1));
  }

  beforeAll(async () => {
    hub = await FakeHub.start();
    for (const id of MODELS) addGgufRepo(hub, `test-org/${id}-GGUF`, [`${id}-Q4_K_M.gguf`]);
    const catalog = await writeCatalog(
      MODELS.map((id) => catalogEntry({ id, repo: `test-org/${id}-GGUF`, recommended_filename: `${id}-Q4_K_M.gguf` })),
    );
    app = await AppHarness.start({ HF_ENDPOINT: hub.url, SUPPORTED_MODELS_PATH: catalog });
    other = await AppHarness.replicaOf(app);
    for (const id of ['alpha', 'bravo']) {
      await app.data('mutation($id: ID!) { registerModel(modelId: $id) { id } }', { id });
    }
    nodeA = await SimulatedNode.join(app, 'node-a');
    nodeB = await SimulatedNode.join(app, 'node-b');
    await nodeA.heartbeat([nodeA.state('alpha', 'READY', BYTES, BYTES), nodeA.state('bravo', 'READY', BYTES, BYTES)]);
    await nodeB.heartbeat([nodeB.state('alpha', 'DOWNLOADING', 100, BYTES)]);
  });

  afterAll(async () => {
    await other?.stop();
    await app?.stop();
    await hub?.stop();
  });

  it('shows a state that changed between two reads of the same page, on either replica', async () => {
    for (const on of [app, other]) {
      // Twice: the second read is the one a cache would answer.
      for (let i = 0; i < 2; i++) {
        expect((await page(on)).get('alpha')!.nodes).toEqual(
          states([nodeA, 'READY', BYTES], [nodeB, 'DOWNLOADING', 100]),
        );
      }
    }

    // Progress reported through the first replica: both show it at once.
    await nodeB.report([nodeB.state('alpha', 'DOWNLOADING', 500_000, BYTES)]);
    for (const on of [other, app]) {
      expect((await page(on)).get('alpha')!.nodes).toEqual(
        states([nodeA, 'READY', BYTES], [nodeB, 'DOWNLOADING', 500_000]),
      );
    }

    // A row written outside the services (no event at all): still seen at once.
    const db = app.app.get(DataSource);
    await db.query(
      `UPDATE node_model_states SET lifecycle_status = 'READY', bytes_done = $3 WHERE node_id = $1 AND model_id = $2`,
      [nodeB.id, 'alpha', BYTES],
    );
    for (const on of [app, other]) {
      expect((await page(on)).get('alpha')!.nodes).toEqual(states([nodeA, 'READY', BYTES], [nodeB, 'READY', BYTES]));
    }

    // A row removed, and one added to a model that had none on that node.
    await db.query(`DELETE FROM node_model_states WHERE node_id = $1 AND model_id = $2`, [nodeA.id, 'bravo']);
    await nodeB.heartbeat([nodeB.state('bravo', 'DOWNLOADING', 7, BYTES)]);
    for (const on of [other, app]) {
      const models = await page(on);
      expect(models.get('bravo')!.nodes).toEqual(states([nodeB, 'DOWNLOADING', 7]));
      expect(models.get('alpha')!.nodes).toEqual(states([nodeA, 'READY', BYTES], [nodeB, 'READY', BYTES]));
    }
  });

  it('shows no old state of a model unregistered and registered again', async () => {
    for (const on of [app, other]) expect((await page(on)).get('bravo')!.nodes).toHaveLength(1);

    await other.data('mutation { unregisterModel(modelId: "bravo") { id } }');
    for (const on of [app, other]) {
      expect((await page(on)).get('bravo')).toMatchObject({ status: 'AVAILABLE', nodes: [] });
    }

    await app.data('mutation { registerModel(modelId: "bravo") { id } }');
    for (const on of [other, app]) {
      expect((await page(on)).get('bravo')).toMatchObject({ status: 'REGISTERED', nodes: [] });
    }

    // The node reports it again: the new registration's state, nothing of the old one.
    await nodeA.heartbeat([nodeA.state('bravo', 'DOWNLOADING', 42, BYTES)]);
    for (const on of [app, other]) {
      expect((await page(on)).get('bravo')!.nodes).toEqual(states([nodeA, 'DOWNLOADING', 42]));
    }
    // The unpaged list reads through the same cache: it agrees.
    const { models } = await other.data<{ models: PageModel[] }>(
      `query List${++reads} { models { id nodes { nodeId lifecycleStatus bytesDone } } }`,
    );
    expect(models.find((m) => m.id === 'bravo')!.nodes).toEqual(states([nodeA, 'DOWNLOADING', 42]));
  });
});
