import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';
import { addGgufRepo, catalogEntry, writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';

const MODEL_FIELDS = `
  id status source revision selectionNote registeredAt availableNodes downloadProgress errorMessage
  files { path size sha256 role }
  model { id name repo recommendedFilename projectorFilename sizeBytes requiredMemoryBytes capabilities quantization }
`;

interface ModelResult {
  id: string;
  status: string;
  source: string;
  revision: string | null;
  selectionNote: string | null;
  registeredAt: string | null;
  files: Array<{ path: string; size: number; sha256: string; role: string }>;
  model: {
    id: string;
    name: string;
    repo: string;
    projectorFilename: string | null;
    capabilities: string[];
    quantization: string;
  };
}

interface ModelEvent {
  modelStatusChanged: { seq: number; timestamp: string; modelId: string; status: string; nodeId: string | null };
}

describe('registry (GraphQL + REST, local Hub)', () => {
  let hub: FakeHub;
  let app: AppHarness;

  beforeAll(async () => {
    hub = await FakeHub.start();
    addGgufRepo(hub, 'test-org/alpha-GGUF', ['alpha-Q4_K_M.gguf', 'alpha-Q8_0.gguf'], { downloads: 5000, likes: 50 });
    addGgufRepo(hub, 'test-org/vision-GGUF', ['vision-Q4_K_M.gguf', 'mmproj-vision-f16.gguf'], { downloads: 300 });
    addGgufRepo(hub, 'community/multi-GGUF', [
      'multi-Q8_0.gguf',
      'multi-Q4_K_M.gguf',
      'multi-Q2_K.gguf',
      'multi-F16.gguf',
    ]);
    addGgufRepo(hub, 'community/big-GGUF', [
      'big-Q4_K_M-00001-of-00003.gguf',
      'big-Q4_K_M-00002-of-00003.gguf',
      'big-Q4_K_M-00003-of-00003.gguf',
    ]);
    addGgufRepo(hub, 'community/gated-GGUF', ['gated-Q4_K_M.gguf'], { gated: 'manual' });
    addGgufRepo(hub, 'community/private-GGUF', ['private-Q4_K_M.gguf'], { private: true });
    hub.addRepo({
      id: 'community/safetensors-only',
      files: [
        { path: 'model.safetensors', content: Buffer.alloc(64) },
        { path: 'config.json', content: Buffer.from('{}') },
      ],
    });
    const catalog = await writeCatalog([
      catalogEntry({
        id: 'alpha',
        repo: 'test-org/alpha-GGUF',
        recommended_filename: 'alpha-Q4_K_M.gguf',
        tags: ['chat', 'small'],
      }),
      catalogEntry({
        id: 'vision',
        repo: 'test-org/vision-GGUF',
        recommended_filename: 'vision-Q4_K_M.gguf',
        mmproj_filename: 'mmproj-vision-f16.gguf',
        capabilities: ['TextGeneration', 'ImageUnderstanding'],
      }),
      catalogEntry({ id: 'ghost', repo: 'test-org/ghost-GGUF', recommended_filename: 'ghost-Q4_K_M.gguf' }),
    ]);
    app = await AppHarness.start({ HF_ENDPOINT: hub.url, SUPPORTED_MODELS_PATH: catalog });
  });

  afterAll(async () => {
    await app?.stop();
    await hub?.stop();
  });

  const register = (modelId: string) =>
    app.gql<{ registerModel: ModelResult }>(`mutation($id: ID!) { registerModel(modelId: $id) { ${MODEL_FIELDS} } }`, {
      id: modelId,
    });
  const registerHf = (url: string) =>
    app.gql<{ registerHfModel: ModelResult }>(
      `mutation($url: String!) { registerHfModel(url: $url) { ${MODEL_FIELDS} } }`,
      { url },
    );
  const model = async (id: string) =>
    (await app.data<{ model: ModelResult | null }>(`query($id: ID!) { model(id: $id) { ${MODEL_FIELDS} } }`, { id }))
      .model;

  it('lists the catalog as AVAILABLE, with Hub stats', async () => {
    const { supportedModels } = await app.data<{
      supportedModels: Array<{ id: string; capabilities: string[]; format: string; platforms: string[] }>;
    }>('{ supportedModels { id capabilities format platforms } }');
    expect(supportedModels.map((m) => m.id)).toEqual(['alpha', 'vision', 'ghost']);
    expect(supportedModels[1]).toMatchObject({
      capabilities: ['TEXT_GENERATION', 'IMAGE_UNDERSTANDING'],
      format: 'GGUF',
      platforms: ['LINUX', 'WINDOWS', 'MACOS'],
    });

    const { models } = await app.data<{
      models: Array<{
        id: string;
        status: string;
        hfStats: { downloads: number; likes: number; stale: boolean } | null;
      }>;
    }>('{ models { id status hfStats { downloads likes stale fetchedAt } } }');
    expect(models.map((m) => [m.id, m.status])).toEqual([
      ['alpha', 'AVAILABLE'],
      ['vision', 'AVAILABLE'],
      ['ghost', 'AVAILABLE'],
    ]);
    expect(models[0]!.hfStats).toMatchObject({ downloads: 5000, likes: 50, stale: false });
    // A repo the Hub does not know has no stats, and the query still answers without an error.
    expect(models[2]!.hfStats).toBeNull();
  });

  it('registers a catalog model: commit pinned, files with sha256, visible at once, event published', async () => {
    const sub = app.subscribe<ModelEvent>(
      'subscription { modelStatusChanged(modelId: "alpha") { seq timestamp modelId status nodeId } }',
    );
    await new Promise((r) => setTimeout(r, 300));
    const before = hub.count('resolve') + hub.count('cdn');

    const res = await register('alpha');
    expect(res.errors).toBeUndefined();
    const registered = res.data!.registerModel;
    const repo = hub.repo('test-org/alpha-GGUF');
    expect(registered).toMatchObject({ id: 'alpha', status: 'REGISTERED', source: 'CATALOG', revision: repo.sha });
    expect(registered.files).toEqual([
      {
        path: 'alpha-Q4_K_M.gguf',
        size: 4096,
        sha256: repo.files.find((f) => f.path === 'alpha-Q4_K_M.gguf')!.sha256,
        role: 'MODEL',
      },
    ]);
    // Metadata only: not one byte of the model was fetched.
    expect(hub.count('resolve') + hub.count('cdn')).toBe(before);
    expect((await model('alpha'))!.status).toBe('REGISTERED');

    const [event] = await sub.waitFor(1);
    expect(event!.modelStatusChanged).toMatchObject({ modelId: 'alpha', status: 'REGISTERED', nodeId: null });
    expect(event!.modelStatusChanged.seq).toBeGreaterThan(0);
    sub.close();
  });

  it('refuses a duplicate registration with CONFLICT and leaves the existing one untouched', async () => {
    const first = (await model('alpha'))!;
    const again = await register('alpha');
    expect(again.errors?.[0]?.extensions).toMatchObject({
      code: 'CONFLICT',
      reason: 'ALREADY_REGISTERED',
      existingId: 'alpha',
    });
    expect(again.errors?.[0]?.message).toMatch(/already registered as "alpha"/);
    // The same file through a URL is the same model.
    const viaUrl = await registerHf(`${hub.url}/test-org/alpha-GGUF/blob/main/alpha-Q4_K_M.gguf`);
    expect(viaUrl.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', existingId: 'alpha' });
    expect(await model('alpha')).toEqual(first);
  });

  it('registers a vision catalog model with its projector', async () => {
    const res = await register('vision');
    expect(res.errors).toBeUndefined();
    expect(res.data!.registerModel.files.map((f) => [f.path, f.role])).toEqual([
      ['vision-Q4_K_M.gguf', 'MODEL'],
      ['mmproj-vision-f16.gguf', 'PROJECTOR'],
    ]);
  });

  it('registers a repo URL by quantization preference and says which file it picked', async () => {
    const res = await registerHf('https://huggingface.co/community/multi-GGUF');
    expect(res.errors).toBeUndefined();
    const m = res.data!.registerHfModel;
    expect(m).toMatchObject({ id: 'hf/community/multi-GGUF', source: 'HUGGING_FACE', status: 'REGISTERED' });
    expect(m.files.map((f) => f.path)).toEqual(['multi-Q4_K_M.gguf']);
    expect(m.selectionNote).toMatch(/Picked multi-Q4_K_M\.gguf \(Q4_K_M\) among 4 GGUF variants/);
    expect(m.model).toMatchObject({
      repo: 'community/multi-GGUF',
      quantization: 'Q4_K_M',
      capabilities: ['TEXT_GENERATION'],
    });
  });

  it('registers a file URL under hf/{org}/{repo}/{filename}, and a split GGUF as one model', async () => {
    const file = await registerHf(`${hub.url}/community/multi-GGUF/resolve/main/multi-Q8_0.gguf`);
    expect(file.errors).toBeUndefined();
    expect(file.data!.registerHfModel.id).toBe('hf/community/multi-GGUF/multi-Q8_0.gguf');

    const split = await registerHf('community/big-GGUF');
    expect(split.errors).toBeUndefined();
    expect(split.data!.registerHfModel.files.map((f) => f.path)).toEqual([
      'big-Q4_K_M-00001-of-00003.gguf',
      'big-Q4_K_M-00002-of-00003.gguf',
      'big-Q4_K_M-00003-of-00003.gguf',
    ]);
    expect(split.data!.registerHfModel.model.name).toBe('big Q4_K_M');
  });

  it.each([
    [
      'https://example.com/org/repo',
      'BAD_USER_INPUT',
      'UNSUPPORTED_HOST',
      /host "example\.com" is not the Hugging Face Hub/,
    ],
    [
      'https://huggingface.co/org/repo/blob/main/../../etc/passwd',
      'BAD_USER_INPUT',
      'PATH_ESCAPES_REPO',
      /must stay inside the repository/,
    ],
    ['community/safetensors-only', 'BAD_USER_INPUT', 'NOT_GGUF', /has no GGUF files/],
    [
      'community/multi-GGUF/blob/main/nope-Q4_K_M.gguf',
      'NOT_FOUND',
      'FILE_NOT_FOUND',
      /nope-Q4_K_M\.gguf does not exist/,
    ],
    [
      'community/does-not-exist',
      'NOT_FOUND',
      'REPO_NOT_FOUND',
      /^Repository community\/does-not-exist was not found on the Hugging Face Hub \(check the name\), or it is private or gated: set HF_TOKEN$/,
    ],
    [
      'community/private-GGUF',
      'NOT_FOUND',
      'REPO_NOT_FOUND',
      /was not found on the Hugging Face Hub \(check the name\), or it is private or gated: set HF_TOKEN/,
    ],
    ['community/gated-GGUF', 'FORBIDDEN', 'GATED', /is gated: accept its terms on the Hub and set HF_TOKEN/],
    [
      'test-org/vision-GGUF/tree/no-such-branch',
      'NOT_FOUND',
      'REVISION_NOT_FOUND',
      /Revision no-such-branch does not exist/,
    ],
  ])('refuses %s with %s/%s and a message that says why', async (url, code, reason, message) => {
    const res = await registerHf(url);
    expect(res.data).toBeNull();
    expect(res.errors?.[0]?.extensions).toMatchObject({ code, reason });
    expect(res.errors?.[0]?.message).toMatch(message);
  });

  it('answers a rate-limited Hub with UPSTREAM_UNAVAILABLE and when to retry', async () => {
    hub.fail({ route: 'api', repo: 'test-org/ghost-GGUF', status: 429, times: 1, retryAfterSeconds: 1 });
    const res = await register('ghost');
    expect(res.errors?.[0]?.extensions).toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      reason: 'RATE_LIMITED',
      retryAfterSeconds: 1,
    });
    expect(res.errors?.[0]?.message).toMatch(/retry in 1 s/);
    // Until the window resets, the client does not hammer the Hub: the next call is refused without a request.
    const calls = hub.count('api');
    const during = await register('alpha-does-not-matter');
    expect(during.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    const blocked = await registerHf('test-org/vision-GGUF');
    expect(blocked.errors?.[0]?.extensions).toMatchObject({ reason: 'RATE_LIMITED' });
    expect(hub.count('api')).toBe(calls);
    hub.reset();
    await new Promise((r) => setTimeout(r, 1100));
  });

  it('refuses unknown catalog ids with NOT_FOUND', async () => {
    const res = await register('no-such-model');
    expect(res.errors?.[0]?.extensions).toMatchObject({
      code: 'NOT_FOUND',
      reason: 'MODEL_NOT_FOUND',
      field: 'modelId',
    });
  });

  it('serves /v1/models in the OpenAI list shape with ready and status', async () => {
    const res = await fetch(`${app.url}/v1/models`, { headers: app.authHeaders() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      object: string;
      data: Array<{ id: string; object: string; owned_by: string; ready: boolean; status: string; created: number }>;
    };
    expect(body.object).toBe('list');
    const alpha = body.data.find((m) => m.id === 'alpha');
    expect(alpha).toMatchObject({ object: 'model', owned_by: 'test-org', ready: false, status: 'REGISTERED' });
    expect(alpha!.created).toBeGreaterThan(1_700_000_000);
    // Only registered models: the never-registered catalog entry is not there.
    expect(body.data.map((m) => m.id)).not.toContain('ghost');
  });

  it('serves the node manifest with Hub URLs pinned to the commit, sizes and sha256', async () => {
    for (const path of [
      '/api/models/registry/hf/community/big-GGUF/manifest.json',
      `/api/models/registry/${encodeURIComponent('hf/community/big-GGUF')}/manifest.json`,
    ]) {
      const res = await fetch(`${app.url}${path}`, { headers: app.authHeaders() });
      expect(res.status).toBe(200);
      const manifest = (await res.json()) as {
        modelId: string;
        revision: string;
        totalBytes: number;
        files: Array<{ path: string; url: string; size: number; sha256: string }>;
      };
      const repo = hub.repo('community/big-GGUF');
      expect(manifest.modelId).toBe('hf/community/big-GGUF');
      expect(manifest.revision).toBe(repo.sha);
      expect(manifest.files).toHaveLength(3);
      expect(manifest.files[0]!.url).toBe(
        `${hub.url}/community/big-GGUF/resolve/${repo.sha}/big-Q4_K_M-00001-of-00003.gguf`,
      );
      expect(manifest.totalBytes).toBe(3 * 4096);
      // The URL really serves the bytes whose sha256 the manifest promises.
      const bytes = Buffer.from(await (await fetch(manifest.files[0]!.url)).arrayBuffer());
      const { createHash } = await import('node:crypto');
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(manifest.files[0]!.sha256);
    }
    const missing = await fetch(`${app.url}/api/models/registry/nope/manifest.json`, { headers: app.authHeaders() });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'model_not_found' } });
    const notRegistered = await fetch(`${app.url}/api/models/registry/ghost/manifest.json`, {
      headers: app.authHeaders(),
    });
    expect(notRegistered.status).toBe(404);
    expect(await notRegistered.json()).toMatchObject({ error: { code: 'not_registered' } });
  });

  it('filters models by status and search', async () => {
    const { models } = await app.data<{ models: Array<{ id: string }> }>(
      '{ models(status: REGISTERED, search: "MULTI") { id } }',
    );
    expect(models.map((m) => m.id).sort()).toEqual([
      'hf/community/multi-GGUF',
      'hf/community/multi-GGUF/multi-Q8_0.gguf',
    ]);
    const { models: available } = await app.data<{ models: Array<{ id: string }> }>(
      '{ models(status: AVAILABLE) { id } }',
    );
    expect(available.map((m) => m.id)).toEqual(['ghost']);
    const { models: tagged } = await app.data<{ models: Array<{ id: string }> }>('{ models(search: "small") { id } }');
    expect(tagged.map((m) => m.id)).toEqual(['alpha']);
  });

  it('browses the Hub catalog with paging, marking supported and registered repos', async () => {
    type Page = {
      hfCatalog: {
        nextCursor: string | null;
        items: Array<{
          repo: string;
          supported: boolean;
          supportedModelIds: string[];
          registered: boolean;
          registeredModelIds: string[];
          downloads: number;
        }>;
      };
    };
    const q =
      'query($cursor: String) { hfCatalog(limit: 3, cursor: $cursor) { nextCursor items { repo downloads supported supportedModelIds registered registeredModelIds } } }';
    const first = await app.data<Page>(q);
    expect(first.hfCatalog.items).toHaveLength(3);
    expect(first.hfCatalog.items[0]).toMatchObject({
      repo: 'test-org/alpha-GGUF',
      downloads: 5000,
      supported: true,
      supportedModelIds: ['alpha'],
      registered: true,
      registeredModelIds: ['alpha'],
    });
    expect(first.hfCatalog.nextCursor).toEqual(expect.any(String));
    const second = await app.data<Page>(q, { cursor: first.hfCatalog.nextCursor });
    const repos = [...first.hfCatalog.items, ...second.hfCatalog.items].map((i) => i.repo);
    expect(new Set(repos).size).toBe(repos.length);
    const multi =
      second.hfCatalog.items.find((i) => i.repo === 'community/multi-GGUF') ??
      first.hfCatalog.items.find((i) => i.repo === 'community/multi-GGUF');
    expect(multi).toMatchObject({ supported: false, registered: true });

    const tampered = await app.gql(q, { cursor: 'not-a-cursor' });
    expect(tampered.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    const badLimit = await app.gql('{ hfCatalog(limit: 500) { nextCursor } }');
    expect(badLimit.errors?.[0]?.message).toMatch(/limit must be between 1 and 100 \(got 500\)/);
  });

  it('unregisters (registered → available) and deletes, publishing each change', async () => {
    const sub = app.subscribe<ModelEvent>('subscription { modelStatusChanged { seq modelId status } }');
    await new Promise((r) => setTimeout(r, 300));
    const un = await app.gql<{ unregisterModel: ModelResult }>(
      'mutation { unregisterModel(modelId: "alpha") { id status files { path } revision } }',
    );
    expect(un.data!.unregisterModel).toEqual({ id: 'alpha', status: 'AVAILABLE', files: [], revision: null });
    expect((await model('alpha'))!.status).toBe('AVAILABLE');

    const del = await app.gql<{ deleteModel: ModelResult }>(
      'mutation { deleteModel(modelId: "hf/community/big-GGUF") { id status } }',
    );
    expect(del.data!.deleteModel).toEqual({ id: 'hf/community/big-GGUF', status: 'AVAILABLE' });
    expect(await model('hf/community/big-GGUF')).toBeNull();

    const events = await sub.waitFor(2);
    expect(events.map((e) => [e.modelStatusChanged.modelId, e.modelStatusChanged.status])).toEqual([
      ['alpha', 'AVAILABLE'],
      ['hf/community/big-GGUF', 'AVAILABLE'],
    ]);
    sub.close();

    const again = await app.gql('mutation { unregisterModel(modelId: "alpha") { id } }');
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', reason: 'NOT_REGISTERED' });
    // Registration works again after unregistering.
    expect((await register('alpha')).errors).toBeUndefined();
  });

  it('answers the models query quickly with stale or null stats when the Hub is down', async () => {
    hub.delay({ route: 'api', ms: 20_000 });
    try {
      const started = Date.now();
      const res = await app.gql<{ models: Array<{ id: string; hfStats: unknown }> }>(
        '{ models { id hfStats { downloads stale } } }',
      );
      expect(res.errors).toBeUndefined();
      expect(res.data!.models.length).toBeGreaterThan(0);
      // The Hub answers only after 20 s: the query must not wait for it.
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      hub.reset();
    }
  });

  it('serves the queue admin (Bull Board) over the download and repair queues', async () => {
    const page = await fetch(`${app.url}/admin/queues`, { headers: app.authHeaders() });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    const api = await fetch(`${app.url}/admin/queues/api/queues`, { headers: app.authHeaders() });
    const { queues } = (await api.json()) as { queues: Array<{ name: string }> };
    expect(queues.map((q) => q.name).sort()).toEqual(['downloads', 'repairs']);
  });

  it('reports Postgres and Redis in /health', async () => {
    const res = await fetch(`${app.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', checks: { database: 'up', redis: 'up' } });
  });
});
