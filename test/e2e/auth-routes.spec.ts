import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { RequestMethod } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { AUTH_POLICY, type AuthPolicy } from '../../src/auth/auth-policy.js';
import { AuthService } from '../../src/auth/auth.service.js';
import { AppHarness } from '../support/app-harness.js';

/** A layer of Express's router stack, as router 2 keeps it. */
interface Layer {
  name: string;
  rawPath: string | string[];
  route?: { path: string; methods: Record<string, boolean> };
}

interface ControllerRoute {
  method: string;
  path: string;
  policy: AuthPolicy | undefined;
  handler: string;
}

/**
 * Everything in Express's stack that is not a controller route, and why it needs no policy of its own (or which
 * one covers it). A layer added to the app and not listed here fails the test: declare its policy first.
 * [route or mount path, methods ('*': all, '-': a mount), name, why]
 */
const KNOWN_LAYERS: Array<[string, string, string, string]> = [
  ['/', '-', '<anonymous>', 'Nest: the response hook; answers nothing'],
  [
    '/api/nodes/:nodeId/heartbeat',
    '-',
    'heartbeatArrival',
    'HeartbeatArrivals: notes when a heartbeat with its node’s token arrived; answers nothing',
  ],
  [
    '/graphql',
    '-',
    'graphqlAdmission',
    'admission limiter (src/graphql/admission.ts): queues GraphQL operations; answers only 503 SERVER_BUSY',
  ],
  ['/', '-', '<anonymous>', 'x-request-id on every response (src/serving/v1-http.ts); answers nothing'],
  ['/v1', '-', 'v1JsonParser', 'body parser for /v1 (routes below carry @InferenceApi)'],
  ['/admin/queues', '-', 'guard', 'Bull Board: guardMount (VIEWER reads, ADMIN writes)'],
  ['/admin/queues', '-', 'mounted_app', 'Bull Board itself, behind the guard above'],
  ['/', '-', 'jsonParser', 'Nest body parser; answers nothing'],
  ['/', '-', 'urlencodedParser', 'Nest body parser; answers nothing'],
  ['{/*splat}', '*', 'handle', 'nestjs-pino (LoggerModule middleware); answers nothing'],
  ['{/*splat}', '*', 'handle', 'nestjs-pino (LoggerModule middleware); answers nothing'],
  ['/graphql', '*', 'handle', 'GraphqlHttpGate: VIEWER or above, before Apollo (per-field roles: AuthGuard)'],
  [
    '/{*path}',
    'get',
    'handle',
    'WebAssetsMiddleware: the dashboard’s static files (public) and GraphiQL (behind the gate)',
  ],
  ['/graphql', 'post', 'handle', 'ModelsQueryCacheMiddleware: answers VIEWER callers only (it authorizes itself)'],
  ['/graphql', '-', '<anonymous>', 'Apollo (express5 integration): behind GraphqlHttpGate'],
  ['/graphql', '-', '<anonymous>', 'Apollo (express5 integration): behind GraphqlHttpGate'],
  ['/', '-', '<anonymous>', 'Nest: 404 for what no route answered'],
  ['/', '-', '<anonymous>', 'Nest: error handler'],
];

/** A concrete URL for a route pattern (`:id` and `*id` filled in). */
const sample = (path: string) =>
  path.replace(/:[A-Za-z]+/g, '00000000-0000-4000-8000-000000000000').replace(/\*[A-Za-z]+/g, 'acme/some-GGUF');

/**
 * Every route the app registers has an access policy, and a request without credentials to a protected one is
 * refused with 401. Node-protocol routes authenticate with the join token or node tokens themselves; the node
 * protocol's own caller × route matrix tests them.
 */
describe('access policies of every route', () => {
  let app: AppHarness;
  let layers: Layer[];
  let controllerRoutes: ControllerRoute[];

  beforeAll(async () => {
    app = await AppHarness.start();
    const express = app.app.getHttpAdapter().getInstance() as unknown as { router: { stack: Layer[] } };
    layers = express.router.stack;
    controllerRoutes = [];
    for (const module of app.app.get(ModulesContainer).values()) {
      for (const wrapper of module.controllers.values()) {
        const type = wrapper.metatype as (new (...args: never[]) => unknown) | null;
        if (!type) continue;
        const base = String(Reflect.getMetadata(PATH_METADATA, type) ?? '');
        for (const name of Object.getOwnPropertyNames(type.prototype)) {
          const handler = (type.prototype as Record<string, unknown>)[name];
          if (name === 'constructor' || typeof handler !== 'function') continue;
          const sub = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
          if (sub === undefined) continue;
          const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number]!.toLowerCase();
          const path = `/${[base, sub].filter(Boolean).join('/')}`.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
          const policy = (Reflect.getMetadata(AUTH_POLICY, handler) ?? Reflect.getMetadata(AUTH_POLICY, type)) as
            AuthPolicy | undefined;
          controllerRoutes.push({ method, path, policy, handler: `${type.name}.${name}` });
        }
      }
    }
  });

  afterAll(async () => {
    await app?.stop();
  });

  it('finds a policy for every layer Express has: controller routes, mounts, middleware', () => {
    expect(controllerRoutes.length).toBeGreaterThan(10);
    const unexplained: string[] = [];
    const known = [...KNOWN_LAYERS];
    for (const layer of layers) {
      const path = Array.isArray(layer.rawPath) ? layer.rawPath.join(',') : layer.rawPath;
      const methods = layer.route ? Object.keys(layer.route.methods) : ['-'];
      const method = methods.length > 1 ? '*' : methods[0]!;
      const controller = layer.route && controllerRoutes.find((r) => r.path === path && r.method === method);
      if (controller) continue;
      const i = known.findIndex(([p, m, name]) => p === path && m === method && name === layer.name);
      if (i >= 0) known.splice(i, 1);
      else unexplained.push(`${method.toUpperCase()} ${path} (${layer.name})`);
    }
    expect(unexplained).toEqual([]);
    // The listed mounts are guarded the way the table says.
    expect(app.app.get(AuthService).mounts).toEqual([{ path: '/admin/queues', read: 'VIEWER', write: 'ADMIN' }]);
  });

  it('has every controller route declare a policy (@RequireRole, @InferenceApi, @NodeProtocol or @Public)', () => {
    const missing = controllerRoutes.filter((r) => !r.policy).map((r) => `${r.method} ${r.path} (${r.handler})`);
    expect(missing).toEqual([]);
    const publicRoutes = controllerRoutes
      .filter((r) => r.policy?.kind === 'public')
      .map((r) => `${r.method} ${r.path}`);
    // Public on purpose: liveness, and signing in/out (which take the key in the body or end the cookie's session).
    expect(publicRoutes.sort()).toEqual(['delete /api/session', 'get /health', 'post /api/session']);
  });

  it('answers 401 to a request without credentials on every route that needs a key', async () => {
    const outcomes: string[] = [];
    const expectStatus = async (method: string, path: string, expected: number[], headers = {}) => {
      const res = await fetch(`${app.url}${path}`, {
        method: method.toUpperCase(),
        headers: { 'content-type': 'application/json', ...headers },
        body: ['get', 'head'].includes(method) ? undefined : '{}',
      });
      if (!expected.includes(res.status)) outcomes.push(`${method.toUpperCase()} ${path}: ${res.status}`);
    };
    for (const route of controllerRoutes) {
      if (route.policy?.kind !== 'role') continue;
      await expectStatus(route.method, sample(route.path), [401]);
    }
    for (const method of ['get', 'post']) {
      await expectStatus(method, '/graphql', [401]);
      await expectStatus(method, '/admin/queues', [401]);
      await expectStatus(method, '/admin/queues/api/queues', [401]);
    }
    await expectStatus('get', '/graphql', [401], { accept: 'text/html' });
    await expectStatus('put', '/admin/queues/api/queues/downloads/pause', [401]);
    // Public: liveness, the dashboard's shell (503 when it is not built), sign-out, and nothing else answers.
    await expectStatus('get', '/health', [200, 503]);
    await expectStatus('get', '/', [200, 503]);
    await expectStatus('delete', '/api/session', [204]);
    await expectStatus('get', '/no/such/route', [404]);
    await expectStatus('post', '/no/such/route', [404]);
    expect(outcomes).toEqual([]);
  });
});
