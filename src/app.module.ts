import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { BullModule } from '@nestjs/bullmq';
import { type DynamicModule, Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import type { ExecutionResult, GraphQLSchema } from 'graphql';
import { LoggerModule } from 'nestjs-pino';
import { auditMutations } from './audit/audit-schema.js';
import { AuditModule } from './audit/audit.module.js';
import { AuditService } from './audit/audit.service.js';
import { AuthModule } from './auth/auth.module.js';
import { WsAuth } from './auth/ws-auth.service.js';
import { CatalogModule } from './catalog/catalog.module.js';
import type { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { DownloadsModule } from './downloads/downloads.module.js';
import { stringifyResult } from './common/serialized-results.js';
import { formatGraphqlError } from './errors/format-error.js';
import { EventsModule } from './events/events.module.js';
import { sharedSubscribe } from './events/shared-subscribe.js';
import { compiledQueries } from './graphql/compiled-queries.js';
import { graphqlLimitRules, graphqlParseOptions, parseLimited, validateLimited } from './graphql/limits.js';
import { HealthModule } from './health/health.module.js';
import { HfStatsModule } from './hf-stats/hf-stats.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { NodesModule } from './nodes/nodes.module.js';
import { RegistryModule } from './registry/registry.module.js';
import { RepairModule } from './repair/repair.module.js';
import { ServingModule } from './serving/serving.module.js';
import { REQUEST_ID_HEADER, requestIdOf } from './shared/openai/request-id.js';
import { WebModule } from './web/web.module.js';

// Nest passes these options on to graphql-ws's useServer, whose `subscribe` its typings do not list. The same limits as
// on HTTP: onSubscribe refuses a bad or oversized document (an error for that operation; the socket stays open), then
// graphql-ws parses it again and validates it with the limit rules.
const graphqlWsOptions = {
  path: '/graphql',
  subscribe: sharedSubscribe,
  onSubscribe: (_ctx: unknown, _id: string, payload: { query: string }) => {
    const parsed = parseLimited(payload.query);
    return Array.isArray(parsed) ? parsed : undefined;
  },
  validate: validateLimited,
  // Errors over the socket get the same shape as over HTTP (extensions.code and reason; no internals).
  onNext: (_ctx: unknown, _id: string, _payload: unknown, _args: unknown, result: ExecutionResult) =>
    result.errors?.length
      ? { ...result, errors: result.errors.map((error) => formatGraphqlError(error.toJSON(), error)) }
      : undefined,
};

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.LOG_LEVEL,
            autoLogging: false,
            quietReqLogger: true,
            // The id set by mountV1Http (the client's x-request-id, or a new one), so logs and clients name one id.
            genReqId: (req, res) =>
              String(res.getHeader(REQUEST_ID_HEADER) ?? requestIdOf(req.headers[REQUEST_ID_HEADER])),
          },
        }),
        DatabaseModule,
        EventsModule,
        BullModule.forRoot({
          connection: { url: config.REDIS_URL, maxRetriesPerRequest: null },
          prefix: `${config.REDIS_PREFIX}:bull`,
        }),
        AuthModule,
        AuditModule,
        GraphQLModule.forRootAsync<ApolloDriverConfig>({
          driver: ApolloDriver,
          imports: [AuthModule, AuditModule],
          inject: [WsAuth, AuditService],
          useFactory: (wsAuth: WsAuth, audit: AuditService) => ({
            autoSchemaFile: true,
            sortSchema: true,
            // GraphiQL comes from local files (WebModule): @nestjs/apollo's page loads it from a CDN, blank offline.
            graphiql: false,
            introspection: true,
            subscriptions: { 'graphql-ws': { ...graphqlWsOptions, ...wsAuth.graphqlWsOptions() } },
            // Depth, aliases, directives, cost (graphql-armor) and tokens: src/graphql/limits.ts.
            validationRules: graphqlLimitRules,
            parseOptions: graphqlParseOptions,
            formatError: formatGraphqlError,
            // Every mutation, over HTTP and graphql-ws, goes into the audit log (src/audit/audit-schema.ts).
            transformSchema: (schema: GraphQLSchema) => auditMutations(schema, audit),
            includeStacktraceInErrorResponses: false,
            // Nothing here uses cache hints, and the plugin wraps every field resolver (about a fifth of a list query's CPU).
            // Queries run compiled (graphql-jit; errors fall back to graphql-js): src/graphql/compiled-queries.ts.
            plugins: [ApolloServerPluginCacheControlDisabled(), compiledQueries()],
            // An answer the models query cache serialized goes out as those bytes (serialized once, not twice).
            stringifyResult,
          }),
        }),
        HealthModule,
        CatalogModule,
        HfStatsModule,
        RegistryModule,
        NodesModule,
        DownloadsModule,
        RepairModule,
        ServingModule,
        MetricsModule,
        WebModule,
      ],
    };
  }
}
