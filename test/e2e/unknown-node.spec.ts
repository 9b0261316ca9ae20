import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';

/** Mutations that take one node name the argument `nodeId` when it names no node. */
describe('an unknown node id', () => {
  let app: AppHarness;

  beforeAll(async () => {
    app = await AppHarness.start();
  });

  afterAll(async () => {
    await app?.stop();
  });

  it.each(['verifyModel', 'repairModel'])('%s refuses it with NOT_FOUND naming nodeId', async (mutation) => {
    for (const nodeId of [randomUUID(), 'not-a-uuid']) {
      const res = await app.gql(`mutation($m: ID!, $n: ID!) { ${mutation}(modelId: $m, nodeId: $n) { __typename } }`, {
        m: 'some-model',
        n: nodeId,
      });
      expect(res.data).toBeNull();
      expect(res.errors?.[0]?.message).toBe(`Unknown node id: ${nodeId}`);
      expect(res.errors?.[0]?.extensions).toMatchObject({
        code: 'NOT_FOUND',
        reason: 'NODE_NOT_FOUND',
        field: 'nodeId',
        value: nodeId,
      });
    }
  });
});
