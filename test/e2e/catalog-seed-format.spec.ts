import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';
import { addGgufRepo, writeSeedCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';

const LLAVA_REPO = 'cjpais/llava-1.6-mistral-7b-gguf';
const LLAVA_WEIGHTS = 'llava-v1.6-mistral-7b.Q4_K_M.gguf';

interface Registered {
  id: string;
  status: string;
  selectionNote: string | null;
  files: Array<{ path: string; role: string }>;
  model: { projectorFilename: string | null; capabilities: string[] };
}

const FIELDS = 'id status selectionNote files { path role } model { projectorFilename capabilities }';

/** A control plane whose supported_models.json is seed 000's example, byte for byte. */
describe("seed 000's example catalog (llava without mmproj_filename)", () => {
  let hub: FakeHub;
  let app: AppHarness;

  beforeAll(async () => {
    hub = await FakeHub.start();
    addGgufRepo(hub, 'bartowski/Llama-3.2-1B-Instruct-GGUF', ['Llama-3.2-1B-Instruct-Q4_K_M.gguf']);
    addGgufRepo(hub, LLAVA_REPO, [LLAVA_WEIGHTS, 'llava-v1.6-mistral-7b.Q8_0.gguf', 'mmproj-model-f16.gguf']);
    app = await AppHarness.start({ HF_ENDPOINT: hub.url, SUPPORTED_MODELS_PATH: await writeSeedCatalog() });
  });

  afterAll(async () => {
    await app?.stop();
    await hub?.stop();
  });

  const register = async (modelId: string): Promise<Registered> =>
    (
      await app.data<{ registerModel: Registered }>(
        `mutation($id: ID!) { registerModel(modelId: $id) { ${FIELDS} } }`,
        { id: modelId },
      )
    ).registerModel;

  it('starts and lists both entries, llava as a vision model with no projector named yet', async () => {
    const { supportedModels } = await app.data<{
      supportedModels: Array<{ id: string; capabilities: string[]; projectorFilename: string | null }>;
    }>('{ supportedModels { id capabilities projectorFilename } }');
    expect(supportedModels).toEqual([
      { id: 'llama-3.2-1b', capabilities: ['TEXT_GENERATION'], projectorFilename: null },
      { id: 'llava-1.6-7b', capabilities: ['TEXT_GENERATION', 'IMAGE_UNDERSTANDING'], projectorFilename: null },
    ]);
  });

  it("registers llava with the projector found in the repository's file list", async () => {
    const llava = await register('llava-1.6-7b');
    expect(llava.status).toBe('REGISTERED');
    expect(llava.files).toEqual([
      { path: LLAVA_WEIGHTS, role: 'MODEL' },
      { path: 'mmproj-model-f16.gguf', role: 'PROJECTOR' },
    ]);
    expect(llava.model.projectorFilename).toBe('mmproj-model-f16.gguf');
    expect(llava.selectionNote).toMatch(/Multimodal projector: mmproj-model-f16\.gguf, found in the repository/);

    const { models } = await app.data<{ models: Array<{ id: string; model: { projectorFilename: string | null } }> }>(
      '{ models { id model { projectorFilename } } }',
    );
    expect(models.find((m) => m.id === 'llava-1.6-7b')?.model.projectorFilename).toBe('mmproj-model-f16.gguf');
  });

  it('registers the text model without a projector', async () => {
    const llama = await register('llama-3.2-1b');
    expect(llama.files).toEqual([{ path: 'Llama-3.2-1B-Instruct-Q4_K_M.gguf', role: 'MODEL' }]);
    expect(llama.model.projectorFilename).toBeNull();
  });

  it('registers a vision model whose repository has no projector, with a warning in selectionNote', async () => {
    await app.data('mutation { unregisterModel(modelId: "llava-1.6-7b") { id } }');
    hub.removeRepo(LLAVA_REPO);
    addGgufRepo(hub, LLAVA_REPO, [LLAVA_WEIGHTS]);

    const llava = await register('llava-1.6-7b');
    expect(llava.status).toBe('REGISTERED');
    expect(llava.files).toEqual([{ path: LLAVA_WEIGHTS, role: 'MODEL' }]);
    expect(llava.model.projectorFilename).toBeNull();
    expect(llava.selectionNote).toMatch(
      /Warning: this is a vision model but cjpais\/llava-1\.6-mistral-7b-gguf has no multimodal projector \(mmproj\*\.gguf\)/,
    );
  });
});
