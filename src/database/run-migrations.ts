import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source.js';

/**
 * Applies pending migrations under a Postgres advisory lock, so replicas starting together migrate once, in turn.
 */
export async function runMigrations(url: string): Promise<string[]> {
  const dataSource = new DataSource(dataSourceOptions(url));
  await dataSource.initialize();
  const lock = dataSource.createQueryRunner();
  try {
    await lock.connect();
    await lock.query(`SELECT pg_advisory_lock(hashtext('llmfleet:migrations'))`);
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await lock.query(`SELECT pg_advisory_unlock(hashtext('llmfleet:migrations'))`);
    }
  } finally {
    await lock.release();
    await dataSource.destroy();
  }
}
