import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_CONFIG } from './config.tokens.js';
import type { AppConfig } from './app-config.js';

/** The typed configuration, parsed once (src/main.ts) before Nest starts, so a bad value stops the process early. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
