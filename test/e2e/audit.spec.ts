import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { AppHarness } from '../support/app-harness.js';
import { addGgufRepo } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';

const MODEL = 'hf/acme/one-GGUF';
const AUDIT_LOG = `query($limit: Int, $before: ID) {
  auditLog(limit: $limit, before: $before) {
    id at keyId keyName role operationName field arguments result errorReason transport remoteAddress
  }
}`;

interface Entry {
  id: string;
  at: string;
  keyId: string | null;
  keyName: string;
  role: string;
  operationName: string | null;
  field: string;
  arguments: string;
  result: string;
  errorReason: string | null;
  transport: string;
  remoteAddress: string | null;
}

/** Every mutation leaves a trace an ADMIN can read: who, what (no secrets), how it ended, when. */
describe('audit log', () => {
  let hub: FakeHub;
  let app: AppHarness;
  const keys: Record<string, { id: string; key: string }> = {};

  const createKey = async (name: string, role: string) => {
    const { createApiKey } = await app.data<{ createApiKey: { key: string; apiKey: { id: string } } }>(
      'mutation CreateKey($name: String!, $role: ApiKeyRole!) { createApiKey(name: $name, role: $role) { key apiKey { id } } }',
      { name, role },
    );
    keys[name] = { id: createApiKey.apiKey.id, key: createApiKey.key };
  };
  const auditLog = async (variables: Record<string, unknown> = {}) =>
    (await app.data<{ auditLog: Entry[] }>(AUDIT_LOG, variables)).auditLog;

  beforeAll(async () => {
    hub = await FakeHub.start();
    addGgufRepo(hub, 'acme/one-GGUF', ['one-Q4_K_M.gguf']);
    app = await AppHarness.start({ HF_ENDPOINT: hub.url });
    await createKey('alice', 'OPERATOR');
    await createKey('bob', 'OPERATOR');
    await createKey('victor', 'VIEWER');
  });

  afterAll(async () => {
    await app?.stop();
    await hub?.stop();
  });

  it('answers "who deleted this model" after mutations by several keys, refusals included', async () => {
    await app.data(
      'mutation Register($url: String!) { registerHfModel(url: $url) { id } }',
      { url: 'acme/one-GGUF' },
      {
        key: keys.alice!.key,
      },
    );
    const refused = await app.gql(
      'mutation($id: ID!) { deleteModel(modelId: $id) { id } }',
      { id: MODEL },
      {
        key: keys.victor!.key,
      },
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const missing = await app.gql(
      'mutation { deleteModel(modelId: "hf/acme/nothing-GGUF") { id } }',
      {},
      {
        key: keys.alice!.key,
      },
    );
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    // Over graphql-ws too: the same schema runs there.
    const ws = app.ws({ key: keys.bob!.key });
    const deleted = await new Promise<unknown>((resolve, reject) => {
      ws.subscribe(
        { query: 'mutation Cleanup($id: ID!) { deleteModel(modelId: $id) { id } }', variables: { id: MODEL } },
        { next: resolve, error: reject, complete: () => undefined },
      );
    });
    expect(deleted).toEqual({ data: { deleteModel: { id: MODEL } } });

    const entries = await auditLog();
    const deletions = entries.filter((e) => e.field === 'deleteModel' && JSON.parse(e.arguments).modelId === MODEL);
    expect(deletions.find((e) => e.result === 'OK')).toMatchObject({
      keyId: keys.bob!.id,
      keyName: 'bob',
      role: 'OPERATOR',
      operationName: 'Cleanup',
      transport: 'ws',
      errorReason: null,
    });
    expect(deletions.find((e) => e.result !== 'OK')).toMatchObject({
      keyId: keys.victor!.id,
      keyName: 'victor',
      role: 'VIEWER',
      result: 'FORBIDDEN',
      errorReason: 'ROLE_TOO_LOW',
      transport: 'http',
    });
    expect(entries.find((e) => e.field === 'registerHfModel')).toMatchObject({
      keyName: 'alice',
      operationName: 'Register',
      arguments: JSON.stringify({ url: 'acme/one-GGUF' }),
      result: 'OK',
      remoteAddress: expect.stringMatching(/127\.0\.0\.1/),
    });
    expect(entries.find((e) => e.field === 'deleteModel' && e.keyName === 'alice')).toMatchObject({
      result: 'NOT_FOUND',
    });
    // The key-creating mutations of beforeAll, by ADMIN_API_KEY (no key id), newest first.
    const creations = entries.filter((e) => e.field === 'createApiKey');
    expect(creations.map((e) => [e.keyId, e.keyName, JSON.parse(e.arguments).name])).toEqual([
      [null, 'ADMIN_API_KEY', 'victor'],
      [null, 'ADMIN_API_KEY', 'bob'],
      [null, 'ADMIN_API_KEY', 'alice'],
    ]);
    const times = entries.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('keeps no secret: not the created key, not a token-named argument, not a key pasted anywhere', async () => {
    const pasted = `lf_${randomBytes(32).toString('base64url')}`;
    const hfToken = `hf_${randomBytes(20).toString('hex')}`;
    const res = await app.gql('mutation($url: String!) { registerHfModel(url: $url) { id } }', {
      url: `acme/x-GGUF ${pasted} ${hfToken}`,
    });
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const entry = (await auditLog({ limit: 1 }))[0]!;
    expect(entry).toMatchObject({ field: 'registerHfModel', result: 'BAD_USER_INPUT' });
    expect(JSON.parse(entry.arguments).url).toBe('acme/x-GGUF [REDACTED] [REDACTED]');

    const db = new pg.Client({ connectionString: app.config.DATABASE_URL });
    await db.connect();
    try {
      const { rows } = await db.query('SELECT * FROM audit_log');
      const dump = JSON.stringify(rows);
      for (const secret of [pasted, hfToken, app.adminKey, ...Object.values(keys).map((k) => k.key)]) {
        expect(dump).not.toContain(secret);
      }
    } finally {
      await db.end();
    }
  });

  it('pages back with `before`, checks its arguments, and is for ADMIN only', async () => {
    const all = await auditLog({ limit: 500 });
    expect(all.length).toBeGreaterThan(4);
    const first = await auditLog({ limit: 2 });
    const next = await auditLog({ limit: 2, before: first[1]!.id });
    expect([...first, ...next].map((e) => e.id)).toEqual(all.slice(0, 4).map((e) => e.id));

    for (const variables of [{ limit: 0 }, { limit: 501 }, { before: 'yesterday' }]) {
      const bad = await app.gql(AUDIT_LOG, variables);
      expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    }
    for (const who of ['victor', 'alice']) {
      const refused = await app.gql(AUDIT_LOG, {}, { key: keys[who]!.key });
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'ROLE_TOO_LOW' });
      expect(refused.data).toBeNull();
    }
  });
});
