import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { AppHarness, type GqlResponse } from '../support/app-harness.js';
import { addGgufRepo } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { waitUntil } from '../support/fleet.js';

interface Closed {
  code: number;
  reason: string;
}

interface WsHandle {
  client: Client;
  closed: Closed | null;
}

/** A graphql-ws client with a key in connectionParams, or the upgrade's own headers (a browser's cookie, Origin). */
function wsClient(app: AppHarness, opts: { key?: string; cookie?: string; query?: string }): WsHandle {
  const headers: Record<string, string> = opts.cookie ? { cookie: opts.cookie } : {};
  class WithHeaders extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  }
  const handle: WsHandle = { client: null as unknown as Client, closed: null };
  handle.client = createClient({
    url: `${app.url.replace(/^http/, 'ws')}/graphql${opts.query ?? ''}`,
    webSocketImpl: WithHeaders,
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => undefined,
    connectionParams: opts.key ? { authorization: `Bearer ${opts.key}` } : undefined,
    on: {
      closed: (event) => {
        const e = event as { code: number; reason: string };
        handle.closed = { code: e.code, reason: String(e.reason) };
      },
    },
  });
  return handle;
}

/** One operation over a socket: its first result, or its errors. */
function run(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<GqlResponse<unknown>> {
  return new Promise((resolve) => {
    client.subscribe(
      { query, variables },
      {
        // A query or mutation completes by itself after its one result (unsubscribing here would release the socket twice).
        next: (result) => resolve(result as GqlResponse<unknown>),
        error: (err) => resolve({ errors: Array.isArray(err) ? err : [{ message: String(err) }] }),
        complete: () => undefined,
      },
    );
  });
}

/** The status a raw WebSocket upgrade gets ('open' when it was accepted). */
function upgrade(app: AppHarness, headers: Record<string, string>): Promise<number | 'open'> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${app.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve('open');
      ws.close();
    });
    ws.on('error', reject);
  });
}

async function signIn(app: AppHarness, key: string): Promise<string> {
  const res = await fetch(`${app.url}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key }),
  });
  expect(res.status).toBe(200);
  return (res.headers.get('set-cookie') ?? '').split(';')[0]!;
}

/** What a browser page on another site could try, and what a revocation or sign-out does to open sockets. */
describe('browser safety', () => {
  let hub: FakeHub;
  let a: AppHarness;
  let b: AppHarness;
  const handles: WsHandle[] = [];
  const ws = (app: AppHarness, opts: Parameters<typeof wsClient>[1]) => {
    const handle = wsClient(app, opts);
    handles.push(handle);
    return handle;
  };

  beforeAll(async () => {
    hub = await FakeHub.start();
    addGgufRepo(hub, 'acme/one-GGUF', ['one-Q4_K_M.gguf']);
    a = await AppHarness.start({ HF_ENDPOINT: hub.url });
    b = await AppHarness.replicaOf(a);
  });

  afterAll(async () => {
    for (const h of handles) await h.client.dispose();
    await b?.stop();
    await a?.stop();
    await hub?.stop();
  });

  it('refuses a WebSocket upgrade from a foreign Origin with 403; same origin and non-browsers get in', async () => {
    expect(await upgrade(a, { origin: 'https://evil.example' })).toBe(403);
    expect(await upgrade(a, { origin: 'null' })).toBe(403);
    expect(await upgrade(a, { origin: a.url })).toBe('open');
    expect(await upgrade(a, {})).toBe('open');
  });

  it('sends no CORS headers unless CORS_ORIGINS names the origin', async () => {
    const preflight = await fetch(`${a.url}/graphql`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://dash.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,authorization',
      },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const post = await fetch(`${a.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://dash.example', ...a.authHeaders() },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(post.status).toBe(200);
    expect(post.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('keeps Apollo’s CSRF prevention: simple requests refused, the response cache included', async () => {
    const cookie = await signIn(a, await a.createKey('VIEWER', 'browser'));
    const query = '{ models { id status } }';
    // Warm the response cache with the very same query.
    for (let i = 0; i < 2; i++) {
      const warm = await fetch(`${a.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie },
        body: JSON.stringify({ query }),
      });
      expect(warm.status).toBe(200);
    }
    for (const [contentType, body] of [
      ['text/plain', JSON.stringify({ query })],
      ['application/x-www-form-urlencoded', `query=${encodeURIComponent(query)}`],
    ] as const) {
      const res = await fetch(`${a.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': contentType, cookie },
        body,
      });
      expect({ contentType, status: res.status }).toEqual({ contentType, status: 400 });
      const text = await res.text();
      expect(text).toMatch(/Cross-Site Request Forgery/);
      expect(text).not.toContain('"models"');
    }
    // A GET without a preflight-forcing header is refused the same way.
    const get = await fetch(`${a.url}/graphql?query=${encodeURIComponent(query)}`, { headers: { cookie } });
    expect(get.status).toBe(400);
    expect(await get.text()).toMatch(/Cross-Site Request Forgery/);
  });

  it('never runs a mutation sent over GET: 405, and nothing recorded or changed', async () => {
    const mutation = 'mutation { registerHfModel(url: "acme/one-GGUF") { id } }';
    const res = await fetch(`${a.url}/graphql?query=${encodeURIComponent(mutation)}`, {
      headers: { 'apollo-require-preflight': 'true', ...a.authHeaders() },
    });
    expect(res.status).toBe(405);
    expect(JSON.stringify(await res.json())).toMatch(/GET requests only support query operations/);
    const { models } = await a.data<{ models: Array<{ id: string }> }>('{ models { id } }');
    expect(models.map((m) => m.id)).not.toContain('hf/acme/one-GGUF');
    const { auditLog } = await a.data<{ auditLog: Array<{ field: string }> }>('{ auditLog { field } }');
    expect(auditLog.map((e) => e.field)).not.toContain('registerHfModel');
  });

  it('refuses a key in the WebSocket URL, even a valid one, naming why', async () => {
    const key = await a.createKey('VIEWER', 'leaky');
    // By a key parameter's name, or by an lf_ key's shape under any name.
    for (const query of [`?api_key=${encodeURIComponent(a.adminKey)}`, `?x=${key}`]) {
      const handle = ws(a, { key, query });
      await waitUntil('the socket was closed', async () => handle.closed);
      expect(handle.closed).toEqual({ code: 4401, reason: expect.stringMatching(/query string/) });
    }
  });

  it('lets a VIEWER subscribe over graphql-ws but not mutate', async () => {
    const viewer = await a.createKey('VIEWER', 'watcher');
    const handle = ws(a, { key: viewer });
    const events: unknown[] = [];
    handle.client.subscribe(
      { query: 'subscription { modelStatusChanged { modelId } }' },
      { next: (e) => void events.push(e), error: () => undefined, complete: () => undefined },
    );
    // The subscription is live once a query on the same socket came back (operations are handled in order).
    expect(await run(handle.client, '{ me { role } }')).toEqual({ data: { me: { role: 'VIEWER' } } });
    const refused = await run(handle.client, 'mutation { registerHfModel(url: "acme/one-GGUF") { id } }');
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'ROLE_TOO_LOW' });
    await a.data('mutation { registerHfModel(url: "acme/one-GGUF") { id } }');
    await waitUntil('the VIEWER saw the registration', async () => JSON.stringify(events).includes('hf/acme/one-GGUF'));
    expect(handle.closed).toBeNull();
  });

  it('closes a revoked key’s sockets on both replicas', async () => {
    const { createApiKey } = await a.data<{ createApiKey: { key: string; apiKey: { id: string } } }>(
      'mutation { createApiKey(name: "doomed", role: VIEWER) { key apiKey { id } } }',
    );
    const onA = ws(a, { key: createApiKey.key });
    const onB = ws(b, { key: createApiKey.key });
    const bystander = ws(b, { key: a.adminKey });
    for (const h of [onA, onB, bystander]) expect((await run(h.client, '{ me { role } }')).data).toBeTruthy();
    await a.data('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: createApiKey.apiKey.id });
    await waitUntil('both sockets were closed', async () => onA.closed && onB.closed);
    for (const h of [onA, onB]) expect(h.closed).toEqual({ code: 4401, reason: 'API key revoked' });
    expect(bystander.closed).toBeNull();
    expect((await run(bystander.client, '{ me { role } }')).data).toBeTruthy();
  });

  it('closes the sockets opened with a session cookie when it signs out, on both replicas', async () => {
    const key = await a.createKey('VIEWER', 'dashboard');
    const cookie = await signIn(a, key);
    const onA = ws(a, { cookie });
    const onB = ws(b, { cookie });
    const sameKeyByBearer = ws(b, { key });
    for (const h of [onA, onB, sameKeyByBearer]) {
      expect(await run(h.client, '{ me { name } }')).toEqual({ data: { me: { name: 'dashboard' } } });
    }
    const logout = await fetch(`${a.url}/api/session`, { method: 'DELETE', headers: { cookie } });
    expect(logout.status).toBe(204);
    await waitUntil('both cookie sockets were closed', async () => onA.closed && onB.closed);
    for (const h of [onA, onB]) expect(h.closed).toEqual({ code: 4401, reason: 'Signed out' });
    // Signing out ends that session, not the key: its Bearer socket stays.
    expect(sameKeyByBearer.closed).toBeNull();
    // And the cookie no longer opens one.
    const again = ws(b, { cookie });
    await waitUntil('the signed-out cookie was refused', async () => again.closed);
    expect(again.closed).toEqual({ code: 4401, reason: expect.stringMatching(/session/) });
  });

  it('sets the cookie HttpOnly, SameSite=Strict, and not Secure on a spoofed X-Forwarded-Proto (no TRUST_PROXY)', async () => {
    const res = await fetch(`${a.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' },
      body: JSON.stringify({ key: a.adminKey }),
    });
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).not.toMatch(/Secure/);
  });
});

describe('browser safety with CORS_ORIGINS', () => {
  let app: AppHarness;
  const allowed = 'https://dash.example';

  beforeAll(async () => {
    app = await AppHarness.start({ CORS_ORIGINS: allowed });
  });

  afterAll(async () => {
    await app?.stop();
  });

  it('answers CORS for the listed origin only, with credentials, and lets its WebSockets in', async () => {
    const preflight = (origin: string) =>
      fetch(`${app.url}/graphql`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,authorization',
        },
      });
    const ok = await preflight(allowed);
    expect(ok.status).toBeLessThan(300);
    expect(ok.headers.get('access-control-allow-origin')).toBe(allowed);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect((await preflight('https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();

    const post = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: allowed, ...app.authHeaders() },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(post.headers.get('access-control-allow-origin')).toBe(allowed);

    expect(await upgrade(app, { origin: allowed })).toBe('open');
    expect(await upgrade(app, { origin: 'https://evil.example' })).toBe(403);
  });
});
