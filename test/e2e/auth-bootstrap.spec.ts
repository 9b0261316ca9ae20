import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { MAIN_JS, startProcess } from '../support/processes.js';
import { testEnv } from '../support/test-env.js';

/** `npm start` on an empty database without ADMIN_API_KEY: the one way in is a key written to an owner-only file. */
describe('first start without ADMIN_API_KEY', () => {
  const env = testEnv();
  let dir: string;

  afterAll(async () => {
    await env.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates one admin key, writes it to a 0600 file and logs the path, never the key', async () => {
    dir = await mkdtemp(join(tmpdir(), 'llmfleet-bootstrap-'));
    const file = join(dir, 'state', 'admin-api-key');
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const cpEnv = {
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      PORT: port,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      EMBEDDED_AGENT: 'false',
      HF_ENDPOINT: 'http://127.0.0.1:9',
      ADMIN_KEY_FILE: file,
    };
    const first = startProcess(MAIN_JS, cpEnv);
    let key: string;
    try {
      await first.waitForOutput(/listening on/);
      // The path is logged through pino, whose lines can reach the pipe after the plain "listening on" line.
      await first.waitForOutput(new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      key = (await readFile(file, 'utf8')).trim();
      expect(key).toMatch(/^lf_[A-Za-z0-9_-]{43}$/);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(first.output()).toContain(file);
      expect(first.output()).not.toContain(key);

      const me = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: '{ me { name role } }' }),
      });
      expect(await me.json()).toEqual({ data: { me: { name: 'initial admin', role: 'ADMIN' } } });
    } finally {
      await first.stop();
    }

    // A key exists now: the next start creates none and leaves the file alone.
    const second = startProcess(MAIN_JS, cpEnv);
    try {
      await second.waitForOutput(/listening on/);
      expect(second.output()).not.toContain(file);
      expect((await readFile(file, 'utf8')).trim()).toBe(key);
    } finally {
      await second.stop();
    }
  });
});
