import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { AppHarness, type GqlResponse } from '../support/app-harness.js';
import { addGgufRepo } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { waitUntil } from '../support/fleet.js';

const ME = '{ me { keyId name role } }';
const REGISTER = 'mutation($url: String!) { registerHfModel(url: $url) { id status } }';
const CREATE_KEY =
  'mutation($name: String!, $role: ApiKeyRole!, $expiresAt: DateTime) { createApiKey(name: $name, role: $role, expiresAt: $expiresAt) { key apiKey { id name role prefix createdAt lastUsedAt expiresAt revokedAt } } }';

interface CreatedKey {
  key: string;
  apiKey: {
    id: string;
    name: string;
    role: string;
    prefix: string;
    lastUsedAt: string | null;
    revokedAt: string | null;
  };
}

/** API keys, roles and sessions against the real app: HTTP GraphQL, REST, Bull Board and the session endpoints. */
describe('access control: keys, roles, sessions', () => {
  let hub: FakeHub;
  let app: AppHarness;

  const create = async (role: string, name = `${role} key`, expiresAt?: string): Promise<CreatedKey> =>
    (await app.data<{ createApiKey: CreatedKey }>(CREATE_KEY, { name, role, expiresAt })).createApiKey;
  const graphql = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const unknownKey = () => `lf_${randomBytes(32).toString('base64url')}`;

  beforeAll(async () => {
    hub = await FakeHub.start();
    addGgufRepo(hub, 'acme/one-GGUF', ['one-Q4_K_M.gguf']);
    addGgufRepo(hub, 'acme/two-GGUF', ['two-Q4_K_M.gguf']);
    app = await AppHarness.start({ HF_ENDPOINT: hub.url });
  });

  afterAll(async () => {
    await app?.stop();
    await hub?.stop();
  });

  it('answers a request without a usable key with 401 UNAUTHENTICATED, naming why', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'KEY_MISSING'],
      [{ authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` }, 'KEY_MALFORMED'],
      [{ authorization: 'Bearer not-a-key' }, 'KEY_MALFORMED'],
      [{ authorization: `Bearer ${unknownKey()}` }, 'KEY_UNKNOWN'],
    ];
    for (const [headers, reason] of cases) {
      const res = await graphql({ query: ME }, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const body = (await res.json()) as GqlResponse<unknown>;
      expect(body.data).toBeUndefined();
      expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason });
      expect(body.errors?.[0]?.message).toBeTruthy();
    }
  });

  it('gives no introspection, no GraphiQL and no field suggestions without a key; all three with one', async () => {
    const introspection = await graphql({ query: '{ __schema { queryType { name } } }' });
    expect(introspection.status).toBe(401);
    expect(JSON.stringify(await introspection.json())).not.toContain('Query');
    const typo = await graphql({ query: '{ modelz { id } }' });
    expect(typo.status).toBe(401);
    expect(JSON.stringify(await typo.json())).not.toMatch(/Did you mean/);
    const page = await fetch(`${app.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(401);
    expect(await page.text()).not.toMatch(/<html/i);

    const keyed = await app.gql('{ __schema { queryType { name } } }');
    expect(keyed.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    expect(JSON.stringify(await app.gql('{ modelz { id } }'))).toMatch(/Did you mean .*models/);
    const keyedPage = await fetch(`${app.url}/graphql`, { headers: { accept: 'text/html', ...app.authHeaders() } });
    expect(keyedPage.status).toBe(200);
    expect(await keyedPage.text()).toMatch(/<html/i);
  });

  it('says who is calling (me): the bootstrap ADMIN_API_KEY has no key id', async () => {
    expect(await app.data(ME)).toEqual({ me: { keyId: null, name: 'ADMIN_API_KEY', role: 'ADMIN' } });
  });

  it('creates a key shown once (lf_ + 256 bits), stores only its sha256, lists it without the secret', async () => {
    const created = await create('VIEWER', 'grafana');
    expect(created.key).toMatch(/^lf_[A-Za-z0-9_-]{43}$/);
    expect(created.apiKey).toMatchObject({ name: 'grafana', role: 'VIEWER', revokedAt: null, lastUsedAt: null });
    expect(created.key.startsWith(created.apiKey.prefix)).toBe(true);
    expect(created.apiKey.prefix.length).toBeLessThan(12);

    expect(await app.data(ME, {}, { key: created.key })).toEqual({
      me: { keyId: created.apiKey.id, name: 'grafana', role: 'VIEWER' },
    });
    const { apiKeys } = await app.data<{ apiKeys: Array<{ id: string; lastUsedAt: string | null }> }>(
      '{ apiKeys { id name role prefix lastUsedAt } }',
    );
    expect(JSON.stringify(apiKeys)).not.toContain(created.key);
    expect(apiKeys.find((k) => k.id === created.apiKey.id)?.lastUsedAt).toEqual(expect.any(String));

    const db = new pg.Client({ connectionString: app.config.DATABASE_URL });
    await db.connect();
    try {
      const { rows } = await db.query('SELECT * FROM api_keys WHERE id = $1', [created.apiKey.id]);
      expect(rows[0].key_hash).toBe(createHash('sha256').update(created.key).digest('hex'));
      expect(JSON.stringify(rows)).not.toContain(created.key.slice(9));
    } finally {
      await db.end();
    }
  });

  it('lets VIEWER read but not mutate: FORBIDDEN, and nothing changed', async () => {
    const viewer = (await create('VIEWER')).key;
    const refused = await app.gql<{ registerHfModel: unknown }>(REGISTER, { url: 'acme/one-GGUF' }, { key: viewer });
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'ROLE_TOO_LOW' });
    expect(refused.data).toBeNull();
    const { models } = await app.data<{ models: Array<{ id: string }> }>('{ models { id } }', {}, { key: viewer });
    expect(models.map((m) => m.id)).not.toContain('hf/acme/one-GGUF');
  });

  it('lets OPERATOR mutate but not touch keys; no role mints a key above its own', async () => {
    const operator = (await create('OPERATOR')).key;
    const registered = await app.data<{ registerHfModel: { id: string } }>(
      REGISTER,
      { url: 'acme/two-GGUF' },
      { key: operator },
    );
    expect(registered.registerHfModel.id).toBe('hf/acme/two-GGUF');
    const before = (await app.data<{ apiKeys: unknown[] }>('{ apiKeys { id } }')).apiKeys.length;
    for (const query of ['{ apiKeys { id } }']) {
      const res = await app.gql(query, {}, { key: operator });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    }
    const mint = await app.gql(CREATE_KEY, { name: 'escalate', role: 'ADMIN' }, { key: operator });
    expect(mint.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    expect((await app.data<{ apiKeys: unknown[] }>('{ apiKeys { id } }')).apiKeys).toHaveLength(before);
  });

  it('refuses a bad createApiKey with BAD_USER_INPUT naming the field', async () => {
    const past = await app.gql(CREATE_KEY, { name: 'old', role: 'VIEWER', expiresAt: '2020-01-01T00:00:00Z' });
    expect(past.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'expiresAt' });
    const blank = await app.gql(CREATE_KEY, { name: '  ', role: 'VIEWER' });
    expect(blank.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
    const unknown = await app.gql('mutation { revokeApiKey(id: "00000000-0000-4000-8000-000000000000") { id } }');
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('keeps INFERENCE keys to /v1/*: 403 on GraphQL and Bull Board, 200 on /v1/models', async () => {
    const inference = (await create('INFERENCE')).key;
    const gql = await graphql({ query: '{ __typename }' }, app.authHeaders(inference));
    expect(gql.status).toBe(403);
    expect(((await gql.json()) as GqlResponse<unknown>).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN' });
    const board = await fetch(`${app.url}/admin/queues/api/queues`, { headers: app.authHeaders(inference) });
    expect(board.status).toBe(403);
    expect(await board.json()).toMatchObject({ error: { type: 'permission_error', code: 'insufficient_permissions' } });
    const v1 = await fetch(`${app.url}/v1/models`, { headers: app.authHeaders(inference) });
    expect(v1.status).toBe(200);
    expect(await v1.json()).toMatchObject({ object: 'list' });
  });

  it('answers /v1/* without a valid key in OpenAI’s shape: 401 invalid_api_key', async () => {
    for (const headers of [{}, app.authHeaders(unknownKey())]) {
      const list = await fetch(`${app.url}/v1/models`, { headers });
      expect(list.status).toBe(401);
      expect(await list.json()).toMatchObject({
        error: { type: 'invalid_request_error', code: 'invalid_api_key', param: null, message: expect.any(String) },
      });
      const chat = await fetch(`${app.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'hf/acme/two-GGUF', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(chat.status).toBe(401);
      expect(await chat.json()).toMatchObject({ error: { code: 'invalid_api_key' } });
    }
  });

  it('refuses a key in the query string, even a valid one', async () => {
    const key = app.adminKey;
    for (const path of [
      `/v1/models?api_key=${encodeURIComponent(key)}`,
      `/admin/queues/api/queues?token=${encodeURIComponent(key)}`,
    ]) {
      const res = await fetch(`${app.url}${path}`);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { reason: 'KEY_IN_QUERY_STRING' } });
    }
    const viewer = (await create('VIEWER')).key;
    const gql = await fetch(`${app.url}/graphql?query=${encodeURIComponent('{ me { role } }')}&x=${viewer}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(gql.status).toBe(401);
    expect(((await gql.json()) as GqlResponse<unknown>).errors?.[0]?.extensions).toMatchObject({
      reason: 'KEY_IN_QUERY_STRING',
    });
  });

  it('refuses revoked keys at once and expired keys, with UNAUTHENTICATED and the reason', async () => {
    const doomed = await create('VIEWER', 'doomed');
    expect((await app.gql(ME, {}, { key: doomed.key })).data).toBeTruthy();
    const { revokeApiKey } = await app.data<{ revokeApiKey: { revokedAt: string | null } }>(
      'mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }',
      { id: doomed.apiKey.id },
    );
    expect(revokeApiKey.revokedAt).toEqual(expect.any(String));
    const res = await graphql({ query: ME }, app.authHeaders(doomed.key));
    expect(res.status).toBe(401);
    expect(((await res.json()) as GqlResponse<unknown>).errors?.[0]?.extensions).toMatchObject({
      code: 'UNAUTHENTICATED',
      reason: 'KEY_REVOKED',
    });

    const brief = await create('VIEWER', 'brief', new Date(Date.now() + 1500).toISOString());
    await waitUntil('the key expired', async () => {
      const answer = await app.gql(ME, {}, { key: brief.key });
      return answer.errors?.[0]?.extensions?.reason === 'KEY_EXPIRED';
    });
  });

  it('never lets the response cache answer a caller that auth refuses', async () => {
    const query = { query: '{ models { id status } }' };
    for (let i = 0; i < 3; i++) expect((await graphql(query, app.authHeaders())).status).toBe(200);
    const inference = (await create('INFERENCE')).key;
    const revoked = await create('VIEWER');
    await app.data('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: revoked.apiKey.id });
    for (const [headers, status] of [
      [{}, 401],
      [app.authHeaders(unknownKey()), 401],
      [app.authHeaders(revoked.key), 401],
      [app.authHeaders(inference), 403],
    ] as const) {
      const res = await graphql(query, headers);
      expect(res.status).toBe(status);
      expect(((await res.json()) as GqlResponse<unknown>).data).toBeUndefined();
    }
  });

  it('opens Bull Board to VIEWER read-only; only ADMIN may pause a queue', async () => {
    expect((await fetch(`${app.url}/admin/queues`)).status).toBe(401);
    const viewer = (await create('VIEWER')).key;
    const operator = (await create('OPERATOR')).key;
    const queues = async () =>
      (
        (await (await fetch(`${app.url}/admin/queues/api/queues`, { headers: app.authHeaders(viewer) })).json()) as {
          queues: Array<{ name: string; isPaused: boolean }>;
        }
      ).queues;
    expect((await queues()).find((q) => q.name === 'downloads')?.isPaused).toBe(false);
    for (const key of [viewer, operator]) {
      const pause = await fetch(`${app.url}/admin/queues/api/queues/downloads/pause`, {
        method: 'PUT',
        headers: app.authHeaders(key),
      });
      expect(pause.status).toBe(403);
    }
    expect((await queues()).find((q) => q.name === 'downloads')?.isPaused).toBe(false);
    const pause = await fetch(`${app.url}/admin/queues/api/queues/downloads/pause`, {
      method: 'PUT',
      headers: app.authHeaders(),
    });
    expect(pause.status).toBe(200);
    expect((await queues()).find((q) => q.name === 'downloads')?.isPaused).toBe(true);
    await fetch(`${app.url}/admin/queues/api/queues/downloads/resume`, { method: 'PUT', headers: app.authHeaders() });
  });

  it('signs a dashboard in with an HttpOnly SameSite=Strict cookie that works everywhere a key does', async () => {
    const viewer = await create('VIEWER', 'dashboard user');
    const login = await fetch(`${app.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ key: viewer.key }),
    });
    expect(login.status).toBe(200);
    const who = { keyId: viewer.apiKey.id, name: 'dashboard user', role: 'VIEWER' };
    expect(await login.json()).toEqual(who);
    const setCookie = login.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^llmfleet_session=lfs_[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    expect(setCookie).not.toMatch(/Secure/);
    expect(setCookie).not.toContain(viewer.key);
    const cookie = setCookie.split(';')[0]!;

    const session = await fetch(`${app.url}/api/session`, { headers: { cookie } });
    expect(session.status).toBe(200);
    expect(await session.json()).toEqual(who);
    expect(((await (await graphql({ query: ME }, { cookie })).json()) as GqlResponse<unknown>).data).toEqual({
      me: who,
    });
    expect((await fetch(`${app.url}/admin/queues/api/queues`, { headers: { cookie } })).status).toBe(200);

    const logout = await fetch(`${app.url}/api/session`, { method: 'DELETE', headers: { cookie } });
    expect(logout.status).toBe(204);
    expect(logout.headers.get('set-cookie')).toMatch(/^llmfleet_session=;.*Expires=Thu, 01 Jan 1970/);
    const after = await fetch(`${app.url}/api/session`, { headers: { cookie } });
    expect(after.status).toBe(401);
    expect(await after.json()).toMatchObject({ error: { code: 'invalid_api_key', reason: 'SESSION_INVALID' } });
    expect((await graphql({ query: ME }, { cookie })).status).toBe(401);
  });

  it('refuses a sign-in with a bad or INFERENCE key, and ends sessions when their key is revoked', async () => {
    const post = (body: unknown) =>
      fetch(`${app.url}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post({ key: unknownKey() })).status).toBe(401);
    expect((await post({})).status).toBe(401);
    expect((await post({ key: (await create('INFERENCE')).key })).status).toBe(403);
    expect((await fetch(`${app.url}/api/session`)).status).toBe(401);

    const viewer = await create('VIEWER');
    const cookie = ((await post({ key: viewer.key })).headers.get('set-cookie') ?? '').split(';')[0]!;
    expect((await fetch(`${app.url}/api/session`, { headers: { cookie } })).status).toBe(200);
    await app.data('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: viewer.apiKey.id });
    const after = await fetch(`${app.url}/api/session`, { headers: { cookie } });
    expect(after.status).toBe(401);
    expect(await after.json()).toMatchObject({ error: { reason: 'KEY_REVOKED' } });
  });
});

describe('session cookie behind a TLS proxy', () => {
  let app: AppHarness;

  beforeAll(async () => {
    app = await AppHarness.start({ TRUST_PROXY: 'true' });
  });

  afterAll(async () => {
    await app?.stop();
  });

  it('is Secure when the proxy says the request came over https', async () => {
    const login = (proto: string) =>
      fetch(`${app.url}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-proto': proto },
        body: JSON.stringify({ key: app.adminKey }),
      });
    expect((await login('https')).headers.get('set-cookie')).toMatch(/; Secure/);
    expect((await login('http')).headers.get('set-cookie')).not.toMatch(/Secure/);
  });
});
