import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from 'graphql-ws';
import { AppHarness, type GqlResponse } from '../support/app-harness.js';
import { aliases, BOMBS, deepQuery } from '../support/graphql-bombs.js';
import { GRAPHQL_LIMITS } from '../../src/graphql/limits.js';

interface WsOutcome {
  data?: unknown;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

/** Runs one operation over graphql-ws and returns its first result or its errors. */
function overWs(client: Client, query: string): Promise<WsOutcome> {
  return new Promise((resolve) => {
    client.subscribe(
      { query },
      {
        // A query completes by itself after its one result (unsubscribing here would release the socket twice).
        next: (result) => resolve(result as WsOutcome),
        error: (errors) => resolve({ errors: errors as WsOutcome['errors'] }),
        complete: () => undefined,
      },
    );
  });
}

/** Depth, aliases, directives, cost and tokens: refused with a clear error before anything runs, on HTTP and WS. */
describe('GraphQL limits', () => {
  let app: AppHarness;

  beforeAll(async () => {
    app = await AppHarness.start();
  });

  afterAll(async () => {
    await app?.stop();
  });

  it('refuses each kind of bomb over HTTP with 400 and the code, naming the limit', async () => {
    for (const [limit, query, code] of BOMBS) {
      const res = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...app.authHeaders() },
        body: JSON.stringify({ query }),
      });
      expect({ limit, status: res.status }).toEqual({ limit, status: 400 });
      const body = (await res.json()) as GqlResponse<unknown>;
      expect(body.data).toBeUndefined();
      const refusal = body.errors?.find((e) => e.extensions?.code === code);
      expect({ limit, message: refusal?.message }).toEqual({
        limit,
        message: expect.stringMatching(limit === 'tokens' ? /more that \d+ tokens/ : new RegExp(`limit of \\d+`, 'i')),
      });
    }
  });

  it('lets queries at the limits through over HTTP', async () => {
    expect((await app.gql(deepQuery(GRAPHQL_LIMITS.depth, 'name'))).errors).toBeUndefined();
    expect((await app.gql(`{ ${aliases(GRAPHQL_LIMITS.aliases)} }`)).errors).toBeUndefined();
  });

  it('refuses the same bombs over graphql-ws, subscriptions included, and keeps the socket usable', async () => {
    const client = app.ws();
    for (const [limit, query, code] of BOMBS) {
      const outcome = await overWs(client, query);
      expect(outcome.data).toBeUndefined();
      expect({ limit, codes: outcome.errors?.map((e) => e.extensions?.code) }).toEqual({
        limit,
        codes: expect.arrayContaining([code]),
      });
    }
    const subscriptionBombs = [
      `subscription { modelStatusChanged { ${aliases(GRAPHQL_LIMITS.aliases + 1)} } }`,
      `subscription { modelStatusChanged { model { id ${'__typename '.repeat(GRAPHQL_LIMITS.tokens)} } } }`,
      `subscription { modelStatusChanged { model { model { a { b { c { d { e } } } } } } } }`,
      // Fragment multiplication: few tokens, a large cost.
      `subscription { modelStatusChanged { model { files { ${'...F '.repeat(300)} } } } } fragment F on ModelFile { ${'path '.repeat(200)} }`,
    ];
    for (const query of subscriptionBombs) {
      const outcome = await overWs(client, query);
      const refusal = outcome.errors?.find((e) => /limit|tokens/.test(e.message));
      expect({ query: query.slice(0, 60), code: refusal?.extensions?.code }).toEqual({
        query: query.slice(0, 60),
        code: expect.stringMatching(/^GRAPHQL_(VALIDATION|PARSE)_FAILED$/),
      });
    }
    expect(await overWs(client, '{ __typename }')).toEqual({ data: { __typename: 'Query' } });
  });
});
