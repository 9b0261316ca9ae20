import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';
import { addGgufRepo, catalogEntry, writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { waitUntil } from '../support/fleet.js';

/** Two replicas on one Postgres and one Redis: what one does, the other's clients see. */
describe('control plane replicas', () => {
  let hub: FakeHub;
  let a: AppHarness;
  let b: AppHarness;

  beforeAll(async () => {
    hub = await FakeHub.start();
    addGgufRepo(hub, 'org/one-GGUF', ['one-Q4_K_M.gguf']);
    addGgufRepo(hub, 'org/two-GGUF', ['two-Q4_K_M.gguf']);
    const catalog = await writeCatalog([
      catalogEntry({ id: 'one', repo: 'org/one-GGUF', recommended_filename: 'one-Q4_K_M.gguf' }),
      catalogEntry({ id: 'two', repo: 'org/two-GGUF', recommended_filename: 'two-Q4_K_M.gguf' }),
    ]);
    a = await AppHarness.start({ HF_ENDPOINT: hub.url, SUPPORTED_MODELS_PATH: catalog });
    b = await AppHarness.replicaOf(a);
  });

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await hub?.stop();
  });

  const statuses = async (app: AppHarness) =>
    (await app.data<{ models: Array<{ id: string; status: string }> }>('{ models { id status } }')).models.map(
      (m) => `${m.id}:${m.status}`,
    );

  it('shows a registration made on one replica on the other, even after the other cached the list', async () => {
    // Both replicas answer (and cache) the list first.
    expect(await statuses(a)).toEqual(['one:AVAILABLE', 'two:AVAILABLE']);
    expect(await statuses(b)).toEqual(['one:AVAILABLE', 'two:AVAILABLE']);
    const sub = b.subscribe<{ modelStatusChanged: { modelId: string; status: string; seq: number } }>(
      'subscription { modelStatusChanged { modelId status seq } }',
    );
    await new Promise((r) => setTimeout(r, 300));

    await a.data('mutation { registerModel(modelId: "one") { id } }');
    // The writing replica answers at once; the other as soon as the event crosses Redis (seed 002: within 5 s).
    expect(await statuses(a)).toEqual(['one:REGISTERED', 'two:AVAILABLE']);
    await waitUntil('replica b sees it', async () => (await statuses(b))[0] === 'one:REGISTERED', 5000);

    const [event] = await sub.waitFor(1);
    expect(event!.modelStatusChanged).toMatchObject({ modelId: 'one', status: 'REGISTERED' });
    sub.close();
  });

  it('numbers a model’s events across replicas in one sequence, one apart', async () => {
    const sub = a.subscribe<{ modelStatusChanged: { modelId: string; seq: number } }>(
      'subscription { modelStatusChanged { modelId seq } }',
    );
    await new Promise((r) => setTimeout(r, 300));
    await b.data('mutation { registerModel(modelId: "two") { id } }');
    await a.data('mutation { unregisterModel(modelId: "two") { id } }');
    const events = await sub.waitFor(2);
    expect(events[1]!.modelStatusChanged.seq).toBe(events[0]!.modelStatusChanged.seq + 1);
    sub.close();
  });
});
