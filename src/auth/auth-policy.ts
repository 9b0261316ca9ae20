import { SetMetadata } from '@nestjs/common';
import { ApiKeyRole } from './api-key-role.js';

/*
 * Access policies: how every route and GraphQL field says who may call it. The global AuthGuard reads them, and
 * test/e2e/auth-routes.spec.ts fails on any registered route that declares none, so annotate every route you add:
 *
 *   @RequireRole(ApiKeyRole.VIEWER)   an API key (Bearer header or the dashboard's session cookie) of at least that role
 *                                     (e.g. `/metrics`; on a GraphQL root field it overrides the default below)
 *   @InferenceApi()                   `/v1/*`: any key, INFERENCE included (401 in OpenAI's shape, code invalid_api_key)
 *   @NodeProtocol()                   agent ↔ control plane routes that authenticate with the join token or node tokens
 *                                     themselves (the handler must check them; see NodesService.authenticate)
 *   @Public()                         no credentials at all: `/health`, the dashboard's static files, the login call
 *
 * GraphQL root fields default to VIEWER for Query and Subscription and OPERATOR for Mutation; mark stricter ones
 * `@RequireRole(ApiKeyRole.ADMIN)`. A REST route without a policy is refused (and fails the test).
 * Express-level mounts (app.use in src/app.factory.ts, like Bull Board) go through `guardMount` (mount-guard.ts).
 */
export const AUTH_POLICY = 'llmfleet:auth-policy';

export type AuthPolicy = { kind: 'public' } | { kind: 'node-protocol' } | { kind: 'role'; role: ApiKeyRole };

/** No credentials needed. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(AUTH_POLICY, { kind: 'public' });

/** The handler authenticates the caller with the join token or a node token (never an API key). */
export const NodeProtocol = (): MethodDecorator & ClassDecorator => SetMetadata(AUTH_POLICY, { kind: 'node-protocol' });

/** OpenAI-compatible routes: any valid API key, INFERENCE keys included. */
export const InferenceApi = (): MethodDecorator & ClassDecorator =>
  SetMetadata(AUTH_POLICY, { kind: 'role', role: ApiKeyRole.INFERENCE });
