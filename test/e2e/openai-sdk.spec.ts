import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import OpenAI, { APIError, BadRequestError, InternalServerError, NotFoundError } from 'openai';
import pg from 'pg';
import { AppHarness } from '../support/app-harness.js';
import { writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { tinyGgufBuffer } from '../support/tiny-gguf.js';

const TINY = 'hf/fleet/tiny-GGUF';
const FILE = 'hf/fleet/file-GGUF/file-Q4_K_M.gguf';
const IDLE = 'hf/fleet/idle-GGUF';
const SLOW = 'hf/fleet/slow-GGUF';
/** The tiny model's context (its GGUF says 512; the agent's default cap is higher). */
const CONTEXT = 512;

/** Calls the SDK expecting it to throw; returns the error for assertions on its class, status and body. */
async function rejection(call: Promise<unknown>): Promise<APIError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof APIError) return err;
    throw err;
  }
  throw new Error('the call succeeded');
}

/** `error.param` must be present (null where none), as OpenAI sends it and SDKs read it. */
function expectOpenAiShape(err: APIError): void {
  const body = err.error as { message?: unknown; type?: unknown; param?: unknown; code?: unknown };
  expect(typeof body.message).toBe('string');
  expect(typeof body.type).toBe('string');
  expect(body).toHaveProperty('param');
  expect(body).toHaveProperty('code');
}

/**
 * The `openai` npm SDK (6.x), as its users write it, against the control plane's `/v1` with a real agent process
 * serving a tiny GGUF from the local Hub. `maxRetries: 0` where a retry would hide what the server answered.
 */
describe('OpenAI SDK compatibility', () => {
  let hub: FakeHub;
  let app: AppHarness;
  let agent: AgentHandle;
  let client: OpenAI;

  const sdk = (options: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI =>
    new OpenAI({ baseURL: `${app.url}/v1`, apiKey: apiKeyOf(app), maxRetries: 0, ...options });

  /** An SDK client that counts the HTTP requests it makes (its own fetch, observed, not replaced). */
  const countingSdk = (): { client: OpenAI; calls: () => number } => {
    let calls = 0;
    const counted: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    // The SDK's default retries (2) are what a 503 would trigger: left on here on purpose.
    return { client: sdk({ maxRetries: 2, fetch: counted }), calls: () => calls };
  };

  beforeAll(async () => {
    hub = await FakeHub.start();
    hub.addRepo({ id: 'fleet/tiny-GGUF', files: [{ path: 'tiny-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 7 }) }] });
    hub.addRepo({ id: 'fleet/idle-GGUF', files: [{ path: 'idle-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 8 }) }] });
    hub.addRepo({
      id: 'fleet/file-GGUF',
      files: [{ path: 'file-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 10 }) }],
    });
    hub.addRepo({ id: 'fleet/slow-GGUF', files: [{ path: 'slow-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 9 }) }] });
    app = await AppHarness.start({
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: await writeCatalog([]),
      NODE_HEARTBEAT_INTERVAL_MS: '300',
      // Generous: a node that misses heartbeats on a loaded machine must not look offline mid-test.
      NODE_OFFLINE_AFTER_MS: '60000',
      PROGRESS_EVENT_INTERVAL_MS: '100',
      V1_BODY_LIMIT: '256kb',
    });
    // The agent accepts less than the control plane, so both limits can be seen from one client.
    agent = await startAgent(app, 'node-a', { V1_BODY_LIMIT: '160kb' });
    await waitUntil('agent joined', async () => {
      const { nodes } = await app.data<{ nodes: Array<{ id: string }> }>('{ nodes(status: ONLINE) { id } }');
      return nodes[0]?.id;
    });
    for (const url of ['fleet/tiny-GGUF', 'fleet/idle-GGUF', 'fleet/slow-GGUF']) {
      await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: url });
    }
    await app.data('mutation($m: ID!) { downloadModel(modelId: $m) { lifecycleStatus } }', { m: TINY });
    await waitUntil(
      'tiny READY',
      async () => {
        const { model } = await app.data<{ model: { status: string } }>(
          'query($id: ID!) { model(id: $id) { status } }',
          {
            id: TINY,
          },
        );
        return model.status === 'READY';
      },
      120_000,
    );
    client = sdk();
  }, 240_000);

  afterAll(async () => {
    if (agent) await removeAgent(agent);
    await app?.stop();
    await hub?.stop();
  });

  describe('chat completions', () => {
    it('answers the SDK, streaming or not, with the developer role and text content parts', async () => {
      const completion = await client.chat.completions.create({
        model: TINY,
        messages: [
          { role: 'developer', content: 'You are a tiny test model.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'hello' },
              { type: 'text', text: 'fleet' },
            ],
          },
        ],
        max_tokens: 4,
        // The tiny model's weights are random: unseeded, its first token is sometimes end-of-text (0 completion
        // tokens, seen once in CI in about twenty runs). A seed makes the sampling, and so this answer, the same each run.
        seed: 7,
      });
      expect(completion.object).toBe('chat.completion');
      expect(completion.model).toBe(TINY);
      expect(completion.choices[0]!.message.role).toBe('assistant');
      expect(completion.usage!.completion_tokens).toBeGreaterThan(0);

      // Nothing was dropped: the same conversation written with `system` and one string is the same prompt.
      const plain = await client.chat.completions.create({
        model: TINY,
        messages: [
          { role: 'system', content: 'You are a tiny test model.' },
          { role: 'user', content: 'hello\nfleet' },
        ],
        max_tokens: 1,
      });
      expect(completion.usage!.prompt_tokens).toBe(plain.usage!.prompt_tokens);

      const stream = await client.chat.completions.create({
        model: TINY,
        messages: [
          { role: 'developer', content: [{ type: 'text', text: 'Be brief.' }] },
          { role: 'user', content: 'hi' },
        ],
        max_tokens: 4,
        seed: 7,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      expect(chunks.some((c) => c.choices[0]?.finish_reason)).toBe(true);
      expect(chunks.at(-1)!.usage!.completion_tokens).toBeGreaterThan(0);
    }, 180_000);

    it('refuses content parts that are not text, naming the part', async () => {
      const err = await rejection(
        client.chat.completions.create({
          model: TINY,
          messages: [
            {
              role: 'user',
              content: [
                { type: 'text', text: 'what is this?' },
                { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
              ],
            },
          ],
        }),
      );
      expect(err).toBeInstanceOf(BadRequestError);
      expect(err.param).toBe('messages[0].content[1].type');
      expect(err.message).toMatch(/image_url/);
    });

    it.each([
      ['n', { n: 2 }],
      ['tools', { tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] }],
      ['tool_choice', { tool_choice: 'required' }],
      ['response_format', { response_format: { type: 'json_object' } }],
      ['response_format', { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } } }],
      ['logprobs', { logprobs: true }],
    ] as const)('refuses an unsupported %s with a 400 naming it, before routing', async (param, extra) => {
      for (const model of [TINY, IDLE]) {
        const err = await rejection(
          client.chat.completions.create({
            model,
            messages: [{ role: 'user', content: 'hi' }],
            max_tokens: 1,
            ...(extra as Record<string, unknown>),
          }),
        );
        expect(err).toBeInstanceOf(BadRequestError);
        expect(err.param).toBe(param);
        expectOpenAiShape(err);
      }
    });

    it('accepts what changes nothing: n: 1, empty tools, a text response_format', async () => {
      const completion = await client.chat.completions.create({
        model: TINY,
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 1,
        n: 1,
        tools: [],
        response_format: { type: 'text' },
        user: 'someone',
      });
      expect(completion.choices).toHaveLength(1);
    });
  });

  describe('context length', () => {
    it('a prompt longer than the context: 400 context_length_exceeded, never a 200 nor a retried 500', async () => {
      const { client: counted, calls } = countingSdk();
      const err = await rejection(
        counted.chat.completions.create({
          model: TINY,
          messages: [{ role: 'user', content: 'hello fleet '.repeat(5000) }],
        }),
      );
      expect(err).toBeInstanceOf(BadRequestError);
      expect(err.code).toBe('context_length_exceeded');
      expect(err.param).toBe('messages');
      expect(err.message).toMatch(new RegExp(`maximum context length is ${CONTEXT} tokens`));
      expect(calls()).toBe(1);
    });

    it('max_tokens must fit beside the prompt; without it the answer gets what is left', async () => {
      // A run of 'x' is one token per character for the tiny model: grow the prompt until 3 tokens of room are left.
      const promptOf = (xs: number) => [{ role: 'user' as const, content: 'x'.repeat(xs) }];
      const measure = async (xs: number) =>
        (await client.chat.completions.create({ model: TINY, messages: promptOf(xs), max_tokens: 1 })).usage!
          .prompt_tokens;
      const base = await measure(400);
      const xs = 400 + (CONTEXT - 1 - base) - 3;
      const promptTokens = await measure(xs);
      const room = CONTEXT - 1 - promptTokens;
      expect(room).toBeGreaterThanOrEqual(1);
      expect(room).toBeLessThanOrEqual(6);
      const messages = promptOf(xs);

      const tooMuch = await rejection(client.chat.completions.create({ model: TINY, messages, max_tokens: room + 1 }));
      expect(tooMuch).toBeInstanceOf(BadRequestError);
      expect(tooMuch.code).toBe('context_length_exceeded');
      expect(tooMuch.message).toContain(`${promptTokens} in the messages, ${room + 1} in the completion`);

      const fits = await client.chat.completions.create({ model: TINY, messages, max_tokens: room });
      expect(fits.usage!.prompt_tokens).toBe(promptTokens);

      // No max_tokens: the answer may use the rest of the context, and stops there rather than dropping the prompt.
      const rest = await client.chat.completions.create({ model: TINY, messages });
      expect(rest.usage!.prompt_tokens).toBe(promptTokens);
      expect(rest.usage!.total_tokens).toBeLessThanOrEqual(CONTEXT - 1);
    }, 180_000);
  });

  describe('request bodies', () => {
    /** A conversation of about `bytes` bytes, in several turns. */
    const conversation = (bytes: number) => {
      const turn = 'word '.repeat(2000);
      const messages: Array<{ role: 'user' | 'assistant'; content: string }> = [];
      for (let i = 0; messages.length * turn.length < bytes; i++) {
        messages.push({ role: i % 2 ? 'assistant' : 'user', content: turn });
      }
      if (messages.at(-1)!.role !== 'user') messages.push({ role: 'user', content: 'and so?' });
      return messages;
    };

    it('a 100 kB conversation is accepted by the control plane and the node (then judged on its tokens)', async () => {
      const err = await rejection(client.chat.completions.create({ model: TINY, messages: conversation(100_000) }));
      expect(err).toBeInstanceOf(BadRequestError);
      expect(err.code).toBe('context_length_exceeded');
    });

    it('past the limit: 413 in OpenAI shape naming the setting, from the control plane or from the node', async () => {
      const atNode = await rejection(client.chat.completions.create({ model: TINY, messages: conversation(180_000) }));
      expect(atNode.status).toBe(413);
      expect(atNode.code).toBe('request_too_large');
      expect(atNode.message).toMatch(/160 KiB \(V1_BODY_LIMIT\)/);
      expectOpenAiShape(atNode);

      const atControlPlane = await rejection(
        client.chat.completions.create({ model: TINY, messages: conversation(300_000) }),
      );
      expect(atControlPlane.status).toBe(413);
      expect(atControlPlane.code).toBe('request_too_large');
      expect(atControlPlane.message).toMatch(/256 KiB \(V1_BODY_LIMIT\)/);
      expectOpenAiShape(atControlPlane);
    });

    it('malformed JSON: 400 in OpenAI shape', async () => {
      const err = await rejection(
        client.post('/chat/completions', {
          body: '{"model": "hf/fleet/tiny-GGUF", "messages": [',
          headers: { 'content-type': 'application/json' },
        }),
      );
      expect(err).toBeInstanceOf(BadRequestError);
      expect(err.code).toBe('invalid_json');
      expect(err.param).toBeNull();
      expectOpenAiShape(err);
    });
  });

  describe('errors', () => {
    it('an unknown route under /v1: 404 in OpenAI shape', async () => {
      const err = await rejection(client.embeddings.create({ model: TINY, input: 'hello' }));
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err.code).toBe('unknown_url');
      expect(err.message).toContain('POST /v1/embeddings');
      expectOpenAiShape(err);
      // Outside /v1, Nest's own answers stay as they were.
      const elsewhere = await fetch(`${app.url}/api/nowhere`, { headers: authHeadersOf(app) });
      expect(elsewhere.status).toBe(404);
      expect(await elsewhere.json()).toMatchObject({ statusCode: 404, message: 'Cannot GET /api/nowhere' });
    });

    it('a server fault: 500 in OpenAI shape, without its details', async () => {
      const db = new pg.Client({ connectionString: app.config.DATABASE_URL });
      await db.connect();
      try {
        await db.query('ALTER TABLE registered_models RENAME TO registered_models_away');
        const err = await rejection(client.models.list());
        expect(err).toBeInstanceOf(InternalServerError);
        expect(err.status).toBe(500);
        expect(err.type).toBe('server_error');
        expect(err.message).not.toMatch(/registered_models|relation|SELECT/i);
        expect(err.message).toContain(err.requestID!);
        expectOpenAiShape(err);
      } finally {
        await db.query('ALTER TABLE registered_models_away RENAME TO registered_models');
        await db.end();
      }
    });
  });

  describe('models', () => {
    it('retrieves a model by id, slashes and all', async () => {
      await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', {
        u: `${hub.url}/fleet/file-GGUF/resolve/main/file-Q4_K_M.gguf`,
      });
      const tiny = await client.models.retrieve(TINY);
      expect(tiny).toMatchObject({ id: TINY, object: 'model', owned_by: 'fleet', ready: true, status: 'READY' });
      const file = await client.models.retrieve(FILE);
      expect(file).toMatchObject({ id: FILE, object: 'model', ready: false, status: 'REGISTERED' });
      // curl users write the slashes as they are.
      const raw = await fetch(`${app.url}/v1/models/${FILE}`, { headers: authHeadersOf(app) });
      expect(((await raw.json()) as { id: string }).id).toBe(FILE);

      const listed = [];
      for await (const model of client.models.list()) listed.push(model.id);
      expect(listed).toEqual(expect.arrayContaining([TINY, FILE, IDLE]));
    });

    it('an unknown model: 404 model_not_found, from retrieve and from chat', async () => {
      const err = await rejection(client.models.retrieve('hf/nobody/nothing-GGUF'));
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err.code).toBe('model_not_found');
      expect(err.param).toBe('model');
      const chat = await rejection(
        client.chat.completions.create({
          model: 'hf/nobody/nothing-GGUF',
          messages: [{ role: 'user', content: 'hi' }],
        }),
      );
      expect(chat).toBeInstanceOf(NotFoundError);
      expect(chat.code).toBe('model_not_found');
    });

    it('registered but on no node: one non-retried 404 that says to download it', async () => {
      const { client: counted, calls } = countingSdk();
      const err = await rejection(
        counted.chat.completions.create({ model: IDLE, messages: [{ role: 'user', content: 'hi' }] }),
      );
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err.code).toBe('model_not_downloaded');
      expect(err.param).toBe('model');
      expect(err.message).toMatch(/not downloaded to any node\. Download it first: the downloadModel mutation/);
      expect(calls()).toBe(1);
    });

    it('still downloading: 503 with Retry-After, which the SDK waits out', async () => {
      hub.delay({ route: 'resolve', repo: 'fleet/slow-GGUF', ms: 60_000 });
      await app.data('mutation($m: ID!) { downloadModel(modelId: $m) { lifecycleStatus } }', { m: SLOW });
      const err = await rejection(
        client.chat.completions.create({ model: SLOW, messages: [{ role: 'user', content: 'hi' }] }),
      );
      expect(err).toBeInstanceOf(InternalServerError);
      expect(err.status).toBe(503);
      expect(err.code).toBe('model_not_ready');
      expect(Number(err.headers!.get('retry-after'))).toBeGreaterThan(0);
      hub.reset();
    });
  });

  describe('request ids', () => {
    it('every answer carries x-request-id, the client’s own when it sent one', async () => {
      const { response } = await client.chat.completions
        .create({ model: TINY, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 })
        .withResponse();
      expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);

      const echoed = await client.chat.completions.create(
        { model: TINY, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 },
        { headers: { 'x-request-id': 'trace-4f1c.2' } },
      );
      expect(echoed._request_id).toBe('trace-4f1c.2');

      const failed = await rejection(
        client.chat.completions.create(
          { model: TINY, messages: [{ role: 'user', content: 'hi' }], n: 3 },
          { headers: { 'x-request-id': 'trace-failed' } },
        ),
      );
      expect(failed.requestID).toBe('trace-failed');
      const unknown = await rejection(client.get('/nowhere'));
      expect(unknown.requestID).toMatch(/^req_/);

      const health = await fetch(`${app.url}/health`);
      expect(health.headers.get('x-request-id')).toMatch(/^req_/);
      // Not an id to echo: a header that would break logs or other headers is replaced.
      const odd = await fetch(`${app.url}/health`, { headers: { 'x-request-id': 'a b' } });
      expect(odd.headers.get('x-request-id')).toMatch(/^req_/);
    }, 180_000);
  });
});

/** The key the harness boots with once the control plane requires one; any string until then. */
function apiKeyOf(app: AppHarness): string {
  const key = (app as unknown as { adminKey?: string }).adminKey;
  return key ?? 'sk-test-no-auth-yet';
}

function authHeadersOf(app: AppHarness): Record<string, string> {
  return { authorization: `Bearer ${apiKeyOf(app)}` };
}
