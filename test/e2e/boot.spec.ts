import { afterAll, describe, expect, it } from '@jest/globals';
import { dropDatabase } from '../../src/database/ensure-database.js';
import { NODE_NAME_RULE } from '../../src/shared/node-name.js';
import { catalogEntry, writeCatalog } from '../support/factories.js';
import { MAIN_JS, startProcess } from '../support/processes.js';
import { testEnv } from '../support/test-env.js';

/** `npm start` as an operator runs it: the built control plane in its own process. */
describe('control plane process', () => {
  const env = testEnv();
  const baseEnv = {
    DATABASE_URL: env.config.DATABASE_URL,
    REDIS_PREFIX: env.config.REDIS_PREFIX,
    LOG_LEVEL: 'warn',
    EMBEDDED_AGENT: 'false',
    HOST: '127.0.0.1',
    HF_ENDPOINT: 'http://127.0.0.1:9',
    ADMIN_API_KEY: env.config.ADMIN_API_KEY!,
  };

  afterAll(async () => {
    await env.cleanup();
  });

  it('creates its database, migrates it and serves /health', async () => {
    await dropDatabase(env.config.DATABASE_URL);
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const proc = startProcess(MAIN_JS, { ...baseEnv, PORT: port });
    try {
      await proc.waitForOutput(/listening on/);
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      expect(await res.json()).toEqual({ status: 'ok', checks: { database: 'up', redis: 'up' } });
      const models = await fetch(`http://127.0.0.1:${port}/v1/models`, {
        headers: { authorization: `Bearer ${baseEnv.ADMIN_API_KEY}` },
      });
      expect(await models.json()).toEqual({ object: 'list', data: [] });
    } finally {
      await proc.stop();
      // Nest closes the app on SIGTERM and then re-raises the signal.
      expect(proc.child.exitCode === 0 || proc.child.signalCode === 'SIGTERM').toBe(true);
    }
  });

  it('refuses a bad configuration value, naming the variable', async () => {
    const proc = startProcess(MAIN_JS, {
      ...baseEnv,
      PORT: 'eighty',
      REDIS_URL: 'http://nope',
      EMBEDDED_AGENT: 'maybe',
    });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(/PORT="eighty"/);
    expect(proc.output()).toMatch(/REDIS_URL="http:\/\/nope": must be a URL with scheme redis or rediss/);
    expect(proc.output()).toMatch(/EMBEDDED_AGENT="maybe": EMBEDDED_AGENT must be true or false/);
  });

  it('refuses NODE_NAME="my node" at boot with the rule the control plane applies, no stack trace', async () => {
    for (const embedded of ['true', 'false']) {
      const proc = startProcess(MAIN_JS, { ...baseEnv, PORT: '0', EMBEDDED_AGENT: embedded, NODE_NAME: 'my node' });
      expect(await proc.exited).toBe(1);
      const out = proc.output();
      expect(out).toContain(`NODE_NAME="my node": must be ${NODE_NAME_RULE}`);
      expect(out).not.toMatch(/^\s+at /m);
      expect(out).not.toMatch(/listening on/);
    }
  });

  it('refuses to start with an invalid catalog, reporting every violation', async () => {
    const path = await writeCatalog([
      catalogEntry({ id: 'good' }),
      catalogEntry({ id: 'bad id!', size_bytes: 0 }),
      catalogEntry({ id: 'good', capabilities: ['Telepathy'] }),
    ]);
    const proc = startProcess(MAIN_JS, { ...baseEnv, PORT: '0', SUPPORTED_MODELS_PATH: path });
    expect(await proc.exited).toBe(1);
    const out = proc.output();
    expect(out).toMatch(/entry #1 \(id "bad id!"\) field "id"/);
    expect(out).toMatch(/entry #1 \(id "bad id!"\) field "size_bytes": must be greater than 0/);
    expect(out).toMatch(/entry #2 \(id "good"\) field "capabilities.*Telepathy/);
    expect(out).toMatch(/duplicate/i);
    expect(out).not.toMatch(/listening on/);
  });
});
