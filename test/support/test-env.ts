import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { parseAppConfig, type AppConfig } from '../../src/config/app-config.js';
import { dropDatabase } from '../../src/database/ensure-database.js';

const PG = process.env.TEST_DATABASE_SERVER ?? 'postgres://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A database name and Redis prefix of this test's own, so runs never see each other's data. */
export interface TestEnv {
  config: AppConfig;
  cleanup(): Promise<void>;
}

export function testEnv(overrides: Record<string, string> = {}): TestEnv {
  const id = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const config = parseAppConfig({
    DATABASE_URL: `${PG}/llmfleet_test_${id}`,
    REDIS_URL,
    REDIS_PREFIX: `llmfleet-test:${id}`,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    EMBEDDED_AGENT: 'false',
    HF_ENDPOINT: 'http://127.0.0.1:9',
    // Every test runs with auth on: this admin key is what AppHarness sends (harness.adminKey).
    ADMIN_API_KEY: `test-admin-${randomBytes(24).toString('base64url')}`,
    // Agents started with startAgent(app) present it (test/support/fleet.ts).
    NODE_JOIN_TOKEN: `test-join-${randomBytes(24).toString('base64url')}`,
    ...overrides,
  });
  return {
    config,
    async cleanup() {
      await dropDatabase(config.DATABASE_URL);
      await deleteRedisPrefix(config.REDIS_URL, config.REDIS_PREFIX);
    },
  };
}

export async function deleteRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
