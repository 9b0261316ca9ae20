import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { dataSourceOptions } from './data-source.js';
import { ensureDatabase } from './ensure-database.js';
import { runMigrations } from './run-migrations.js';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig) => {
        await ensureDatabase(config.DATABASE_URL);
        await runMigrations(config.DATABASE_URL);
        return dataSourceOptions(config.DATABASE_URL);
      },
    }),
  ],
})
export class DatabaseModule {}
