import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';
import { writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { waitUntil } from '../support/fleet.js';
import { SimFleet } from '../support/sim-agents.js';
import { tinyGgufBuffer } from '../support/tiny-gguf.js';

const MODEL = 'hf/fleet/batch-GGUF';
/** The simulated node whose agent refuses its first download command. */
const REFUSING = 2;

/**
 * A rollout's dispatch is batched (one job tells many agents, a few at a time): an agent that refuses does not hold up
 * the others, its node is retried on its own until it accepts, and no node is told twice.
 */
describe('batched download dispatch', () => {
  let hub: FakeHub;
  let app: AppHarness;
  let replica: AppHarness;
  let fleet: SimFleet;

  beforeAll(async () => {
    hub = await FakeHub.start();
    hub.addRepo({
      id: 'fleet/batch-GGUF',
      files: [{ path: 'batch-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 21 }) }],
    });
    app = await AppHarness.start({
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: await writeCatalog([]),
      PEER_COPY: 'false',
      NODE_HEARTBEAT_INTERVAL_MS: '500',
      DOWNLOAD_BACKOFF_MS: '100',
    });
    replica = await AppHarness.replicaOf(app);
    let refusals = 0;
    fleet = new SimFleet({
      replicaUrls: [app.url, replica.url],
      joinToken: app.config.NODE_JOIN_TOKEN!,
      downloadMs: 300,
      refuse: (nodeIndex) => nodeIndex === REFUSING && refusals++ === 0,
    });
    await fleet.grow(5, () => [], 4096);
    await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: 'fleet/batch-GGUF' });
  });

  afterAll(async () => {
    await fleet?.stop();
    await replica?.stop();
    await app?.stop();
    await hub?.stop();
  });

  it('dispatches the others while a refusing agent is retried on its own; each node told once', async () => {
    const answer = await app.data<{ downloadModel: Array<{ lifecycleStatus: string }> }>(
      'mutation($m: ID!) { downloadModel(modelId: $m) { lifecycleStatus } }',
      { m: MODEL },
    );
    expect(answer.downloadModel.map((s) => s.lifecycleStatus)).toEqual(Array(5).fill('PENDING'));
    await waitUntil(
      'READY on every node',
      async () => {
        const { model } = await replica.data<{ model: { nodes: Array<{ lifecycleStatus: string }> } }>(
          'query($id: ID!) { model(id: $id) { nodes { lifecycleStatus } } }',
          { id: MODEL },
        );
        return model.nodes.length === 5 && model.nodes.every((n) => n.lifecycleStatus === 'READY');
      },
      60_000,
    );
    // The refusing agent was refused once, then told again (its retry) and accepted; nobody got a second command.
    expect(fleet.refused).toEqual([{ nodeIndex: REFUSING, modelId: MODEL }]);
    expect(fleet.duplicateCommands()).toBe(0);
    expect(fleet.records.map((r) => r.nodeIndex).sort()).toEqual([0, 1, 2, 3, 4]);
    // The others were told in the batch, before the refused node's retry (which waits for the batch and a backoff).
    const retried = fleet.records.find((r) => r.nodeIndex === REFUSING)!;
    for (const r of fleet.records.filter((r) => r.nodeIndex !== REFUSING)) {
      expect(r.commandAt).toBeLessThanOrEqual(retried.commandAt);
    }
  }, 90_000);
});
