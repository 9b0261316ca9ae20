import { Global, type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKeysResolver } from './api-keys.resolver.js';
import { ApiKeysService } from './api-keys.service.js';
import { AuthBus } from './auth-bus.js';
import { AuthExceptionFilter } from './auth-exception.filter.js';
import { AuthGuard } from './auth.guard.js';
import { AuthService } from './auth.service.js';
import { ApiKeyEntity } from './entities/api-key.entity.js';
import { ApiSessionEntity } from './entities/api-session.entity.js';
import { GraphqlHttpGate } from './graphql-http.gate.js';
import { SessionController } from './session.controller.js';
import { SessionsService } from './sessions.service.js';
import { WsAuth } from './ws-auth.service.js';

/** API keys, sessions, and the guard every route and GraphQL field goes through (README, "Access control"). */
@Global()
@Module({
  imports: [TypeOrmModule.forFeature([ApiKeyEntity, ApiSessionEntity])],
  providers: [
    AuthBus,
    ApiKeysService,
    SessionsService,
    AuthService,
    WsAuth,
    ApiKeysResolver,
    { provide: APP_GUARD, useClass: AuthGuard },
    { provide: APP_FILTER, useClass: AuthExceptionFilter },
  ],
  controllers: [SessionController],
  exports: [AuthService, ApiKeysService, WsAuth],
})
export class AuthModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(GraphqlHttpGate).forRoutes({ path: 'graphql', method: RequestMethod.ALL });
  }
}
