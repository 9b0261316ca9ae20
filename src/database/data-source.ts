import type { DataSourceOptions } from 'typeorm';
import { DataSource } from 'typeorm';
import { entities } from './entities.js';
import { migrations } from './migrations/index.js';

/** The one description of the database, used by the app and by the TypeORM CLI (`npm run migration:generate`). */
export function dataSourceOptions(url: string): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities,
    migrations,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    logging: ['error'],
    // A Postgres that does not answer fails a request within seconds instead of holding it (pg waits forever by default).
    extra: { connectionTimeoutMillis: 10_000 },
  };
}

export default new DataSource(
  dataSourceOptions(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/llmfleet'),
);
