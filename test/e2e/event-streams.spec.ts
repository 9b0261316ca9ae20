import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { EventsService } from '../../src/events/events.service.js';
import { Topic, type ModelStatusChangedPayload } from '../../src/events/topics.js';
import { modelSnapshotPayload, RegistryService } from '../../src/registry/registry.service.js';
import { AppHarness } from '../support/app-harness.js';
import { addGgufRepo, catalogEntry, writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { waitUntil } from '../support/fleet.js';

interface ModelEvent {
  modelStatusChanged: {
    seq: number;
    modelId: string;
    status: string;
    model: { id: string; availableNodes: number };
    state: { id: string; bytesDone: number } | null;
  };
}

const EVENT = 'seq modelId status model { id availableNodes } state { id bytesDone }';
const MODELS = ['m0', 'm1', 'm2', 'm3'];

/** The gaps a client would detect, per model: `[modelId, after seq, missed]`. */
function gaps(events: ModelEvent[]): Array<[string, number, number]> {
  const last = new Map<string, number>();
  const found: Array<[string, number, number]> = [];
  for (const { modelStatusChanged: e } of events) {
    const previous = last.get(e.modelId);
    if (previous !== undefined && e.seq !== previous + 1) found.push([e.modelId, previous, e.seq - previous - 1]);
    last.set(e.modelId, e.seq);
  }
  return found;
}

/** Per-entity event streams over two replicas on one Postgres and one Redis. */
describe('event streams: one sequence per entity, numbered and published atomically', () => {
  let hub: FakeHub;
  let a: AppHarness;
  let b: AppHarness;

  beforeAll(async () => {
    hub = await FakeHub.start();
    for (const id of MODELS) addGgufRepo(hub, `org/${id}-GGUF`, [`${id}-Q4_K_M.gguf`]);
    const catalog = await writeCatalog(
      MODELS.map((id) => catalogEntry({ id, repo: `org/${id}-GGUF`, recommended_filename: `${id}-Q4_K_M.gguf` })),
    );
    a = await AppHarness.start({ HF_ENDPOINT: hub.url, SUPPORTED_MODELS_PATH: catalog });
    b = await AppHarness.replicaOf(a);
  });

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await hub?.stop();
  });

  /** Registers then unregisters a model `times` times, each step on the next replica: two events per round. */
  const toggle = async (id: string, rounds: number, offset = 0) => {
    for (let i = 0; i < rounds; i++) {
      const [first, second] = (i + offset) % 2 === 0 ? [a, b] : [b, a];
      await first.data(`mutation { registerModel(modelId: "${id}") { id } }`);
      await second.data(`mutation { unregisterModel(modelId: "${id}") { id } }`);
    }
  };

  /** A progress event of `modelId` as the relay publishes it, with a model snapshot at `version`. */
  const progressEvent = async (
    app: AppHarness,
    modelId: string,
    version: number,
    availableNodes: number,
    bytesDone: number,
  ): Promise<ModelStatusChangedPayload> => {
    const view = (await app.app.get(RegistryService).find(modelId))!;
    const nodeId = '00000000-0000-4000-8000-00000000000a';
    return {
      modelId,
      status: 'DOWNLOADING',
      progress: bytesDone / 1000,
      nodeId,
      lifecycleStatus: 'DOWNLOADING',
      errorMessage: null,
      model: { ...modelSnapshotPayload(view), availableNodes, version },
      state: {
        nodeId,
        modelId,
        lifecycleStatus: 'DOWNLOADING',
        bytesDone,
        bytesTotal: 1000,
        bytesPerSecond: null,
        filePath: null,
        errorCode: null,
        errorMessage: null,
        updatedAt: new Date().toISOString(),
        revision: bytesDone,
      },
    };
  };

  it('10 events for one model while other models change on both replicas: one apart, in order, no gap', async () => {
    const one = a.subscribe<ModelEvent>(`subscription { modelStatusChanged(modelId: "m0") { ${EVENT} } }`);
    const all = b.subscribe<ModelEvent>(`subscription { modelStatusChanged { ${EVENT} } }`);
    await new Promise((r) => setTimeout(r, 300));

    await Promise.all([toggle('m0', 5), toggle('m1', 4, 1), toggle('m2', 3)]);
    const events = await one.waitFor(10);
    await all.waitFor(10 + 8 + 6);

    const seqs = events.map((e) => e.modelStatusChanged.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    expect(events.map((e) => e.modelStatusChanged.status)).toEqual(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'REGISTERED' : 'AVAILABLE')),
    );
    // Watching every model: each model's own numbers, none missing, none out of order.
    expect(gaps(all.events)).toEqual([]);
    expect(
      all.events.filter((e) => e.modelStatusChanged.modelId === 'm0').map((e) => e.modelStatusChanged.seq),
    ).toEqual(seqs);
    one.close();
    all.close();
  });

  it('keeps a model’s order when both replicas publish its events at once', async () => {
    const sub = a.subscribe<ModelEvent>(`subscription { modelStatusChanged(modelId: "m3") { ${EVENT} } }`);
    await new Promise((r) => setTimeout(r, 300));
    const publishers = [a, b].map((app) => app.app.get(EventsService));
    const payloads = await Promise.all(
      Array.from({ length: 40 }, (_, i) => progressEvent(i % 2 ? b : a, 'm3', i + 1, 0, i + 1)),
    );
    // Each replica publishes its half as fast as it can, both at the same time.
    await Promise.all(payloads.map((payload, i) => publishers[i % 2]!.publish(Topic.MODEL_STATUS_CHANGED, payload)));
    const events = await sub.waitFor(40);
    const seqs = events.map((e) => e.modelStatusChanged.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    sub.close();
  });

  it('never lets an older snapshot of a model or state overtake a newer one', async () => {
    const sub = a.subscribe<ModelEvent>(`subscription { modelStatusChanged(modelId: "m3") { ${EVENT} } }`);
    await new Promise((r) => setTimeout(r, 300));
    const events = a.app.get(EventsService);
    // Two writers read the model one after the other (versions 100 then 101) but publish in the other order.
    const newer = await progressEvent(b, 'm3', 101, 2, 900);
    const older = await progressEvent(a, 'm3', 100, 1, 800);
    await b.app.get(EventsService).publish(Topic.MODEL_STATUS_CHANGED, newer);
    await events.publish(Topic.MODEL_STATUS_CHANGED, older);
    const [first, second] = (await sub.waitFor(2)).map((e) => e.modelStatusChanged);
    expect(first).toMatchObject({ model: { availableNodes: 2 }, state: { bytesDone: 900 } });
    // The late one still counts as an event (one apart), but carries the newest model and state.
    expect(second!.seq).toBe(first!.seq + 1);
    expect(second).toMatchObject({ model: { availableNodes: 2 }, state: { bytesDone: 900 } });
    sub.close();
  });

  it('shows a gap, and only then, when an event is lost on its way', async () => {
    const sub = b.subscribe<ModelEvent>(`subscription { modelStatusChanged { ${EVENT} } }`);
    await new Promise((r) => setTimeout(r, 300));
    await toggle('m1', 1);
    await waitUntil('two events', async () => sub.events.length >= 2);
    expect(gaps(sub.events)).toEqual([]);

    // An event of m1 numbered but lost before it reached any subscriber (as when Redis drops a message).
    const redis = new Redis(a.config.REDIS_URL);
    const last = sub.events.at(-1)!.modelStatusChanged.seq;
    try {
      expect(await redis.incr(`${a.config.REDIS_PREFIX}:events:seq:model:m1`)).toBe(last + 1);
    } finally {
      redis.disconnect();
    }
    await toggle('m1', 1, 1);
    await toggle('m2', 1);
    await waitUntil('six events', async () => sub.events.length >= 6);
    // The client sees exactly what it missed: one event of m1, after the last one it had; m2's stream is whole.
    expect(gaps(sub.events)).toEqual([['m1', last, 1]]);
    sub.close();
  });
});
